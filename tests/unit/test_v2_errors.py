"""Upstream v2 error bodies -> their message and the v1 error (proxy.v2.errors).

The bodies are what Glance v2 and Huawei IMS send (docs/v2-upstream.md#41-error-bodies,
docs/v2-upstream.md#73-other-ims-differences). The
WebOb ones were rendered by WebOb 1.8.11, Glance's renderer, and are copied byte for byte:
JSON for ``Accept: application/json`` (what the proxy sends), plain text when there is no
Accept, HTML for ``*/*``.
"""

import pytest

from proxy.v1.errors import V1Error, render
from tests.support.webob_bodies import proxy_answers, webob_answers
from proxy.v2.errors import (upstream_message, v1_error_for_delete, v1_error_for_image,
                             v1_error_for_member_add, v1_error_for_member_removal,
                             v1_error_for_members, v1_error_from_upstream)

IMAGE_ID = "3c3d1d01-b48a-4639-8a88-08be3b9b5d78"

# HTTPBadRequest(explanation="Invalid visibility value: foo"), rendered three ways
VISIBILITY_JSON = (b'{"message": "Invalid visibility value: foo<br /><br />\\n\\n\\n", '
                   b'"code": "400 Bad Request", "title": "Bad Request"}')
VISIBILITY_PLAIN = b"400 Bad Request\n\nInvalid visibility value: foo\n\n   "
VISIBILITY_HTML = (b"<html>\n <head>\n  <title>400 Bad Request</title>\n </head>\n <body>\n"
                   b"  <h1>400 Bad Request</h1>\n  Invalid visibility value: foo<br /><br />\n"
                   b"\n\n\n </body>\n</html>")

# HTTPNotFound(), nothing given: only WebOb's default explanation
BARE_404_JSON = (b'{"message": "The resource could not be found.<br /><br />\\n\\n\\n", '
                 b'"code": "404 Not Found", "title": "Not Found"}')
BARE_404_PLAIN = b"404 Not Found\n\nThe resource could not be found.\n\n   "
BARE_404_HTML = (b"<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n"
                 b"  <h1>404 Not Found</h1>\n  The resource could not be found.<br /><br />\n"
                 b"\n\n\n </body>\n</html>")

# HTTPForbidden("Attribute 'location' is reserved."): passed positionally, so a detail
# after the default explanation (docs/v2-upstream.md#41-error-bodies)
RESERVED_JSON = (b'{"message": "Access was denied to this resource.<br /><br />\\nAttribute '
                 b'\'location\' is reserved.\\n\\n", "code": "403 Forbidden", '
                 b'"title": "Forbidden"}')
RESERVED_PLAIN = (b"403 Forbidden\n\nAccess was denied to this resource.\n\n Attribute "
                  b"'location' is reserved.  ")
RESERVED_HTML = (b"<html>\n <head>\n  <title>403 Forbidden</title>\n </head>\n <body>\n"
                 b"  <h1>403 Forbidden</h1>\n  Access was denied to this resource.<br /><br />"
                 b"\nAttribute &#x27;location&#x27; is reserved.\n\n\n </body>\n</html>")
RESERVED = "Access was denied to this resource. Attribute 'location' is reserved."

# HTTPRequestEntityTooLarge(explanation=...), plain text: a status title of several words
MEMBERS_PLAIN = (b"413 Request Entity Too Large\n\nMaximum amount of image members per image "
                 b"exceeded: 128\n\n   ")

# A jsonschema error (exception.InvalidObject): a message of several lines
SCHEMA_JSON = (b'{"message": "Provided object does not match schema \'image\': True is not of '
               b'type \'string\'\\n\\nFailed validating \'type\' in schema[\'properties\'][\'name\']:'
               b'\\n    {\'type\': \'string\'}<br /><br />\\n\\n\\n", "code": "400 Bad Request", '
               b'"title": "Bad Request"}')
SCHEMA_PLAIN = (b"400 Bad Request\n\nProvided object does not match schema 'image': True is not "
                b"of type 'string'  Failed validating 'type' in schema['properties']['name']:     "
                b"{'type': 'string'}\n\n   ")
