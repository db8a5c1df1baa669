"""The in-memory Glance v2 simulator, checked against the behaviour described in
/work/shared/reference/glance-v2.md and real-glance-v2.md (expected values come from there)."""

import hashlib
import re
from datetime import datetime, timedelta

import pytest

from proxy.simulator import Simulator, parse_isotime, split_filter_op, split_in_list

T0 = datetime(2024, 1, 1, 12, 0, 0)
JSON = {"Accept": "application/json"}
OCTET = {"Content-Type": "application/octet-stream"}
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


def who(project: str, roles: str = "member,reader") -> dict:
    return {"X-Auth-Token": f"{project}:{roles}", **JSON}


A, B, C = who("projA"), who("projB"), who("projC")
ADMIN = who("admin", "admin,member,reader")


class Clock:
    """One second per reading, so creation order is the time order."""

    def __init__(self):
        self.ticks = 0

    def __call__(self) -> datetime:
        self.ticks += 1
        return T0 + timedelta(seconds=self.ticks)


@pytest.fixture
def sim():
    return Simulator(now=Clock())


@pytest.fixture
async def client(aiohttp_client, sim):
    return await aiohttp_client(sim.app())


async def create(client, headers=A, **body) -> dict:
    resp = await client.post("/v2/images", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def names(client, query: str = "", headers=A) -> list:
    resp = await client.get(f"/v2/images{query}", headers=headers)
    assert resp.status == 200, await resp.text()
    return [image["name"] for image in (await resp.json())["images"]]


async def error(resp) -> tuple[int, str]:
    """Status and message, with WebOb's '<br /><br />' tail removed."""
    body = await resp.json()
    return resp.status, body["message"].split("<br />")[0]


# ------------------------------------------------------------------ parsing (reference 1.3)

@pytest.mark.parametrize("value, expected", [
    ("ubuntu", ("eq", "ubuntu")),
    ("foo:bar", ("foo", "bar")),
    ("eq:foo:bar", ("eq", "foo:bar")),
    ("eq:in:a,b", ("eq", "in:a,b")),
    ("eq:eq:x", ("eq", "eq:x")),
    ("in:a,b", ("in", "a,b")),
    ("2016-05-22T06:04:20Z", ("eq", "2016-05-22T06:04:20Z")),
    ("http://x", ("http", "//x")),
])
def test_split_filter_op_follows_the_reference_table(value, expected):
    assert split_filter_op(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("a,b", ["a", "b"]),
    ('"glass, darkly",share me', ["glass, darkly", "share me"]),
    ("a, b", ["a", " b"]),
    ("a,,b", ["a", "", "b"]),
    ("a,", ["a"]),
    ("", []),
    ('"a\\"b",c', ['a\\"b', "c"]),
])
def test_in_lists_split_like_glance(value, expected):
    assert split_in_list(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("2016-05-22T06:04:20Z", datetime(2016, 5, 22, 6, 4, 20)),
    ("2016-05-22T06:04:20.123456", datetime(2016, 5, 22, 6, 4, 20, 123456)),
    ("2016-05-22 06:04:20", datetime(2016, 5, 22, 6, 4, 20)),
    ("2016-05-22", datetime(2016, 5, 22)),
    ("2016-05-22T08:04:20+02:00", datetime(2016, 5, 22, 6, 4, 20)),
])
def test_iso_times_parse_to_naive_utc(value, expected):
    assert parse_isotime(value) == expected


