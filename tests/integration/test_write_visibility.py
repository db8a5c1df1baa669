"""writes.not_public_visibility: what v1's non-public images become on v2 (shared, as v1
stored them, or private for upstreams such as Huawei IMS that allow nothing else)."""

from __future__ import annotations

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