SCHEMA = ("Provided object does not match schema 'image': True is not of type 'string' Failed "
          "validating 'type' in schema['properties']['name']: {'type': 'string'}")

# HTTPForbidden(explanation="Image 1 is protected & <b>locked</b>"): markup in a message
TAGGED_JSON = (b'{"message": "Image 1 is protected & <b>locked</b><br /><br />\\n\\n\\n", '
               b'"code": "403 Forbidden", "title": "Forbidden"}')
TAGGED_PLAIN = b"403 Forbidden\n\nImage 1 is protected & locked\n\n   "

# Huawei IMS's own error body (docs/v2-upstream.md#73-other-ims-differences)
IMS_JSON = b'{"error": {"message": "The imagetype is invalid.", "code": "IMG.0024"}}'

# Default bodies of the statuses v1 relayed, as Glance sends them when given no message
BARE_JSON = {
    400: b'{"message": "The server could not comply with the request since it is either '
         b'malformed or otherwise incorrect.<br /><br />\\n\\n\\n", "code": "400 Bad Request", '
         b'"title": "Bad Request"}',
    403: b'{"message": "Access was denied to this resource.<br /><br />\\n\\n\\n", '
         b'"code": "403 Forbidden", "title": "Forbidden"}',
    404: BARE_404_JSON,
    409: b'{"message": "There was a conflict when trying to complete your request.<br /><br />'
         b'\\n\\n\\n", "code": "409 Conflict", "title": "Conflict"}',
    413: b'{"message": "The body of your request was too large for this server.<br /><br />'
         b'\\n\\n\\n", "code": "413 Request Entity Too Large", '
         b'"title": "Request Entity Too Large"}',
}
BARE_401_JSON = (b'{"message": "This server could not verify that you are authorized to access '
                 b'the document you requested. Either you supplied the wrong credentials (e.g., '
                 b'bad password), or your browser does not understand how to supply the '
                 b'credentials required.<br /><br />\\n\\n\\n", "code": "401 Unauthorized", '
                 b'"title": "Unauthorized"}')
BARE_500_JSON = (b'{"message": "The server has either erred or is incapable of performing the '
                 b'requested operation.<br /><br />\\n\\n\\n", "code": "500 Internal Server '
                 b'Error", "title": "Internal Server Error"}')
MEDIA_415_JSON = (b'{"message": "The request media type application/json is not supported by '
                  b'this server.\\n<br /><br />\\n", "code": "415 Unsupported Media Type", '
                  b'"title": "Unsupported Media Type"}')
NGINX_502_HTML = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center>"
                  b"<h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>"
                  b"\r\n</html>\r\n")


def json_message(text: str) -> bytes:
    """A WebOb JSON body whose explanation is ``text`` (its JSON escaping kept simple)."""
    return (b'{"message": "' + text.encode() + b'<br /><br />\\n\\n\\n", '
            b'"code": "400 Bad Request", "title": "Bad Request"}')


# upstream_message: the WebOb renderings


def test_webob_json_message_loses_its_br_tail():
    assert upstream_message(VISIBILITY_JSON) == "Invalid visibility value: foo"


def test_webob_plain_text_loses_its_status_line_and_title():
    assert upstream_message(VISIBILITY_PLAIN) == "Invalid visibility value: foo"


def test_webob_plain_text_loses_a_status_title_of_several_words():
    assert upstream_message(MEMBERS_PLAIN) == (
        "Maximum amount of image members per image exceeded: 128")


def test_webob_html_loses_its_title_heading_and_tags():
    assert upstream_message(VISIBILITY_HTML) == "Invalid visibility value: foo"


@pytest.mark.parametrize("body", [BARE_404_JSON, BARE_404_PLAIN, BARE_404_HTML],
                         ids=["json", "plain", "html"])
def test_bare_webob_error_gives_the_default_explanation_in_every_rendering(body):
    assert upstream_message(body) == "The resource could not be found."


@pytest.mark.parametrize("body", [RESERVED_JSON, RESERVED_PLAIN], ids=["json", "plain"])
def test_webob_detail_comes_after_the_default_explanation_on_one_line(body):
    assert upstream_message(body) == RESERVED