@pytest.mark.parametrize("query, message", [
    ("name=foo:bar", "Unable to filter by unknown operator 'foo'."),
    ("status=http://x", "Unable to filter by unknown operator 'http'."),
    ('name=in:"a"b', 'Invalid filter value "a"b. There is no comma after closing quotation mark.'),
    ('name=in:a"b', 'Invalid filter value a"b. There is no comma before opening quotation mark.'),
    ('name=in:"a,b', 'Invalid filter value "a,b. The quote is not closed.'),
    ("size_min=abc", "Unable to filter on a range with a non-numeric value."),
    ("created_at=gte:notadate",
     'Bad "created_at" query filter format. Use ISO 8601 DateTime notation.'),
    ("updated_at=in:2016-05-22", "Unable to filter on a unknown operator."),
    ("changes-since=2016-01-01", 'The "changes-since" filter is no longer available on v2.'),
    ("visibility=bogus", "Invalid visibility value: bogus"),
    ("member_status=bogus", "Invalid status: bogus"),
    ("protected=True", "Invalid value 'True' for 'protected' filter. "
                       "Valid values are 'true' or 'false'."),
    ("os_hidden=maybe", "Invalid value 'maybe' for 'os_hidden' filter. "
                        "Valid values are 'true' or 'false'."),
    ("limit=abc", "limit param must be an integer"),
    ("limit=", "limit param must be an integer"),
    ("limit=-1", "limit param must be positive"),
    ("sort_key=foo", "Invalid sort key: foo. It must be one of the following: name, status, "
                     "container_format, disk_format, size, id, created_at, updated_at."),
    ("sort_dir=up", "Invalid sort direction: up"),
    ("sort=name:ASC", "Invalid sort direction: ASC"),
    ("sort=name&sort_key=id", "Old and new sorting syntax cannot be combined"),
    ("sort_key=name&sort_dir=asc&sort_dir=desc&sort_dir=asc",
     "Number of sort dirs does not match the number of sort keys"),
    ("marker=nope", "No image found with ID nope"),
    ("marker=", "No image found with ID "),
    ("marker=" + "x" * 37, "Image with the given id %(image_id)s was not found"),
])
async def test_bad_list_parameters_give_glance_400_messages(client, query, message):
    assert await error(await client.get(f"/v2/images?{query}", headers=A)) == (400, message)


async def test_operator_parsing_matches_names_as_glance_does(client):
    for name in ("foo:bar", "glass, darkly", "share me", "in:a,b", "2016-05-22T06:04:20Z"):
        await create(client, name=name)
    assert await names(client, "?name=eq:foo:bar") == ["foo:bar"]
    assert await names(client, "?name=eq:in:a,b") == ["in:a,b"]
    assert await names(client, "?name=2016-05-22T06:04:20Z") == ["2016-05-22T06:04:20Z"]
    assert await names(client, '?name=in:"glass, darkly",share me&sort_key=name') == [
        "share me", "glass, darkly"]
    assert await names(client, "?name=in:") == []


# ------------------------------------------------------------------ scope (reference 1.4)

@pytest.fixture
async def world(client, sim):
    """projA's images of every visibility, projB's, and shares in each member status."""
    sim.add_image(owner="projA", name="a-private", visibility="private")
    sim.add_image(owner="projA", name="a-shared", visibility="shared")
    sim.add_image(owner="projA", name="a-community", visibility="community")
    sim.add_image(owner="projA", name="a-public", visibility="public")
    sim.add_image(owner="projB", name="b-private", visibility="private")
    sim.add_image(owner="projB", name="b-community", visibility="community")
    for status in ("pending", "accepted", "rejected"):
        sim.add_image(owner="projB", name=f"b-{status}", visibility="shared",
                      members={"projA": status})
    sim.add_image(owner="projB", name="b-killed", visibility="public", status="killed")
    sim.add_image(owner="projC", name="c-hidden", visibility="public", os_hidden=True)
    return client


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


async def test_unknown_parameters_are_custom_property_filters(world, sim):
    sim.add_image(owner="projA", name="ubuntu", os_distro="ubuntu")
    assert await names(world, "?is_public=true") == []
    assert await names(world, "?os_distro=ubuntu") == ["ubuntu"]
    assert await names(world, "?visibility=") == []


async def test_duplicate_parameters_split_first_and_last_like_webob(world):
    # Validation reads the last value, the DB filter takes the first one.
    assert await names(world, "?visibility=bogus&visibility=public") == []
    resp = await world.get("/v2/images?visibility=public&visibility=bogus", headers=A)
    assert await error(resp) == (400, "Invalid visibility value: bogus")


async def test_a_member_sees_a_share_by_id_in_any_member_status(world, sim):
    pending = next(i for i in sim._images.values() if i["name"] == "b-pending")
    resp = await world.get(f"/v2/images/{pending['id']}", headers=A)
    assert resp.status == 200
    resp = await world.get(f"/v2/images/{pending['id']}", headers=C)
    assert await error(resp) == (404, f"No image found with ID {pending['id']}")


async def test_marker_the_caller_cannot_see_is_403(world, sim):
    private = next(i for i in sim._images.values() if i["name"] == "b-private")
    resp = await world.get(f"/v2/images?marker={private['id']}", headers=A)
    assert await error(resp) == (403, f"Forbidding request, image {private['id']} not visible")


# ------------------------------------------------------------------ hidden images by version

