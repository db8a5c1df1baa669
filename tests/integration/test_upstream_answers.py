"""The proxy over real sockets in front of a scripted upstream: what reaches the upstream,
and what a v1 caller gets back for each kind of upstream answer or failure."""

from __future__ import annotations

import asyncio
import socket
import time

import orjson
import pytest
from aiohttp import web

from proxy.shell.app import make_app
from tests.support.scripted import TOKEN, V2_IMAGE, proxy_settings, versions_document
from tests.support.seed import SEED_CIRROS_V1

@pytest.fixture
async def proxy(aiohttp_client, upstream):
    app = make_app(proxy_settings(str(upstream.server.make_url("")), upstream_timeout=0.5))
    return await aiohttp_client(app)


async def test_the_seed_request_answers_the_seed_response(proxy):
    response = await proxy.get("/v1.1/images/detail?disk_format=qcow2", headers={"X-Auth-Token": TOKEN})
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Openstack-Request-Id"].startswith("req-")
    assert orjson.loads(await response.read()) == {"images": [SEED_CIRROS_V1]}


async def test_only_the_token_and_safe_headers_reach_the_upstream(proxy, upstream):
    response = await proxy.get("/v1/images/detail", headers={
        "X-Auth-Token": TOKEN, "X-Roles": "admin", "X-Project-Id": "other",
        "X-Tenant-Id": "other", "X-Identity-Status": "Confirmed", "X-User-Id": "u",
        "X-Service-Catalog": "[]", "Authorization": "Basic eDp5", "Cookie": "a=b",
        "X-Forwarded-For": "10.0.0.1"})
    assert response.status == 200
    sent = upstream.seen[-1].headers
    assert sent["X-Auth-Token"] == TOKEN
    assert sent["X-Openstack-Request-Id"] == response.headers["X-Openstack-Request-Id"]
    assert sent["Accept"] == "application/json"
    allowed = {"host", "x-auth-token", "x-openstack-request-id", "accept", "user-agent",
               "accept-encoding"}
    assert {name.lower() for name in sent} <= allowed


async def test_a_well_formed_caller_request_id_is_kept(proxy, upstream):
    request_id = "req-5b6c2f4e-3a9d-4c1e-8f2a-0123456789ab"
    response = await proxy.get("/v1/images/detail", headers={"X-Openstack-Request-Id": request_id})
    assert response.headers["X-Openstack-Request-Id"] == request_id
    forged = await proxy.get("/v1/images/detail", headers={"X-Openstack-Request-Id": "x" * 500})
    assert forged.headers["X-Openstack-Request-Id"] != "x" * 500


async def test_the_v2_query_is_what_the_plan_says(proxy, upstream):
    await proxy.get("/v1/images/detail?name=a:b&changes-since=2016-05-22T08:04:20%2B02:00&limit=5")
    # with changes-since every changed image is asked for (full pages, no marker): deleted
    # images are merged in and may sort anywhere (proxy.shell.deletions)
    assert list(upstream.seen[-1].query.items()) == [
        ("member_status", "all"), ("sort_key", "created_at"), ("sort_dir", "desc"),
        ("name", "eq:a:b"), ("updated_at", "gt:2016-05-22T06:04:20Z"), ("limit", "1000")]
    await proxy.get("/v1/images/detail?name=a:b&limit=5")
    assert list(upstream.seen[-1].query.items()) == [
        ("member_status", "all"), ("sort_key", "created_at"), ("sort_dir", "desc"),
        ("name", "eq:a:b"), ("limit", "5")]


async def test_short_upstream_pages_are_followed_until_the_v1_page_is_full(proxy, upstream):
    async def three_per_page(request):
        start = int(request.query.get("marker", "0"))
        ids = [str(n) for n in range(start + 1, min(start + 3, 8) + 1)]
        body = {"images": [dict(V2_IMAGE, id=i) for i in ids]}
        if ids and ids[-1] != "8":
            body["next"] = f"/v2/images?marker={ids[-1]}"
        return web.json_response(body)

    upstream.images_handler = three_per_page
    response = await proxy.get("/v1/images/detail?limit=7")
    assert [i["id"] for i in orjson.loads(await response.read())["images"]] == list("1234567")
    assert [(r.query["limit"], r.query.get("marker")) for r in upstream.seen] == [
        ("7", None), ("4", "3"), ("1", "6")]


def plain(status, text):
    return status, "text/plain; charset=UTF-8", text