def test_webob_html_character_references_are_decoded():
    assert upstream_message(RESERVED_HTML) == RESERVED


# upstream_message: Huawei IMS


def test_ims_error_gives_the_message_inside_error():
    assert upstream_message(IMS_JSON) == "The imagetype is invalid."


def test_ims_error_without_a_message_gives_an_empty_message():
    assert upstream_message(b'{"error": {"code": "IMG.0001"}}') == ""


# upstream_message: anything else


@pytest.mark.parametrize(
    "body, message",
    [
        (b"down for maintenance", "down for maintenance"),
        (b"<html>bad gateway at 10.1.2.3</html>", "bad gateway at 10.1.2.3"),
        (NGINX_502_HTML, "nginx"),
    ],
    ids=["text", "html", "nginx-page"],
)
def test_body_neither_json_nor_webob_gives_its_text_without_tags(body, message):
    assert upstream_message(body) == message


def test_empty_body_gives_an_empty_message():
    assert upstream_message(b"") == ""


def test_non_utf8_bytes_become_replacement_characters():
    assert upstream_message(b"Image caf\xe9 \xff\xfe not found") == (
        "Image caf\ufffd \ufffd\ufffd not found")


@pytest.mark.parametrize("body", [b'["not", "an", "error"]', b'"Not Found"', b"404", b"null"],
                         ids=["list", "string", "number", "null"])
def test_json_that_is_not_an_object_gives_an_empty_message(body):
    assert upstream_message(body) == ""


@pytest.mark.parametrize(
    "body",
    [
        b'{"message": 42}',
        b'{"message": null}',
        b'{"message": ["Invalid visibility value: foo"]}',
        b'{"message": {"text": "Invalid visibility value: foo"}}',
        b'{"error": {"message": 42, "code": "IMG.0001"}}',
        b'{"error": "IMG.0001"}',
        b'{"error": ["The imagetype is invalid."]}',
    ],
    ids=["number", "null", "list", "object", "ims-number", "ims-error-string", "ims-error-list"],
)
def test_message_that_is_not_a_string_gives_an_empty_message(body):
    assert upstream_message(body) == ""


def test_json_object_without_a_message_gives_an_empty_message():
    assert upstream_message(b'{"code": "404 Not Found", "title": "Not Found"}') == ""


@pytest.mark.parametrize("body", [TAGGED_JSON, TAGGED_PLAIN], ids=["json", "plain"])
def test_tags_inside_the_message_are_removed(body):
    assert upstream_message(body) == "Image 1 is protected & locked"


@pytest.mark.parametrize("body", [SCHEMA_JSON, SCHEMA_PLAIN], ids=["json", "plain"])
def test_message_of_several_lines_comes_on_one_line(body):
    assert upstream_message(body) == SCHEMA


def test_carriage_returns_tabs_and_runs_of_spaces_become_one_space():
    body = b'{"message": "  line one\\r\\n\\tline   two  <br /><br />\\n\\n\\n"}'
    assert upstream_message(body) == "line one line two"


def test_very_long_message_is_cut_to_300_characters():
    assert upstream_message(json_message("x" * 5000)) == "x" * 300


@pytest.mark.parametrize("length", [299, 300, 301])
def test_cap_counts_the_message_not_the_webob_padding(length):
    message = ("Invalid visibility value: " + "v" * length)[:length]
    assert upstream_message(json_message(message)) == message[:300]


def test_cap_applies_once_tags_and_newlines_are_gone():
    words = ("<b>word</b>\\n" * 100).encode()  # 1,300 characters of JSON text
    body = b'{"message": "' + words + b'"}'
    assert upstream_message(body) == ("word " * 60)[:300]


# v1_error_from_upstream


def test_upstream_401_is_v1s_bare_401_whatever_its_message():
    assert v1_error_from_upstream(401, BARE_401_JSON) == V1Error(401)
    assert v1_error_from_upstream(401, IMS_JSON) == V1Error(401)


