"""Image members: sharing, accepting, listing, removing (docs/v2-upstream.md#58-members)."""

from tests.fake_glance.calls import A, B, create, error, names


async def test_sharing_flow(client):
    image = await create(client, name="shared")
    members = f"/v2/images/{image['id']}/members"
    resp = await client.post(members, json={"member": "projB"}, headers=A)
    member = await resp.json()
    assert resp.status == 200
    assert member == {"member_id": "projB", "image_id": image["id"], "status": "pending",
                      "created_at": member["created_at"], "updated_at": member["updated_at"],
                      "schema": "/v2/schemas/member"}
    assert await names(client, headers=B) == []
    assert await names(client, "?member_status=pending", headers=B) == ["shared"]
    resp = await client.put(f"{members}/projB", json={"status": "accepted"}, headers=A)
    assert await error(resp) == (403, "You are not authorized to complete modify_member action.")
    resp = await client.put(f"{members}/projB", json={"status": "accepted"}, headers=B)
    assert (await resp.json())["status"] == "accepted"
    assert await names(client, headers=B) == ["shared"]
    resp = await client.post(members, json={"member": "projB"}, headers=A)
    assert await error(resp) == (409, f"Member projB is duplicated for image {image['id']}")
    body = await (await client.get(members, headers=A)).json()
    assert [m["member_id"] for m in body["members"]] == ["projB"]
    assert body["schema"] == "/v2/schemas/members"
    assert (await client.delete(f"{members}/projB", headers=A)).status == 204
    assert (await client.get(f"/v2/images/{image['id']}", headers=B)).status == 404


async def test_members_need_a_shared_image_and_a_valid_status(client, fake):
    private = await create(client, visibility="private")
    resp = await client.post(f"/v2/images/{private['id']}/members", json={"member": "projB"},
                             headers=A)
    assert await error(resp) == (403, f"Not allowed to create members for image "
                                      f"{private['id']}.")
    resp = await client.get(f"/v2/images/{private['id']}/members", headers=A)
    assert await error(resp) == (403, f"Not allowed to list members for image "
                                      f"{private['id']}: Only shared images have members.")
    shared = fake.add_image(owner="projA", members={"projB": "pending", "projC": "pending"})
    resp = await client.put(f"/v2/images/{shared['id']}/members/projB", json={"status": "ok"},
                            headers=B)
    assert await error(resp) == (400, 'Incorrect request: Status must be "pending", "accepted" '
                                      'or "rejected".')
    body = await (await client.get(f"/v2/images/{shared['id']}/members", headers=B)).json()
    assert [m["member_id"] for m in body["members"]] == ["projB"]  # only its own entry
