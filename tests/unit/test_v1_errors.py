"""Error bodies byte for byte as Glance v1 (WebOb 1.7) sent them: docs/v1-api.md#6-errors."""

import orjson
import pytest

from proxy.v1.errors import V1Error, best_match, method_not_allowed, nested, render
from tests.support.webob_bodies import SIZE_OF_ACTIVE_IMAGE, proxy_answers, webob_answers

SIZE_MIN = V1Error(400, detail="Bad value passed to filter size_min got -1")


def test_detail_error_without_accept_is_plain_text_with_default_explanation():
    assert render(SIZE_MIN, None) == (
        "text/plain; charset=UTF-8",
        b"400 Bad Request\n\nThe server could not comply with the request since it is either "
        b"malformed or otherwise incorrect.\n\n Bad value passed to filter size_min got -1  ",
    )


def test_detail_error_for_any_accept_is_html():
    assert render(SIZE_MIN, "*/*") == (
        "text/html; charset=UTF-8",
        b"<html>\n <head>\n  <title>400 Bad Request</title>\n </head>\n <body>\n"
        b"  <h1>400 Bad Request</h1>\n  The server could not comply with the request since it "
        b"is either malformed or otherwise incorrect.<br /><br />\nBad value passed to filter "
        b"size_min got -1\n\n\n </body>\n</html>",
    )


def test_detail_error_for_json_accept_is_json_with_message_code_title():
    content_type, body = render(SIZE_MIN, "application/json")
    assert content_type == "application/json"
    assert orjson.loads(body) == {
        "message": "The server could not comply with the request since it is either malformed "
        "or otherwise incorrect.<br /><br />\nBad value passed to filter size_min got -1\n\n",
        "code": "400 Bad Request",
        "title": "Bad Request",
    }


def test_explanation_error_replaces_the_default_text():
    error = V1Error(400, explanation="Invalid disk format 'bogus' for image.")
    assert render(error, "") == (
        "text/plain; charset=UTF-8",
        b"400 Bad Request\n\nInvalid disk format 'bogus' for image.\n\n   ",
    )


def test_html_escapes_quotes_as_webob_did():
    error = V1Error(403, detail="Forbidden to modify 'size' of active image.")
    assert b"Forbidden to modify &#x27;size&#x27; of active image." in render(error, "*/*")[1]


# The bytes below are WebOb 1.7.4's (v1's) own answers to the exception Glance v1 raised,
# rendered for no Accept, ``*/*`` and ``application/json`` (issue 13, item 6).

def test_an_explanation_error_is_the_message_alone_in_every_form():
    # glance/api/v1/images.py update: HTTPForbidden(explanation=msg)
    error = V1Error(403, explanation="Forbidden to modify 'size' of active image.")
    assert proxy_answers(error) == SIZE_OF_ACTIVE_IMAGE


def test_json_bodies_are_webobs_json_dumps_byte_for_byte():
    # json.dumps: ", " and ": " between items, in the order message, code, title
    assert render(SIZE_MIN, "application/json")[1] == (
        b'{"message": "The server could not comply with the request since it is either '
        b'malformed or otherwise incorrect.<br /><br />\\nBad value passed to filter size_min '
        b'got -1\\n\\n", "code": "400 Bad Request", "title": "Bad Request"}')


def test_markup_and_non_ascii_are_escaped_as_webob_escaped_them():
    # HTML: html_escape (quotes too, non-ASCII as &#N;); JSON: \uXXXX; plain text: UTF-8,
    # tags dropped
    error = V1Error(400, explanation="Invalid disk format 'caf\u00e9 <b>&\"' for image.")
    assert proxy_answers(error) == [
        ("text/plain; charset=UTF-8",
         b"400 Bad Request\n\nInvalid disk format 'caf\xc3\xa9 &\"' for image.\n\n   "),
        ("text/html; charset=UTF-8",
         b"<html>\n <head>\n  <title>400 Bad Request</title>\n </head>\n <body>\n"
         b"  <h1>400 Bad Request</h1>\n  Invalid disk format &#x27;caf&#233; &lt;b&gt;&amp;&quot;"
         b"&#x27; for image.<br /><br />\n\n\n\n </body>\n</html>"),
        ("application/json",
         b'{"message": "Invalid disk format \'caf\\u00e9 <b>&\\"\' for image.<br /><br />'
         b'\\n\\n\\n", "code": "400 Bad Request", "title": "Bad Request"}'),
    ]
    assert proxy_answers(error) == webob_answers(400, explanation=error.explanation)


