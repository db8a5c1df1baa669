"""Routing: 405 with Allow, 404, bodies where none is expected, version documents, request
ids, and several servers on one store (docs/v2-upstream.md#41-error-bodies,
docs/v2-upstream.md#43-request-ids, docs/v2-upstream.md#6-version-discovery)."""

import re

from tests.fake_glance.calls import A, create, error


async def test_routing_errors(client):
    image = await create(client)
    resp = await client.head(f"/v2/images/{image['id']}", headers=A)
    assert (resp.status, resp.headers["Allow"]) == (405, "GET, PATCH, DELETE")
    resp = await client.put("/v2/images", headers=A)
    assert (resp.status, resp.headers["Allow"]) == (405, "GET, POST")
    assert (await client.get("/v2/nothing", headers=A)).status == 404
    resp = await client.get(f"/v2/images/{image['id']}", data=b"x", headers=A)
    assert await error(resp) == (400, "A body is not expected with this request.")


async def test_version_documents(client, fake):
    resp = await client.get("/versions")
    body = await resp.json()
    assert resp.status == 200 and "X-Openstack-Request-Id" not in resp.headers
    assert body["versions"][0] == {"id": "v2.17", "status": "CURRENT", "links": [
        {"rel": "self", "href": f"http://{resp.url.host}:{resp.url.port}/v2/"}]}
    assert [v["id"] for v in body["versions"]][-1] == "v2.0" and len(body["versions"]) == 18
    assert (await client.get("/")).status == 300
    assert (await client.get("/v1/images")).status == 300
    fake.api_version = "2.5"
    assert (await client.get("/v2.7/images", headers=A)).status == 300
    assert (await client.get("/v2.5/images", headers=A)).status == 200


async def test_request_ids_are_echoed_or_generated(client):
    resp = await client.get("/v2/images", headers={**A, "X-Openstack-Request-Id": "abc"})
    assert resp.headers["X-Openstack-Request-Id"] == "req-abc"
    resp = await client.get("/v2/images", headers=A)
    assert re.fullmatch(r"req-[0-9a-f-]{36}", resp.headers["X-Openstack-Request-Id"])


async def test_several_apps_share_one_store(aiohttp_client, fake):
    first, second = await aiohttp_client(fake.app()), await aiohttp_client(fake.app())
    image = await create(first)
    assert (await second.get(f"/v2/images/{image['id']}", headers=A)).status == 200
