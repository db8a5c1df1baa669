"""The image entity, create and delete (docs/v2-upstream.md#21-how-a-response-is-built,
docs/v2-upstream.md#22-schema-and-formats, docs/v2-upstream.md#51-create,
docs/v2-upstream.md#54-delete)."""

import pytest

from tests.fake_glance.calls import A, ADMIN, create, error


async def test_entity_has_every_base_property_and_relative_links(client):
    image = await create(client, name="n", os_distro="ubuntu")
    assert image == {
        "name": "n", "disk_format": None, "container_format": None, "visibility": "shared",
        "size": None, "virtual_size": None, "status": "queued", "checksum": None,
        "protected": False, "min_ram": 0, "min_disk": 0, "owner": "projA", "os_hidden": False,
        "os_hash_algo": None, "os_hash_value": None, "id": image["id"],
        "created_at": "2024-01-01T12:00:01Z", "updated_at": "2024-01-01T12:00:01Z",
        "tags": [], "self": f"/v2/images/{image['id']}",
        "file": f"/v2/images/{image['id']}/file", "schema": "/v2/schemas/image",
        "os_distro": "ubuntu"}


async def test_create_answers_201_with_an_absolute_location(client):
    resp = await client.post("/v2/images", json={"name": "x"}, headers=A)
    image = await resp.json()
    assert resp.status == 201
    origin = f"http://{resp.url.host}:{resp.url.port}"
    assert resp.headers["Location"] == f"{origin}/v2/images/{image['id']}"
    assert resp.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("body, status, message", [
    ({"self": "x"}, 403, "Attribute 'self' is read-only."),
    ({"status": "active"}, 403, "Attribute 'status' is read-only."),
    ({"size": 5}, 403, "Attribute 'size' is read-only."),
    ({"locations": []}, 403, "Attribute 'locations' is reserved."),
    ({"location": "x"}, 403, "Access was denied to this resource."),
    ({"is_public": True}, 400, "Provided object does not match schema 'image': "
                               "True is not of type 'string'"),
    ({"min_ram": "512"}, 400, "Provided object does not match schema 'image': "
                              "'512' is not of type 'integer'"),
    ({"visibility": "bogus"}, 400, "Provided object does not match schema 'image': 'bogus' "
                                   "is not one of ['community', 'public', 'private', 'shared']"),
    ({"min_ram": -1}, 400, "Invalid value '-1' for parameter 'min_ram': "
                           "Cannot be a negative value"),
    ({"visibility": "public"}, 403, "You are not authorized to complete publicize_image action."),
    ({"owner": "projB"}, 403, "Access was denied to this resource."),
])
async def test_create_rejections(client, body, status, message):
    resp = await client.post("/v2/images", json=body, headers=A)
    code, text = await error(resp)
    assert (code, text.split("\n")[0]) == (status, message)


async def test_create_duplicate_id_is_409_and_admin_may_publicize(client):
    image = await create(client, headers=ADMIN, visibility="public", owner="projA")
    assert image["owner"] == "projA"
    resp = await client.post("/v2/images", json={"id": image["id"]}, headers=A)
    assert await error(resp) == (409, f"Image ID {image['id']} already exists!")


async def test_delete(client, fake):
    mine = await create(client)
    protected = await create(client, protected=True)
    theirs = fake.add_image(owner="projB", visibility="private")
    public = fake.add_image(owner="projB", visibility="public")
    assert (await client.delete(f"/v2/images/{mine['id']}", headers=A)).status == 204
    assert (await client.get(f"/v2/images/{mine['id']}", headers=A)).status == 404
    resp = await client.delete(f"/v2/images/{protected['id']}", headers=A)
    assert await error(resp) == (403, f"Image {protected['id']} is protected and cannot be "
                                      "deleted.")
    resp = await client.delete(f"/v2/images/{theirs['id']}", headers=A)
    assert await error(resp) == (404, f"Failed to find image {theirs['id']} to delete")
    resp = await client.delete(f"/v2/images/{public['id']}", headers=A)
    assert await error(resp) == (403, "You are not authorized to complete delete_image action.")