@pytest.mark.parametrize(
    "status, body, detail",
    [
        (400, VISIBILITY_JSON, "Invalid visibility value: foo"),
        (400, IMS_JSON, "The imagetype is invalid."),
        (403, TAGGED_JSON, "Image 1 is protected & locked"),
        (404, b'{"message": "No image found with ID abc<br /><br />\\n\\n\\n", "code": "404 Not '
              b'Found", "title": "Not Found"}', "No image found with ID abc"),
        (409, b'{"message": "Image status transition from active to deleted is not allowed<br />'
              b'<br />\\n\\n\\n", "code": "409 Conflict", "title": "Conflict"}',
         "Image status transition from active to deleted is not allowed"),
        (413, MEMBERS_PLAIN, "Maximum amount of image members per image exceeded: 128"),
    ],
    ids=["400", "400-ims", "403", "404", "409", "413-plain"],
)
def test_statuses_v1_knew_are_relayed_with_the_upstream_message_as_detail(status, body, detail):
    assert v1_error_from_upstream(status, body) == V1Error(status, detail=detail)


@pytest.mark.parametrize("status", sorted(BARE_JSON))
def test_bare_upstream_error_gets_no_detail_so_v1_prints_its_explanation_once(status):
    assert v1_error_from_upstream(status, BARE_JSON[status]) == V1Error(status)


def test_default_explanation_of_another_status_is_kept_as_detail():
    assert v1_error_from_upstream(409, BARE_404_JSON) == V1Error(
        409, detail="The resource could not be found.")


def test_relayed_status_with_no_message_gets_no_detail():
    assert v1_error_from_upstream(400, b"") == V1Error(400)


@pytest.mark.parametrize(
    "status, body",
    [
        (500, BARE_500_JSON),
        (500, b'{"message": "Traceback (most recent call last): File \\"/opt/glance/api.py\\""}'),
        (405, b'{"message": "The method GET is not allowed for this resource. <br /><br />\\n", '
              b'"code": "405 Method Not Allowed", "title": "Method Not Allowed"}'),
        (415, MEDIA_415_JSON),
        (422, IMS_JSON),
        (429, b"Too Many Requests"),
        (300, b""),
    ],
    ids=["500", "500-traceback", "405", "415", "422-ims", "429-text", "300-empty"],
)
def test_server_errors_and_statuses_v1_never_relayed_become_a_bare_500(status, body):
    assert v1_error_from_upstream(status, body) == V1Error(500)


@pytest.mark.parametrize("status, body", [(502, b"<html>bad gateway at 10.1.2.3</html>"),
                                          (503, b"down for maintenance"), (504, b"timeout")])
def test_an_upstream_or_gateway_that_cannot_answer_now_is_a_bare_503(status, body):
    assert v1_error_from_upstream(status, body) == V1Error(503)


# v1_error_for_image (its 404 and 204 are tested in test_v2_plan.py)


@pytest.mark.parametrize(
    "status, body, expected",
    [
        (403, b'{"message": "Image 3c3d is protected<br /><br />\\n\\n\\n", '
              b'"code": "403 Forbidden", "title": "Forbidden"}',
         V1Error(403, detail="Image 3c3d is protected")),
        (409, BARE_JSON[409], V1Error(409)),
        (400, IMS_JSON, V1Error(400, detail="The imagetype is invalid.")),
        (413, MEMBERS_PLAIN,
         V1Error(413, detail="Maximum amount of image members per image exceeded: 128")),
    ],
    ids=["403", "409-bare", "400-ims", "413-plain"],
)
def test_image_error_other_than_404_or_204_is_relayed_like_any_upstream_error(
        status, body, expected):
    assert v1_error_for_image(IMAGE_ID, status, body) == expected


def test_image_401_is_v1s_bare_401():
    assert v1_error_for_image(IMAGE_ID, 401, BARE_401_JSON) == V1Error(401)


@pytest.mark.parametrize("status, body", [(500, BARE_500_JSON), (415, MEDIA_415_JSON)],
                         ids=["500", "415"])
