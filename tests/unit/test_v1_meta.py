"""x-image-meta-* headers -> fields and properties, as v1 read them
(docs/v1-api.md#41-the-x-image-meta-request-headers)."""

import pytest

from proxy.v1.errors import V1Error, plain_body
from proxy.v1.meta import bool_from_string, parse_image_meta, purge_requested
from tests.support.webob_bodies import proxy_answers, webob_answers


def test_names_are_case_and_dash_blind_properties_lowercased_values_percent_decoded():
    meta = parse_image_meta([
        ("X-Image-Meta-Disk-Format", "raw"), ("x-image-meta-container_format", "bare"),
        ("X-Image-Meta-Property-My-Prop", "a%20b%2Bc"), ("x-image-meta-name", "caf%C3%A9"),
        ("x-image-meta-property-empty", ""), ("Content-Type", "application/octet-stream"),
        ("x-image-meta-property-%E2%9C%93", "ok")])
    assert meta.fields == {"disk_format": "raw", "container_format": "bare", "name": "café"}
    assert meta.properties == {"my_prop": "a b+c", "empty": None, "✓": "ok"}


def test_integers_booleans_and_nulls_convert_as_v1_did():
    meta = parse_image_meta([("x-image-meta-size", "11"), ("x-image-meta-min_ram", "512"),
                             ("x-image-meta-virtual_size", "None"),
                             ("x-image-meta-is_public", "None"),
                             ("x-image-meta-protected", "YES"), ("x-image-meta-owner", "")])
    assert meta.fields == {"size": 11, "min_ram": 512, "virtual_size": None,
                           "is_public": False, "protected": True, "owner": None}


def test_amazon_formats_copy_each_other():
    assert parse_image_meta([("x-image-meta-disk_format", "aki")]).fields == {
        "disk_format": "aki", "container_format": "aki"}


@pytest.mark.parametrize("headers, text", [
    ([("x-image-meta-foo", "1")],
     "400 Bad Request\n\nThe server could not comply with the request since it is either "
     "malformed or otherwise incorrect.\n\n Bad header: x-image-meta-foo  "),
    ([("x-image-meta-size", "abc")], "400 Bad Request\n\nInvalid value 'abc' for parameter "
     "'size': Cannot convert image size 'abc' to an integer.\n\n   "),
    ([("x-image-meta-min_disk", "-1")], "400 Bad Request\n\nInvalid value '-1' for parameter "
     "'min_disk': Cannot be a negative value.\n\n   "),
    ([("x-image-meta-container_format", "box")],
     "400 Bad Request\n\nInvalid container format 'box' for image.\n\n   "),
    ([("x-image-meta-disk_format", "aki"), ("x-image-meta-container_format", "bare")],
     "400 Bad Request\n\nInvalid mix of disk and container formats. When setting a disk or "
     "container format to one of 'aki', 'ari', or 'ami', the container and disk formats "
     "must match.\n\n   "),
    ([("x-image-meta-name", "n" * 256)], "400 Bad Request\n\nImage name too long: 256\n\n   "),
    ([("x-image-meta-checksum", "c" * 33)], "400 Bad Request\n\nInvalid checksum '"
     + "c" * 33 + "': can't exceed 32 characters\n\n   "),
    ([("x-image-meta-created_at", "yesterday")],
     "400 Bad Request\n\nInvalid time format for created_at.\n\n   "),
])
def test_refusals_in_v1s_words(headers, text):
    with pytest.raises(V1Error) as refused:
        parse_image_meta(headers)
    assert plain_body(refused.value) == text