def test_a_nested_registry_error_in_every_form():
    # the API's HTTPBadRequest(explanation=<the registry's plain-text body>)
    assert proxy_answers(nested(400, "Invalid marker. Image could not be found.")) == [
        ("text/plain; charset=UTF-8",
         b"400 Bad Request\n\n400 Bad Request  Invalid marker. Image could not be found."
         b"     \n\n   "),
        ("text/html; charset=UTF-8",
         b"<html>\n <head>\n  <title>400 Bad Request</title>\n </head>\n <body>\n"
         b"  <h1>400 Bad Request</h1>\n  400 Bad Request\n\nInvalid marker. Image could not be "
         b"found.\n\n   <br /><br />\n\n\n\n </body>\n</html>"),
        ("application/json",
         b'{"message": "400 Bad Request\\n\\nInvalid marker. Image could not be found.\\n\\n'
         b'   <br /><br />\\n\\n\\n", "code": "400 Bad Request", "title": "Bad Request"}'),
    ]


@pytest.mark.parametrize("error, raised", [
    (SIZE_MIN, {"status": 400, "detail": SIZE_MIN.detail}),
    (V1Error(404, detail="Image with identifier abc not found"),
     {"status": 404, "detail": "Image with identifier abc not found"}),
    (V1Error(409, detail="Cannot upload to an unqueued image"),
     {"status": 409, "detail": "Cannot upload to an unqueued image"}),
    (V1Error(400, explanation="Malformed JSON in request body."),
     {"status": 400, "explanation": "Malformed JSON in request body."}),
    (V1Error(403), {"status": 403}),
    (V1Error(404), {"status": 404}),
    (V1Error(500), {"status": 500}),
    (nested(400, "limit param must be an integer", detail=True),
     {"status": 400, "explanation": "400 Bad Request\n\nThe server could not comply with the "
      "request since it is either malformed or otherwise incorrect.\n\n limit param must be "
      "an integer  "}),
    (nested(404, "Membership could not be found."),
     {"status": 404, "explanation": "404 Not Found\n\nMembership could not be found.\n\n   "}),
], ids=["detail-400", "detail-404", "detail-409", "explanation-400", "bare-403", "bare-404",
        "bare-500", "nested-detail", "nested-explanation"])
def test_every_flavour_renders_as_webob_renders_the_exception_v1_raised(error, raised):
    assert proxy_answers(error) == webob_answers(**raised)


def test_nested_registry_error_doubles_the_status_line():
    assert render(nested(400, "Invalid marker. Image could not be found."), None)[1] == (
        b"400 Bad Request\n\n400 Bad Request  Invalid marker. Image could not be found.     \n\n   "
    )


def test_nested_registry_error_keeps_the_registry_text_raw_in_html_and_json():
    error = nested(400, "Invalid marker. Image could not be found.")
    assert orjson.loads(render(error, "application/json")[1])["message"] == (
        "400 Bad Request\n\nInvalid marker. Image could not be found.\n\n   <br /><br />\n\n\n")
    assert render(error, "*/*")[1] == (
        b"<html>\n <head>\n  <title>400 Bad Request</title>\n </head>\n <body>\n"
        b"  <h1>400 Bad Request</h1>\n  400 Bad Request\n\nInvalid marker. Image could not be "
        b"found.\n\n   <br /><br />\n\n\n\n </body>\n</html>")


def test_nested_registry_detail_error_keeps_the_inner_explanation():
    assert render(nested(400, "limit param must be an integer", detail=True), None)[1] == (
        b"400 Bad Request\n\n400 Bad Request  The server could not comply with the request since "
        b"it is either malformed or otherwise incorrect.   limit param must be an integer  "
        b"\n\n   "
    )


def test_method_not_allowed_has_webobs_own_template_and_allow_header():
    error = method_not_allowed("PATCH", "GET, HEAD")
    assert render(error, None)[1] == (
        b"405 Method Not Allowed\n\nThe method PATCH is not allowed for this resource. \n\n "
    )
    assert error.headers == (("Allow", "GET, HEAD"),)


def test_not_found_detail_error():
    error = V1Error(404, detail="Image with identifier abc not found")
    assert render(error, None)[1] == (
        b"404 Not Found\n\nThe resource could not be found.\n\n Image with identifier abc not found  "
    )


@pytest.mark.parametrize(
    "accept, expected",
    [
        ("", None),
        ("text/plain", None),
        ("*/*", "text/html"),
        ("text/html", "text/html"),
        ("application/json", "application/json"),
        ("application/json, text/html", "text/html"),  # a tie goes to the first offer
        ("application/json;q=0.9, text/html;q=0.8", "application/json"),
        ("application/json, */*;q=0.1", "application/json"),
        ("text/*", "text/html"),
        ("application/json;q=0", None),
    ],
)
def test_accept_negotiation_follows_webob(accept, expected):
    assert best_match(accept, ("text/html", "application/json")) == expected


def test_the_default_explanations_are_webobs_own():
    # WebOb folds its class texts' runs of spaces (the 401's "requested.  Either" among them)
    for status in (400, 401, 403, 404, 409, 413, 500, 503):
        assert proxy_answers(V1Error(status)) == webob_answers(status), status
