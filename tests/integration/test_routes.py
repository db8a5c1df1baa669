"""v1's routing and version discovery
(docs/v1-api.md#1-routing-prefixes-and-version-discovery), over real sockets."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from proxy.shell.app import make_app
from tests.support.scripted import proxy_settings

V1_ENTRIES = [
    {"id": "v1.1", "status": "DEPRECATED", "links": [{"rel": "self", "href": "{base}/v1/"}]},
    {"id": "v1.0", "status": "DEPRECATED", "links": [{"rel": "self", "href": "{base}/v1/"}]},
]


def document(base):
    return {"versions": orjson.loads(orjson.dumps(V1_ENTRIES).replace(b"{base}", base.encode()))}


async def make_client(aiohttp_client, upstream, **env):
    return await aiohttp_client(make_app(proxy_settings(str(upstream.server.make_url("")), **env)))


@pytest.fixture
async def client(aiohttp_client, upstream):
    return await make_client(aiohttp_client, upstream)


def base_of(client):
    return f"http://{client.host}:{client.port}"


@pytest.mark.parametrize("path", ["/", "/images", "/v2/images", "/v1.2/images/detail", "/v3"])
async def test_paths_that_name_no_v1_version_answer_300_with_the_version_list(client, path):
    response = await client.get(path)
    assert response.status == 300
    assert response.headers["Content-Type"] == "application/json"
    assert orjson.loads(await response.read()) == document(base_of(client))


@pytest.mark.parametrize("method, path", [("GET", "/versions"), ("POST", "/versions"),
                                          ("GET", "/versions/")])
async def test_versions_answers_200_to_any_method_and_suffix(client, method, path):
    response = await client.request(method, path)
    assert response.status == 200
    assert orjson.loads(await response.read()) == document(base_of(client))


V1_MEDIA = "application/vnd.openstack.images-"


@pytest.mark.parametrize("version", ["v1", "v1.1", "v1.0"])
async def test_an_accept_header_naming_v1_serves_an_unprefixed_path_as_v1(client, version):
    # v1's media-type versioning (docs/v1-api.md#12-prefix-handling): GET /images is the
    # v1 summary list, as GET /v1/images
    as_v1 = await client.get("/v1/images")
    response = await client.get("/images", headers={"Accept": V1_MEDIA + version})
    assert (response.status, response.headers["Content-Type"]) == (200, "application/json")
    assert orjson.loads(await response.read()) == orjson.loads(await as_v1.read())
    detail = await client.get("/images/detail?limit=1", headers={"Accept": V1_MEDIA + version})
    assert detail.status == 200 and len(orjson.loads(await detail.read())["images"]) == 1
    metrics = await (await client.get("/metrics")).text()  # counted as the v1 routes they are
    assert 'image_v1_proxy_legacy_requests_total{client="python",route="/v1/images/detail"}' \
        in metrics


async def test_under_media_type_versioning_the_path_is_not_popped_and_routes_apply(client):
    # the URL is taken as it stands: /v1/images becomes /v1/v1/images, which v1 had not
    accept = {"Accept": V1_MEDIA + "v1"}
    assert (await client.get("/v1/images", headers=accept)).status == 404
    response = await client.request("PATCH", "/images", headers=accept)
    assert (response.status, response.headers["Allow"]) == (405, "GET, POST")
    assert (await client.get("/versions", headers=accept)).status == 200  # asked before


@pytest.mark.parametrize("accept", [V1_MEDIA + "v2", V1_MEDIA + "v1, */*", V1_MEDIA])
async def test_an_accept_header_naming_no_v1_version_is_300(client, accept):
    for path in ("/images", "/v1/images"):
        response = await client.get(path, headers={"Accept": accept})
        assert response.status == 300
        assert orjson.loads(await response.read()) == document(base_of(client))


async def test_head_on_the_root_is_300_without_a_body(client):
    response = await client.head("/")
    assert response.status == 300 and await response.read() == b""


async def test_public_url_setting_is_what_the_links_point_at(aiohttp_client, upstream):
    client = await make_client(aiohttp_client, upstream, listen_public_url="https://image.example/")
    response = await client.get("/versions", headers={"Host": "evil.example"})
    assert orjson.loads(await response.read()) == document("https://image.example")


async def test_forwarded_headers_count_only_when_trusted(aiohttp_client, upstream):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "image.example, inner"}
    untrusted = await make_client(aiohttp_client, upstream)
    response = await untrusted.get("/versions", headers=forwarded)
    assert orjson.loads(await response.read()) == document(base_of(untrusted))
    trusted = await make_client(aiohttp_client, upstream, listen_trust_forwarded_headers="true")
    response = await trusted.get("/versions", headers=forwarded)
    assert orjson.loads(await response.read()) == document("https://image.example")


async def test_a_host_header_that_is_not_a_host_is_never_echoed(client):
    response = await client.get("/versions", headers={"Host": "<script>"})
    assert b"<script>" not in await response.read()


@pytest.mark.parametrize("prefix", ["/v1", "/v1.0", "/v1.1"])
async def test_a_version_without_its_slash_redirects_to_v1_slash(client, prefix):
    response = await client.get(prefix, allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == base_of(client) + "/v1/"
    assert response.headers["Content-Type"] == "text/plain; charset=utf8"


async def test_v1_slash_is_the_summary_list_for_any_method(client, upstream):
    for method in ("GET", "POST", "DELETE"):
        response = await client.request(method, "/v1/")
        assert response.status == 200
        assert set(orjson.loads(await response.read())["images"][0]) == {
            "id", "name", "size", "disk_format", "container_format", "checksum"}


@pytest.mark.parametrize("method, path, allow", [
    ("HEAD", "/v1/images", "GET, POST"),
    ("PATCH", "/v1/images", "GET, POST"),
    ("PATCH", "/v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78", "GET, HEAD, PUT, DELETE"),
])
async def test_other_methods_get_405_with_v1s_allow(client, method, path, allow):
    response = await client.request(method, path)
    assert (response.status, response.headers["Allow"]) == (405, allow)


async def test_unknown_paths_under_v1_are_404_and_unrouted_methods_501(client):
    assert (await client.get("/v1/images/")).status == 404
    assert (await client.get("/v1/images/x/file")).status == 404
    assert (await client.request("COPY", "/v1/foo")).status == 501


async def test_errors_of_the_by_id_routes_follow_accept_and_head_has_no_body(client, upstream):
    # The scripted upstream has no /v2/images/{id}: it answers 404 as Glance would.
    path = "/v1/images/00000000-0000-0000-0000-000000000000"
    as_json = await client.get(path, headers={"Accept": "application/json"})
    assert as_json.status == 404
    assert orjson.loads(await as_json.read())["message"] == (
        "The resource could not be found.<br /><br />\nImage with identifier "
        "00000000-0000-0000-0000-000000000000 not found\n\n")
    head = await client.head(path, headers={"Accept": "*/*"})
    assert (head.status, head.headers["Content-Type"], await head.read()) == (
        404, "text/plain; charset=UTF-8", b"")


@pytest.mark.parametrize("method, path, allow", [
    ("GET", "/v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78/members/t2", None),
    ("POST", "/v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78/members/t2", "GET, PUT, DELETE"),
    ("PATCH", "/v1.1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78/members", "GET, PUT"),
])
async def test_member_routes_refuse_other_methods_as_v1s_router_did(client, method, path,
                                                                    allow):
    response = await client.request(method, path)
    assert (response.status, response.headers.get("Allow")) == (405, allow)


async def test_no_token_is_401_without_asking_the_upstream(aiohttp_client, upstream):
    client = await make_client(aiohttp_client, upstream, identity_require_token="true")
    response = await client.get("/v1/images/detail", headers={"Accept": "text/plain"})
    assert response.status == 401
    assert (await client.get("/versions")).status == 200
    assert upstream.seen == []


async def test_concurrent_readiness_probes_share_one_question_to_the_upstream(
        aiohttp_client, upstream):
    client = await make_client(aiohttp_client, upstream, health_ready_max_age="0.05")
    await asyncio.sleep(0.2)  # the start-up answer is stale now
    before = upstream.version_reads
    statuses = await asyncio.gather(*(client.get("/readyz") for _ in range(20)))
    assert {response.status for response in statuses} == {200}
    assert upstream.version_reads - before == 1


async def test_an_answer_aiohttp_gives_itself_still_carries_a_request_id(client):
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"POST /v1/images HTTP/1.1\r\nHost: x\r\nExpect: bogus\r\n"
                 b"Content-Length: 1\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    assert b" 417 " in head.split(b"\r\n")[0]
    assert b"X-Openstack-Request-Id: req-" in head