@pytest.mark.parametrize(
    "answer, expected",
    [
        (web.Response(status=401, text="401 Unauthorized\n\nno"),
         plain(401, "401 Unauthorized\n\nThis server could not verify that you are authorized to "
               "access the document you requested. Either you supplied the wrong credentials "
               "(e.g., bad password), or your browser does not understand how to supply the "
               "credentials required.\n\n   ")),
        (web.json_response(status=403, data={
            "message": "You are not authorized to complete get_images action.<br /><br />\n\n\n",
            "code": "403 Forbidden", "title": "Forbidden"}),
         plain(403, "403 Forbidden\n\nAccess was denied to this resource.\n\n You are not "
               "authorized to complete get_images action.  ")),
        (web.json_response(status=400, data={"error": {"code": "IMG.0024",
                                                       "message": "The imagetype is invalid."}}),
         plain(400, "400 Bad Request\n\nThe server could not comply with the request since it is "
               "either malformed or otherwise incorrect.\n\n The imagetype is invalid.  ")),
        (web.Response(status=404, text="404 Not Found\n\nThe resource could not be found.\n\n"),
         plain(404, "404 Not Found\n\nThe resource could not be found.\n\n   ")),
        (web.Response(status=500, text="Traceback (most recent call last): secret"),
         plain(500, "500 Internal Server Error\n\nThe server has either erred or is incapable of "
               "performing the requested operation.\n\n   ")),
        (web.Response(status=502, text="bad gateway"),
         plain(503, "503 Service Unavailable\n\nThe server is currently unavailable. Please "
               "try again at a later time.\n\n   ")),
        (web.Response(status=200, text="<html>not json</html>"),
         plain(500, "500 Internal Server Error\n\nThe server has either erred or is incapable of "
               "performing the requested operation.\n\n   ")),
        (web.json_response({"imagez": []}),
         plain(500, "500 Internal Server Error\n\nThe server has either erred or is incapable of "
               "performing the requested operation.\n\n   ")),
        (web.json_response({"images": [{"id": "a"}, "not an image"]}),
         plain(500, "500 Internal Server Error\n\nThe server has either erred or is incapable of "
               "performing the requested operation.\n\n   ")),
    ],
)
async def test_upstream_answers_become_v1_errors(proxy, upstream, answer, expected):
    async def scripted(request):
        return answer

    upstream.images_handler = scripted
    response = await proxy.get("/v1/images/detail", headers={"Accept": "text/plain"})
    assert (response.status, response.headers["Content-Type"], await response.text()) == expected
    assert response.headers["X-Openstack-Request-Id"].startswith("req-")


async def test_error_bodies_follow_accept(proxy, upstream):
    html = await proxy.get("/v1/images/detail?limit=x", headers={"Accept": "*/*"})
    assert html.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert (await html.text()).startswith("<html>\n <head>\n  <title>400 Bad Request</title>")
    as_json = await proxy.get("/v1/images/detail?limit=x", headers={"Accept": "application/json"})
    assert orjson.loads(await as_json.read())["code"] == "400 Bad Request"


async def test_an_upstream_that_does_not_answer_in_time_is_503(proxy, upstream):
    async def stall(request):
        await asyncio.sleep(5)
        return web.json_response({"images": []})

    upstream.images_handler = stall
    started = time.monotonic()
    response = await proxy.get("/v1/images/detail", headers={"Accept": "text/plain"})
    assert response.status == 503
    assert time.monotonic() - started < 0.5 + 1.0
    assert (await response.text()).startswith("503 Service Unavailable\n\nThe server is currently "
                                               "unavailable. Please try again at a later time.")


async def test_an_upstream_that_refuses_connections_is_503(aiohttp_client):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = await aiohttp_client(make_app(proxy_settings(f"http://127.0.0.1:{port}")))
    response = await client.get("/v1/images/detail", headers={"X-Auth-Token": TOKEN})
    assert response.status == 503
    body = await response.text()
    assert str(port) not in body and TOKEN not in body


@pytest.mark.parametrize("method, allow", [("POST", "GET, HEAD"), ("DELETE", "GET, HEAD"),
                                           ("HEAD", "GET")])
async def test_detail_answers_405_to_other_methods_as_v1(proxy, method, allow):
    response = await proxy.request(method, "/v1/images/detail", headers={"Accept": "text/plain"})
    assert (response.status, response.headers["Allow"]) == (405, allow)
    if method == "POST":
        assert await response.text() == (
            "405 Method Not Allowed\n\nThe method POST is not allowed for this resource. \n\n ")
    if method == "HEAD":
        assert await response.read() == b""


async def test_paths_the_proxy_does_not_serve_are_never_forwarded(proxy, upstream):
    for path, status in (("/v2/images", 300), ("/v1/images/detail/", 404),
                         ("/v1/../v2/images", 300), ("/v1/foo", 404)):
        response = await proxy.get(path)
        assert response.status == status, path
        assert response.headers["X-Openstack-Request-Id"].startswith("req-")
    assert upstream.seen == []


@pytest.mark.parametrize("token", ["abc\u00ff", "euro\u20ac", "tab\there"])
async def test_a_token_no_token_service_issues_is_401_without_asking_anyone(proxy, upstream, token):
    response = await proxy.get("/v1/images/detail", headers={
        "X-Auth-Token": token, "Accept": "text/plain"})
    assert response.status == 401
    assert upstream.seen == []


