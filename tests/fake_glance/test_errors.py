"""Error bodies as WebOb renders them for Glance: the request's Accept picks plain text,
HTML or JSON; an explanation replaces WebOb's default, a detail follows it
(docs/v2-upstream.md#41-error-bodies)."""

import pytest

from tests.fake_glance.calls import A


async def test_error_bodies_follow_accept(client):
    url = "/v2/images?visibility=foo"
    resp = await client.get(url, headers={**A, "Accept": "application/json"})
    assert await resp.json() == {"message": "Invalid visibility value: foo<br /><br />\n\n\n",
                                 "code": "400 Bad Request", "title": "Bad Request"}
    resp = await client.get(url, headers={**A, "Accept": "text/plain"})
    assert resp.headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert await resp.text() == "400 Bad Request\n\nInvalid visibility value: foo\n\n   "
    resp = await client.get(url, headers={**A, "Accept": "*/*"})
    assert resp.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert await resp.text() == (
        "<html>\n <head>\n  <title>400 Bad Request</title>\n </head>\n <body>\n"
        "  <h1>400 Bad Request</h1>\n  Invalid visibility value: foo<br /><br />\n\n\n\n"
        " </body>\n</html>")


async def test_create_reserved_and_foreign_owner_messages_follow_the_default_text(client):
    body = await (await client.post("/v2/images", json={"owner": "projB"}, headers=A)).json()
    assert body["message"] == ("Access was denied to this resource.<br /><br />\n"
                               "You are not permitted to create images owned by 'projB'\n\n")
    resp = await client.post("/v2/images", json={"location": "x"}, headers={**A, "Accept": ""})
    assert await resp.text() == ("403 Forbidden\n\nAccess was denied to this resource.\n\n"
                                 " Attribute 'location' is reserved.  ")


@pytest.mark.parametrize("accept, content_type", [
    ("text/*, application/json", "text/html; charset=UTF-8"),  # a tie goes to the first offer
    ("application/json; charset=utf-8", "text/plain; charset=UTF-8"),  # parameters must match
    ("text/html;level=1", "text/plain; charset=UTF-8"),
    ("application/json;q=1.5", "text/html; charset=UTF-8"),  # invalid: as if */*
    ("*", "text/html; charset=UTF-8"),
])
async def test_accept_is_matched_as_webob_1_8_matches_it(client, accept, content_type):
    # Real Glance 33 answered each of these so (WebOb 1.8, not 1.7's best_match).
    resp = await client.get("/v2/images?visibility=foo", headers={**A, "Accept": accept})
    assert (resp.status, resp.headers["Content-Type"]) == (400, content_type)


async def test_an_error_to_head_has_no_body_and_says_so(client):
    resp = await client.head("/v2/images", headers=A)
    assert (resp.status, resp.headers["Content-Length"]) == (405, "0")
    assert resp.headers["Content-Type"] == "text/html; charset=UTF-8"