def test_image_server_or_unexpected_error_is_a_bare_500(status, body):
    assert v1_error_for_image(IMAGE_ID, status, body) == V1Error(500)


def test_image_upstream_unavailable_is_a_bare_503():
    assert v1_error_for_image(IMAGE_ID, 503, b"down for maintenance") == V1Error(503)



# The rules of single calls: delete (docs/v1-api.md#44-delete) and members
# (docs/v1-api.md#5-members).

PROTECTED_JSON = (b'{"message": "Access was denied to this resource.<br /><br />\\nImage 7c1 is '
                  b'protected and cannot be deleted.\\n\\n", "code": "403 Forbidden", '
                  b'"title": "Forbidden"}')


def test_deleting_a_protected_image_is_v1s_image_is_protected():
    # glance/api/v1/images.py delete (16.0.1): HTTPForbidden(explanation="Image is protected")
    error = v1_error_for_delete("7c1", 403, PROTECTED_JSON)
    assert error == V1Error(403, explanation="Image is protected")
    # what v1 (WebOb 1.7.4) answered, for no Accept, */* and application/json
    assert proxy_answers(error) == [
        ("text/plain; charset=UTF-8", b"403 Forbidden\n\nImage is protected\n\n   "),
        ("text/html; charset=UTF-8",
         b"<html>\n <head>\n  <title>403 Forbidden</title>\n </head>\n <body>\n"
         b"  <h1>403 Forbidden</h1>\n  Image is protected<br /><br />\n\n\n\n </body>\n</html>"),
        ("application/json",
         b'{"message": "Image is protected<br /><br />\\n\\n\\n", "code": "403 Forbidden", '
         b'"title": "Forbidden"}'),
    ]
    assert proxy_answers(error) == webob_answers(403, explanation="Image is protected")


def test_other_refused_deletes_are_the_image_rules():
    assert v1_error_for_delete("7c1", 404, b"") == V1Error(
        404, detail="Image with identifier 7c1 not found")
    assert v1_error_for_delete("7c1", 403, b'{"message": "You are not permitted"}') == V1Error(
        403, detail="You are not permitted")


def test_a_member_call_v2_forbids_is_v1s_404_holding_the_403():
    error = v1_error_for_members("7c1", 403, b"")
    assert (error.status, render(error, None)[1]) == (
        404, b"404 Not Found\n\n403 Forbidden  Access was denied to this resource.   "
             b"No permission to share that image  \n\n   ")
    assert v1_error_for_members("7c1", 404, b"") == V1Error(
        404, detail="Image with identifier 7c1 not found")


def registry_text(status: int, **raised) -> str:
    """glance-registry's plain-text answer (its client sent no Accept), which the v1 API
    raised again as the explanation of its own error (docs/v1-api.md#62)."""
    return webob_answers(status, **raised)[0][1].decode()


def test_member_errors_nest_the_registry_answer_in_every_form():
    # registry members.py: HTTPForbidden("No permission to share that image") and
    # HTTPNotFound(explanation="Membership could not be found."); the API (members.py):
    # HTTPNotFound(explanation=e.msg)
    assert proxy_answers(v1_error_for_members("7c1", 403, b"")) == webob_answers(
        404, explanation=registry_text(403, detail="No permission to share that image"))
    assert proxy_answers(v1_error_for_member_removal("7c1", 404, b"")) == webob_answers(
        404, explanation=registry_text(404, explanation="Membership could not be found."))


def test_adding_a_member_that_is_one_already_is_no_error():
    assert v1_error_for_member_add("7c1", 409, b"") is None
    assert v1_error_for_member_add("7c1", 403, b"").status == 404


@pytest.mark.parametrize("status", [403, 404])
def test_removing_a_member_that_is_not_one_is_v1s_nested_not_found(status):
    error = v1_error_for_member_removal("7c1", status, b"")
    assert (error.status, render(error, None)[1]) == (
        404, b"404 Not Found\n\n404 Not Found  Membership could not be found.     \n\n   ")


def test_removing_a_member_meets_other_statuses_as_the_image_rules():
    assert v1_error_for_member_removal("7c1", 500, b"") == V1Error(500)
