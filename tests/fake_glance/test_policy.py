"""Who sees what: the default list scope, member statuses, admins, direct access by id,
roles, and the identity shim (docs/v2-upstream.md#14-default-visibility)."""

from tests.fake_glance.calls import A, ADMIN, C, JSON, create, error, names, who


async def test_default_list_for_a_member_is_public_own_and_accepted_shares(world):
    assert await names(world, "?sort_key=name&sort_dir=asc") == [
        "a-community", "a-private", "a-public", "a-shared", "b-accepted"]


async def test_member_status_selects_which_shares_are_listed(world):
    assert "b-pending" in await names(world, "?member_status=pending")
    assert set(await names(world, "?visibility=shared&member_status=all")) == {
        "a-shared", "b-pending", "b-accepted", "b-rejected"}


async def test_visibility_community_lists_every_community_image(world):
    assert set(await names(world, "?visibility=community")) == {"a-community", "b-community"}


async def test_admin_sees_all_but_other_projects_community_images(world):
    assert set(await names(world, headers=ADMIN)) == {
        "a-private", "a-shared", "a-public", "b-private", "b-pending", "b-accepted",
        "b-rejected"}
    everything = await names(world, "?visibility=all&os_hidden=false", headers=ADMIN)
    assert "b-community" in everything and "b-killed" not in everything


async def test_a_member_sees_a_share_by_id_in_any_member_status(world, world_images):
    pending = world_images["b-pending"]
    resp = await world.get(f"/v2/images/{pending['id']}", headers=A)
    assert resp.status == 200
    resp = await world.get(f"/v2/images/{pending['id']}", headers=C)
    assert await error(resp) == (404, f"No image found with ID {pending['id']}")


async def test_marker_the_caller_cannot_see_is_403(world, world_images):
    private = world_images["b-private"]
    resp = await world.get(f"/v2/images?marker={private['id']}", headers=A)
    assert await error(resp) == (403, f"Forbidding request, image {private['id']} not visible")


async def test_roles_decide_list_and_create(client):
    resp = await client.get("/v2/images", headers=who("projA", "member"))
    assert await error(resp) == (403, "You are not authorized to complete get_images action.")
    resp = await client.post("/v2/images", json={}, headers=who("projA", "reader"))
    assert await error(resp) == (403, "You are not authorized to complete add_image action.")
    assert (await client.get("/v2/images", headers=who("projA", "reader"))).status == 200


async def test_identity_shim(client):
    assert (await create(client, headers=JSON))["owner"] == "admin"
    assert (await create(client, headers={"X-Tenant-Id": "projT", **JSON}))["owner"] == "projT"
    token = {"X-Auth-Token": "projE%3Amember%2Creader%3Auser", **JSON}
    assert (await create(client, headers=token))["owner"] == "projE"
    resp = await client.get("/v2/images", headers={"X-Identity-Status": "Invalid", **JSON})
    assert resp.status == 401 and "X-Openstack-Request-Id" not in resp.headers
    headers = {"X-Identity-Status": "Confirmed", "X-Project-Id": "projH", "X-Roles": "Reader",
               **JSON}
    assert (await client.get("/v2/images", headers=headers)).status == 200