async def test_hidden_images_need_os_hidden_true_on_2_7_and_later(world):
    assert "c-hidden" not in await names(world)
    assert await names(world, "?os_hidden=TRUE") == ["c-hidden"]


async def test_pike_has_no_hidden_images_and_no_visibility_all(world, sim):
    sim.api_version = "2.5"
    assert "c-hidden" in await names(world)
    assert await names(world, "?os_hidden=true") == []  # just a custom-property filter
    resp = await world.get("/v2/images?visibility=all", headers=A)
    assert await error(resp) == (400, "Invalid visibility value: all")
    resp = await world.get("/v2/images?name=a-public", headers=A)
    image = (await resp.json())["images"][0]
    assert not {"os_hidden", "os_hash_algo", "os_hash_value"} & set(image)


# ------------------------------------------------------------------ sorting and paging (1.5, 1.6)

async def test_pages_follow_next_until_a_short_page(client, sim):
    for n in range(5):
        sim.add_image(owner="projA", name=f"img{n}")
    seen, url, pages = [], "/v2/images?limit=2", 0
    while url:
        body = await (await client.get(url, headers=A)).json()
        seen += [i["name"] for i in body["images"]]
        assert body["first"] == "/v2/images?limit=2"
        url, pages = body.get("next"), pages + 1
    assert seen == ["img4", "img3", "img2", "img1", "img0"] and pages == 3


async def test_an_exactly_full_last_page_still_has_next(client, sim):
    first = sim.add_image(owner="projA", name="one")
    sim.add_image(owner="projA", name="two")
    body = await (await client.get("/v2/images?limit=2", headers=A)).json()
    assert body["next"] == f"/v2/images?limit=2&marker={first['id']}"
    body = await (await client.get(body["next"], headers=A)).json()
    assert body["images"] == [] and "next" not in body
    body = await (await client.get("/v2/images?limit=0", headers=A)).json()
    assert body["images"] == [] and "next" not in body


async def test_page_size_defaults_to_25_and_is_capped_by_api_limit_max(aiohttp_client):
    sim = Simulator(api_limit_max=7)
    for n in range(30):
        sim.add_image(owner="projA", name=f"img{n}")
    client = await aiohttp_client(sim.app())
    assert len(await names(client)) == 7
    assert len(await names(client, "?limit=2000")) == 7
    sim.api_limit_max = 1000
    body = await (await client.get("/v2/images", headers=A)).json()
    assert len(body["images"]) == 25 and body["first"] == "/v2/images"


async def test_links_keep_only_the_last_value_of_repeated_parameters(client, sim):
    sim.add_image(owner="projA", name="t", tags=["a", "b"])
    body = await (await client.get("/v2/images?tag=a&tag=b&limit=1", headers=A)).json()
    assert [i["name"] for i in body["images"]] == ["t"]
    assert body["first"] == "/v2/images?tag=b&limit=1"
    assert body["schema"] == "/v2/schemas/images"


async def test_sort_keys_then_created_at_then_id(client, sim):
    for name, size in (("b", 2), ("a", 2), ("c", 1)):
        sim.add_image(owner="projA", name=name, size=size)
    sim.add_image(owner="projA", name="queued")
    assert await names(client, "?sort_key=size&sort_dir=asc") == ["queued", "c", "b", "a"]
    assert await names(client, "?sort=size:desc,name:asc") == ["a", "b", "c", "queued"]
    assert await names(client, "?sort_key=size") == ["a", "b", "c", "queued"]


async def test_a_null_size_marker_restarts_a_size_sorted_list_like_glance(client, sim):
    # Glance compares a NULL marker value as '' which every number is below.
    sim.add_image(owner="projA", name="big", size=9)
    marker = sim.add_image(owner="projA", name="queued")
    body = await (await client.get(
        f"/v2/images?sort_key=size&marker={marker['id']}", headers=A)).json()
    assert [i["name"] for i in body["images"]] == ["big", "queued"]


async def test_time_and_range_filters(client, sim):
    sim.add_image(owner="projA", name="old", created_at=datetime(2020, 1, 1), size=10)
    sim.add_image(owner="projA", name="new", created_at=datetime(2023, 1, 1), size=20)
    assert await names(client, "?created_at=gte:2022-01-01T00:00:00Z") == ["new"]
    assert await names(client, "?created_at=lt:2021-06-01T02:00:00%2B02:00") == ["old"]
    assert await names(client, "?size_min=15") == ["new"]
    assert await names(client, "?size_min=10&size_max=10") == ["old"]
    resp = await client.get("/v2/images?foo_max=3", headers=A)
    assert resp.status == 500  # real Glance crashes on ranges of non-columns


