"""Image PATCH: JSON-patch operations, Glance's refusals, all or nothing
(docs/v2-upstream.md#52-patch)."""

import pytest

from tests.fake_glance.calls import A, create, patch


async def test_patch_add_replace_remove(client):
    image = await create(client, name="old", foo="1")
    resp = await patch(client, image["id"], [
        {"op": "replace", "path": "/name", "value": "new"},
        {"op": "add", "path": "/foo", "value": "2"},
        {"op": "add", "path": "/bar", "value": "3"},
        {"op": "replace", "path": "/tags", "value": ["x"]}])
    body = await resp.json()
    assert resp.status == 200
    assert (body["name"], body["foo"], body["bar"], body["tags"]) == ("new", "2", "3", ["x"])
    resp = await patch(client, image["id"], [{"op": "remove", "path": "/bar"}])
    assert "bar" not in await resp.json()


@pytest.mark.parametrize("op, status, message", [
    ({"op": "replace", "path": "/nope", "value": "x"}, 409, "Property nope does not exist."),
    ({"op": "remove", "path": "/nope"}, 409, "Property nope does not exist."),
    ({"op": "remove", "path": "/name"}, 403, "Property name may not be removed."),
    ({"op": "replace", "path": "/status", "value": "active"}, 403, None),
    ({"op": "add", "path": "/deleted", "value": "x"}, 403, None),
    ({"op": "replace", "path": "/owner", "value": "projB"}, 403,
     "Owner can't be updated by non admin."),
    ({"op": "add", "path": "/foo", "value": 1}, 400, None),
])
async def test_patch_rejections(client, op, status, message):
    image = await create(client)
    resp = await patch(client, image["id"], [op])
    body = await resp.json()
    assert resp.status == status
    if message:
        assert message in body["message"]


async def test_patch_is_all_or_nothing_and_needs_its_content_type(client):
    image = await create(client, name="keep")
    resp = await patch(client, image["id"], [{"op": "replace", "path": "/name", "value": "x"},
                                             {"op": "remove", "path": "/nope"}])
    assert resp.status == 409
    assert (await (await client.get(f"/v2/images/{image['id']}", headers=A)).json())[
        "name"] == "keep"
    resp = await client.patch(f"/v2/images/{image['id']}", json=[], headers=A)
    assert resp.status == 415
    assert resp.headers["Accept-Patch"] == ("application/openstack-images-v2.0-json-patch, "
                                            "application/openstack-images-v2.1-json-patch")
