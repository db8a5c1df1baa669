"""x-image-meta-* headers -> fields and properties, as v1 read them
(docs/v1-api.md#41-the-x-image-meta-request-headers)."""

import pytest

from proxy.v1.errors import V1Error, plain_body
from proxy.v1.meta import bool_from_string, parse_image_meta, purge_requested


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


def test_purge_is_on_unless_the_header_says_a_true_word_no():
    assert purge_requested([]) is True
    assert purge_requested([("X-Glance-Registry-Purge-Props", "false")]) is False
    assert purge_requested([("x-glance-registry-purge-props", "bogus")]) is False
    assert purge_requested([("x-glance-registry-purge-props", "True")]) is True
    assert [bool_from_string(w) for w in ("t", "on", "Y", " 1 ", "2", None)] == [
        True, True, True, True, False, False]
