"""Choosing a page: hidden images by API version, paging links, page sizes, sorting with
Glance's tie-breakers, markers, time and range filters (docs/v2-upstream.md#15-sorting,
docs/v2-upstream.md#16-paging-and-next-links)."""

from datetime import datetime

from proxy.fake_glance import FakeGlance
from tests.fake_glance.calls import A, error, names


async def test_hidden_images_need_os_hidden_true_on_2_7_and_later(world):
    assert "c-hidden" not in await names(world)
    assert await names(world, "?os_hidden=TRUE") == ["c-hidden"]


async def test_pike_has_no_hidden_images_and_no_visibility_all(world, fake):
    fake.api_version = "2.5"
    assert "c-hidden" in await names(world)
    assert await names(world, "?os_hidden=true") == []  # just a custom-property filter
    resp = await world.get("/v2/images?visibility=all", headers=A)
    assert await error(resp) == (400, "Invalid visibility value: all")
    resp = await world.get("/v2/images?name=a-public", headers=A)
    image = (await resp.json())["images"][0]
    assert not {"os_hidden", "os_hash_algo", "os_hash_value"} & set(image)


async def test_pages_follow_next_until_a_short_page(client, fake):
    for n in range(5):
        fake.add_image(owner="projA", name=f"img{n}")
    seen, url, pages = [], "/v2/images?limit=2", 0
    while url:
        body = await (await client.get(url, headers=A)).json()
        seen += [i["name"] for i in body["images"]]
        assert body["first"] == "/v2/images?limit=2"
        url, pages = body.get("next"), pages + 1
    assert seen == ["img4", "img3", "img2", "img1", "img0"] and pages == 3


async def test_an_exactly_full_last_page_still_has_next(client, fake):
    first = fake.add_image(owner="projA", name="one")
    fake.add_image(owner="projA", name="two")
    body = await (await client.get("/v2/images?limit=2", headers=A)).json()
    assert body["next"] == f"/v2/images?limit=2&marker={first['id']}"
    body = await (await client.get(body["next"], headers=A)).json()
    assert body["images"] == [] and "next" not in body
    body = await (await client.get("/v2/images?limit=0", headers=A)).json()
    assert body["images"] == [] and "next" not in body


async def test_page_size_defaults_to_25_and_is_capped_by_api_limit_max(aiohttp_client):
    fake = FakeGlance(api_limit_max=7)
    for n in range(30):
        fake.add_image(owner="projA", name=f"img{n}")
    client = await aiohttp_client(fake.app())
    assert len(await names(client)) == 7
    assert len(await names(client, "?limit=2000")) == 7
    fake.api_limit_max = 1000
    body = await (await client.get("/v2/images", headers=A)).json()
    assert len(body["images"]) == 25 and body["first"] == "/v2/images"


async def test_links_keep_only_the_last_value_of_repeated_parameters(client, fake):
    fake.add_image(owner="projA", name="t", tags=["a", "b"])
    body = await (await client.get("/v2/images?tag=a&tag=b&limit=1", headers=A)).json()
    assert [i["name"] for i in body["images"]] == ["t"]
    assert body["first"] == "/v2/images?tag=b&limit=1"
    assert body["schema"] == "/v2/schemas/images"


async def test_sort_keys_then_created_at_then_id(client, fake):
    for name, size in (("b", 2), ("a", 2), ("c", 1)):
        fake.add_image(owner="projA", name=name, size=size)
    fake.add_image(owner="projA", name="queued")
    assert await names(client, "?sort_key=size&sort_dir=asc") == ["queued", "c", "b", "a"]
    assert await names(client, "?sort=size:desc,name:asc") == ["a", "b", "c", "queued"]
    assert await names(client, "?sort_key=size") == ["a", "b", "c", "queued"]


async def test_a_null_size_marker_restarts_a_size_sorted_list_like_glance(client, fake):
    # Glance compares a NULL marker value as '' which every number is below.
    fake.add_image(owner="projA", name="big", size=9)
    marker = fake.add_image(owner="projA", name="queued")
    body = await (await client.get(
        f"/v2/images?sort_key=size&marker={marker['id']}", headers=A)).json()
    assert [i["name"] for i in body["images"]] == ["big", "queued"]


async def test_time_and_range_filters(client, fake):
    fake.add_image(owner="projA", name="old", created_at=datetime(2020, 1, 1), size=10)
    fake.add_image(owner="projA", name="new", created_at=datetime(2023, 1, 1), size=20)
    assert await names(client, "?created_at=gte:2022-01-01T00:00:00Z") == ["new"]
    assert await names(client, "?created_at=lt:2021-06-01T02:00:00%2B02:00") == ["old"]
    assert await names(client, "?size_min=15") == ["new"]
    assert await names(client, "?size_min=10&size_max=10") == ["old"]
    resp = await client.get("/v2/images?foo_max=3", headers=A)
    assert resp.status == 500  # real Glance crashes on ranges of non-columns