# ------------------------------------------------------------------ entity (2.1, 2.2)

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


# ------------------------------------------------------------------ create (5.1)

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


async def test_create_reserved_and_foreign_owner_messages_follow_the_default_text(client):
    body = await (await client.post("/v2/images", json={"owner": "projB"}, headers=A)).json()
    assert body["message"] == ("Access was denied to this resource.<br /><br />\n"
                               "You are not permitted to create images owned by 'projB'\n\n")
    resp = await client.post("/v2/images", json={"location": "x"}, headers={**A, "Accept": ""})
    assert await resp.text() == ("403 Forbidden\n\nAccess was denied to this resource.\n\n"
                                 " Attribute 'location' is reserved.  ")


async def test_create_duplicate_id_is_409_and_admin_may_publicize(client):
    image = await create(client, headers=ADMIN, visibility="public", owner="projA")
    assert image["owner"] == "projA"
    resp = await client.post("/v2/images", json={"id": image["id"]}, headers=A)
    assert await error(resp) == (409, f"Image ID {image['id']} already exists!")


async def test_roles_decide_list_and_create(client):
    resp = await client.get("/v2/images", headers=who("projA", "member"))
    assert await error(resp) == (403, "You are not authorized to complete get_images action.")
    resp = await client.post("/v2/images", json={}, headers=who("projA", "reader"))
    assert await error(resp) == (403, "You are not authorized to complete add_image action.")
    assert (await client.get("/v2/images", headers=who("projA", "reader"))).status == 200


# ------------------------------------------------------------------ upload and download (5.3, 5.6)

async def test_upload_activates_and_download_returns_the_bytes(client):
    image = await create(client, disk_format="raw", container_format="bare")
    data = bytes(range(256)) * 4
    resp = await client.put(f"/v2/images/{image['id']}/file", data=data, headers={**A, **OCTET})
    assert resp.status == 204
    shown = await (await client.get(f"/v2/images/{image['id']}", headers=A)).json()
    assert (shown["status"], shown["size"], shown["virtual_size"]) == ("active", 1024, 1024)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert (shown["os_hash_algo"], shown["os_hash_value"]) == (
        "sha512", hashlib.sha512(data).hexdigest())
    assert shown["stores"] == "fs"
    resp = await client.get(f"/v2/images/{image['id']}/file", headers=A)
    assert resp.status == 200 and await resp.read() == data
    assert resp.headers["Content-MD5"] == shown["checksum"]
    assert resp.headers["Content-Length"] == "1024"


async def test_upload_rules(client):
    queued = await create(client, name="no formats")
    url = f"/v2/images/{queued['id']}/file"
    resp = await client.put(url, data=b"x", headers={**A, "Content-Type": "text/plain"})
    assert resp.status == 415
    resp = await client.put(url, data=b"x", headers={**A, **OCTET})
    assert await error(resp) == (400, "Properties disk_format, container_format must be set "
                                      "prior to saving data.")
    assert (await client.get(url, headers=A)).status == 204
    ready = await create(client, disk_format="raw", container_format="bare")
    url = f"/v2/images/{ready['id']}/file"
    assert (await client.put(url, data=b"x", headers={**A, **OCTET})).status == 204
    resp = await client.put(url, data=b"x", headers={**A, **OCTET})
    assert await error(resp) == (409, "Image status transition from active to saving is not "
                                      "allowed")


async def test_deactivated_images_cannot_be_downloaded_by_non_admins(client, sim):
    image = sim.add_image(owner="projA", data=b"abc", disk_format="raw", container_format="bare")
    action = f"/v2/images/{image['id']}/actions/deactivate"
    assert (await client.post(action, headers=A)).status == 204
    resp = await client.get(f"/v2/images/{image['id']}/file", headers=A)
    assert await error(resp) == (403, "The requested image has been deactivated. Image data "
                                      "download is forbidden.")
    assert (await client.get(f"/v2/images/{image['id']}/file", headers=ADMIN)).status == 200
    queued = sim.add_image(owner="projA")
    resp = await client.post(f"/v2/images/{queued['id']}/actions/deactivate", headers=A)
    assert await error(resp) == (403, "Not allowed to deactivate image in status 'queued'")