async def eventually(condition):
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def readyz(client):
    response = await client.get("/readyz")
    return response.status, await response.json()


async def eventually_ready_with(client, api):
    for _ in range(200):
        if await readyz(client) == (200, {"status": "ready", "upstream_api": api}):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never ready with {api}: {await readyz(client)}")


async def test_the_upstream_version_is_read_at_start_and_refreshed_when_the_upstream_changes(
        aiohttp_client, upstream):
    upstream.document = versions_document("v2.5", "v2.4", "v2.0")
    app = make_app(proxy_settings(str(upstream.server.make_url("")),
                                  upstream_version_refresh_interval=0.05))
    client = await aiohttp_client(app)
    await eventually_ready_with(client, "v2.5")
    upstream.document = versions_document("v2.17", "v2.9", "v2.0")
    await eventually_ready_with(client, "v2.17")


async def test_an_upstream_down_at_start_is_read_once_it_answers(aiohttp_client, upstream):
    upstream.document = {"versions": []}  # no v2 yet: as good as not answering
    app = make_app(proxy_settings(str(upstream.server.make_url("")),
                                  upstream_version_refresh_interval=0.05))
    client = await aiohttp_client(app)
    await asyncio.sleep(0.1)
    assert await readyz(client) == (503, {"status": "upstream not answering"})
    upstream.document = versions_document("v2.7", "v2.0")
    await eventually_ready_with(client, "v2.7")


async def test_admin_lists_are_narrowed_with_one_cached_keystone_lookup_per_token(
        aiohttp_client, aiohttp_server, upstream):
    lookups = []

    async def tokens(request):
        lookups.append(request)
        roles = ["admin"] if request.headers["X-Subject-Token"] == "admin-token" else ["member"]
        return web.json_response({"token": {"project": {"id": "adm"},
                                            "roles": [{"name": r} for r in roles]}})

    keystone_app = web.Application()
    keystone_app.router.add_get("/v3/auth/tokens", tokens)
    keystone = await aiohttp_server(keystone_app)

    async def mixed_page(request):
        return web.json_response({"images": [
            dict(V2_IMAGE, id="pub"), dict(V2_IMAGE, id="theirs", visibility="private", owner="x"),
            dict(V2_IMAGE, id="mine", visibility="private", owner="adm")]})

    upstream.images_handler = mixed_page
    app = make_app(proxy_settings(str(upstream.server.make_url("")),
                                  identity_keystone_url=str(keystone.make_url(""))))
    client = await aiohttp_client(app)
    for _ in range(2):
        response = await client.get("/v1/images/detail", headers={"X-Auth-Token": "admin-token"})
        assert [i["id"] for i in orjson.loads(await response.read())["images"]] == ["pub", "mine"]
    assert len(lookups) == 1
    assert lookups[0].headers["X-Auth-Token"] == "admin-token"
    assert "nocatalog" in lookups[0].query
    member = await client.get("/v1/images/detail", headers={"X-Auth-Token": "member-token"})
    assert len(orjson.loads(await member.read())["images"]) == 3  # the upstream's own scope


async def test_a_token_keystone_refuses_is_401_and_keystone_down_defers_to_the_upstream(
        aiohttp_client, aiohttp_server, upstream):
    async def tokens(request):
        return web.json_response({"error": {"code": 404}}, status=404)

    keystone_app = web.Application()
    keystone_app.router.add_get("/v3/auth/tokens", tokens)
    keystone = await aiohttp_server(keystone_app)
    client = await aiohttp_client(make_app(proxy_settings(
        str(upstream.server.make_url("")), identity_keystone_url=str(keystone.make_url("")))))
    refused = await client.get("/v1/images/detail", headers={"X-Auth-Token": "expired"})
    assert refused.status == 401 and upstream.seen == []

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = await aiohttp_client(make_app(proxy_settings(
        str(upstream.server.make_url("")), identity_keystone_url=f"http://127.0.0.1:{port}")))
    answered = await client.get("/v1/images/detail", headers={"X-Auth-Token": "t"})
    assert answered.status == 200 and len(upstream.seen) == 1


async def test_concurrent_first_requests_of_one_token_make_one_keystone_lookup(
        aiohttp_client, aiohttp_server, upstream):
    lookups = []

    async def tokens(request):
        lookups.append(request)
        await asyncio.sleep(0.1)
        return web.json_response({"token": {"project": {"id": "p"}, "roles": [{"name": "member"}]}})

    keystone_app = web.Application()
    keystone_app.router.add_get("/v3/auth/tokens", tokens)
    keystone = await aiohttp_server(keystone_app)
    client = await aiohttp_client(make_app(proxy_settings(
        str(upstream.server.make_url("")), identity_keystone_url=str(keystone.make_url("")))))
    answers = await asyncio.gather(*(client.get("/v1/images/detail", headers={"X-Auth-Token": "t"})
                                     for _ in range(20)))
    assert {answer.status for answer in answers} == {200}
    assert len(lookups) == 1
