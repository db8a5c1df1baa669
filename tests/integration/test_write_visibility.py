"""Writes in front of the fake Glance: writes.not_public_visibility (what v1's non-public
images become on v2: shared, as v1 stored them, or private for upstreams such as Huawei IMS
that allow nothing else), and header values that are not UTF-8."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from proxy.shell.app import make_app
from proxy.fake_glance import FakeGlance
from tests.support.scripted import proxy_settings

TOKEN = {"X-Auth-Token": "projW:member,reader"}


@pytest.mark.parametrize("setting, header, stored", [
    ("shared", None, "shared"), ("shared", "False", "shared"), ("private", None, "private"),
    ("private", "None", "private")])
async def test_non_public_images_get_the_configured_visibility(aiohttp_server, aiohttp_client,
                                                               setting, header, stored):
    glance = FakeGlance()
    upstream = await aiohttp_server(glance.app())
    client = await aiohttp_client(make_app(proxy_settings(
        str(upstream.make_url("")), writes_not_public_visibility=setting)))
    headers = {**TOKEN, "x-image-meta-name": "v"}
    if header is not None:
        headers["x-image-meta-is_public"] = header
    response = await client.post("/v1/images", headers=headers)
    assert response.status == 201
    image = (await response.json())["image"]
    assert image["is_public"] is False
    v2 = await upstream_image(aiohttp_client, upstream, image["id"])
    assert v2["visibility"] == stored
    # an update to is_public false keeps it so
    response = await client.put(f"/v1/images/{image['id']}",
                                headers={**TOKEN, "x-image-meta-is_public": "false"})
    assert response.status == 200
    assert (await upstream_image(aiohttp_client, upstream, image["id"]))["visibility"] == stored


async def upstream_image(aiohttp_client, upstream, image_id):
    direct = await aiohttp_client(upstream)
    response = await direct.get(f"/v2/images/{image_id}", headers=TOKEN)
    return await response.json()


async def test_header_values_sent_as_latin1_bytes_create_the_image_they_name(aiohttp_server,
                                                                            aiohttp_client):
    # glance-replicator copies "café" with Python 3's http.client: the bytes caf\xe9
    upstream = await aiohttp_server(FakeGlance().app())
    client = await aiohttp_client(make_app(proxy_settings(str(upstream.make_url("")))))
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"POST /v1/images HTTP/1.1\r\nHost: proxy\r\nX-Auth-Token: projW:member,reader"
                 b"\r\nx-image-meta-name: caf\xe9\r\nx-image-meta-property-note: d\xe9j\xe0"
                 b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201 ")
    image = orjson.loads(body)["image"]
    assert (image["name"], image["properties"]) == ("caf\u00e9", {"note": "d\u00e9j\u00e0"})