# ------------------------------------------------------------------ patch and delete (5.2, 5.4)

async def patch(client, image_id, ops, headers=A):
    return await client.patch(f"/v2/images/{image_id}", json=ops, headers={**headers, **PATCH})


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


async def test_delete(client, sim):
    mine = await create(client)
    protected = await create(client, protected=True)
    theirs = sim.add_image(owner="projB", visibility="private")
    public = sim.add_image(owner="projB", visibility="public")
    assert (await client.delete(f"/v2/images/{mine['id']}", headers=A)).status == 204
    assert (await client.get(f"/v2/images/{mine['id']}", headers=A)).status == 404
    resp = await client.delete(f"/v2/images/{protected['id']}", headers=A)
    assert await error(resp) == (403, f"Image {protected['id']} is protected and cannot be "
                                      "deleted.")
    resp = await client.delete(f"/v2/images/{theirs['id']}", headers=A)
    assert await error(resp) == (404, f"Failed to find image {theirs['id']} to delete")
    resp = await client.delete(f"/v2/images/{public['id']}", headers=A)
    assert await error(resp) == (403, "You are not authorized to complete delete_image action.")


# ------------------------------------------------------------------ members (5.8)

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


async def test_members_need_a_shared_image_and_a_valid_status(client, sim):
    private = await create(client, visibility="private")
    resp = await client.post(f"/v2/images/{private['id']}/members", json={"member": "projB"},
                             headers=A)
    assert await error(resp) == (403, f"Not allowed to create members for image "
                                      f"{private['id']}.")
    resp = await client.get(f"/v2/images/{private['id']}/members", headers=A)
    assert await error(resp) == (403, f"Not allowed to list members for image "
                                      f"{private['id']}: Only shared images have members.")
    shared = sim.add_image(owner="projA", members={"projB": "pending", "projC": "pending"})
    resp = await client.put(f"/v2/images/{shared['id']}/members/projB", json={"status": "ok"},
                            headers=B)
    assert await error(resp) == (400, 'Incorrect request: Status must be "pending", "accepted" '
                                      'or "rejected".')
    body = await (await client.get(f"/v2/images/{shared['id']}/members", headers=B)).json()
    assert [m["member_id"] for m in body["members"]] == ["projB"]  # only its own entry


# ------------------------------------------------------------------ errors, routing, identity

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


async def test_routing_errors(client):
    image = await create(client)
    resp = await client.head(f"/v2/images/{image['id']}", headers=A)
    assert (resp.status, resp.headers["Allow"]) == (405, "GET, PATCH, DELETE")
    resp = await client.put("/v2/images", headers=A)
    assert (resp.status, resp.headers["Allow"]) == (405, "GET, POST")
    assert (await client.get("/v2/nothing", headers=A)).status == 404
    resp = await client.get(f"/v2/images/{image['id']}", data=b"x", headers=A)
    assert await error(resp) == (400, "A body is not expected with this request.")


async def test_version_documents(client, sim):
    resp = await client.get("/versions")
    body = await resp.json()
    assert resp.status == 200 and "X-Openstack-Request-Id" not in resp.headers
    assert body["versions"][0] == {"id": "v2.17", "status": "CURRENT", "links": [
        {"rel": "self", "href": f"http://{resp.url.host}:{resp.url.port}/v2/"}]}
    assert [v["id"] for v in body["versions"]][-1] == "v2.0" and len(body["versions"]) == 18
    assert (await client.get("/")).status == 300
    assert (await client.get("/v1/images")).status == 300
    sim.api_version = "2.5"
    assert (await client.get("/v2.7/images", headers=A)).status == 300
    assert (await client.get("/v2.5/images", headers=A)).status == 200


async def test_request_ids_are_echoed_or_generated(client):
    resp = await client.get("/v2/images", headers={**A, "X-Openstack-Request-Id": "abc"})
    assert resp.headers["X-Openstack-Request-Id"] == "req-abc"
    resp = await client.get("/v2/images", headers=A)
    assert re.fullmatch(r"req-[0-9a-f-]{36}", resp.headers["X-Openstack-Request-Id"])


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


async def test_several_apps_share_one_store(aiohttp_client, sim):
    first, second = await aiohttp_client(sim.app()), await aiohttp_client(sim.app())
    image = await create(first)
    assert (await second.get(f"/v2/images/{image['id']}", headers=A)).status == 200