# glance/common/utils.py get_image_meta_from_headers (16.0.1): Bad header positional (the
# detail); the integers' InvalidParameterValue and validate_image_meta's refusals as
# HTTPBadRequest(explanation=...) (glance/api/v1/images.py)
@pytest.mark.parametrize("headers, raised", [
    ([("x-image-meta-foo", "1")], {"detail": "Bad header: x-image-meta-foo"}),
    ([("x-image-meta-min_ram", "-1")], {"explanation": "Invalid value '-1' for parameter "
                                        "'min_ram': Cannot be a negative value."}),
    ([("x-image-meta-disk_format", "bogus")],
     {"explanation": "Invalid disk format 'bogus' for image."}),
    ([("x-image-meta-checksum", "c" * 33)],
     {"explanation": f"Invalid checksum '{'c' * 33}': can't exceed 32 characters"}),
])
def test_refusals_render_as_v1_rendered_them_in_every_form(headers, raised):
    with pytest.raises(V1Error) as refused:
        parse_image_meta(headers)
    assert proxy_answers(refused.value) == webob_answers(400, **raised)


def test_a_bogus_disk_format_is_v1s_body_in_every_form():
    # issue 13, item 6: the bytes v1 (WebOb 1.7.4) answered
    with pytest.raises(V1Error) as refused:
        parse_image_meta([("x-image-meta-disk_format", "bogus")])
    assert proxy_answers(refused.value) == [
        ("text/plain; charset=UTF-8",
         b"400 Bad Request\n\nInvalid disk format 'bogus' for image.\n\n   "),
        ("text/html; charset=UTF-8",
         b"<html>\n <head>\n  <title>400 Bad Request</title>\n </head>\n <body>\n"
         b"  <h1>400 Bad Request</h1>\n  Invalid disk format &#x27;bogus&#x27; for image."
         b"<br /><br />\n\n\n\n </body>\n</html>"),
        ("application/json",
         b'{"message": "Invalid disk format \'bogus\' for image.<br /><br />\\n\\n\\n", '
         b'"code": "400 Bad Request", "title": "Bad Request"}'),
    ]


def test_a_negative_value_is_named_as_the_number_v1_converted():
    # v1 formatted the int it had converted: '-007' is '-7'
    with pytest.raises(V1Error) as refused:
        parse_image_meta([("x-image-meta-size", "-007")])
    assert refused.value == V1Error(400, explanation=(
        "Invalid value '-7' for parameter 'size': Cannot be a negative value."))


def test_the_checks_run_in_v1s_order_times_before_name_and_checksum():
    with pytest.raises(V1Error) as refused:
        parse_image_meta([("x-image-meta-checksum", "c" * 33), ("x-image-meta-name", "n" * 256),
                          ("x-image-meta-updated_at", "never")])
    assert refused.value == V1Error(400, explanation="Invalid time format for updated_at.")
    with pytest.raises(V1Error) as refused:
        parse_image_meta([("x-image-meta-checksum", "c" * 33), ("x-image-meta-name", "n" * 256)])
    assert refused.value == V1Error(400, explanation="Image name too long: 256")


def test_purge_is_on_unless_the_header_says_a_true_word_no():
    assert purge_requested([]) is True
    assert purge_requested([("X-Glance-Registry-Purge-Props", "false")]) is False
    assert purge_requested([("x-glance-registry-purge-props", "bogus")]) is False
    assert purge_requested([("x-glance-registry-purge-props", "True")]) is True
    assert [bool_from_string(w) for w in ("t", "on", "Y", " 1 ", "2", None)] == [
        True, True, True, True, False, False]


def test_header_bytes_that_are_not_utf8_are_read_as_latin1():
    # aiohttp keeps such bytes as lone surrogates; glance-replicator (Python 3's http.client)
    # sends "café" as b"caf\xe9"
    meta = parse_image_meta([("x-image-meta-name", b"caf\xe9".decode("utf-8", "surrogateescape")),
                             ("x-image-meta-property-note", "d\u00e9j\u00e0 vu")])
    assert (meta.fields["name"], meta.properties["note"]) == ("caf\u00e9", "d\u00e9j\u00e0 vu")


@pytest.mark.parametrize("header, message", [
    ("disk_format", "Invalid disk format 'None' for image."),
    ("container_format", "Invalid container format 'None' for image.")])
def test_an_empty_format_header_is_refused_as_v1_refused_it(header, message):
    with pytest.raises(V1Error) as refused:
        parse_image_meta([(f"x-image-meta-{header}", "")])
    assert (refused.value.status, refused.value.explanation) == (400, message)
