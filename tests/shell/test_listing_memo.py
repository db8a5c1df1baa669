"""v2 list bodies -> typed, immutable pages, each distinct image parsed once
(proxy.shell.listing_memo), and the v1 JSON of each distinct image made once."""

import logging

import msgspec
import orjson
import pytest

from proxy.shell.image_reads import listing_json, shaped_json
from proxy.shell import listing_memo
from proxy.shell.listing_memo import ListingMemo
from proxy.v1.images import (SHOWN_FIELDS, summary_of, to_v1_image, v1_image_of,
                             v1_summary_of)
from proxy.v2.answers import ListPage, UpstreamShapeError
from proxy.v2.typed_images import MAX_CUSTOM_KEYS

IMAGE = {"id": "a", "name": "cirros", "status": "active", "visibility": "public",
         "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-02T00:00:00Z",
         "os_distro": "cirros"}
PLENTY = 1 << 30


def body(*images, **rest) -> bytes:
    return orjson.dumps({"images": list(images), **rest})


def read(image) -> dict:
    """An image as a page reads it, a dict or a typed image (proxy.v2.typed_images): its
    keys, the fields v1 shows read as null where it has none."""
    if type(image) is not dict:
        image = {key: value for key, value in zip(type(image).__struct_encode_fields__,
                                                  msgspec.structs.astuple(image))
                 if value is not msgspec.UNSET}
    return {**dict.fromkeys(SHOWN_FIELDS), **image}


def test_a_list_body_reads_as_a_page_of_its_images_with_next_only_when_the_body_has_it():
    memo = ListingMemo(10, PLENTY)
    page = memo.page(body(IMAGE, {"id": "b"}))
    assert isinstance(page, ListPage) and page.has_next is False
    assert [read(image.v2) for image in page.images] == [read(IMAGE), read({"id": "b"})]
    page = memo.page(body(IMAGE, next="/v2/images?marker=a", first="/v2/images"))
    assert [read(image.v2) for image in page.images] == [read(IMAGE)] and page.has_next


@pytest.fixture
def every_body_through_the_memo(monkeypatch):
    """No sampling: each body goes through the memo, so that what it keeps is what a
    test looks at (the sampling has tests of its own)."""
    monkeypatch.setattr(listing_memo, "SAMPLE_EVERY", 1)


def seen(memo: ListingMemo, *images) -> list:
    """The images as the memo gives them back after a second sighting: kept."""
    memo.page(body(*images))
    return list(memo.page(body(*images)).images)


def through_the_memo(image) -> bool:
    """Read through the memo (with a place for its v1 JSON), not in one pass."""
    return image.shaped is not None


def test_a_page_is_immutable():
    page = ListingMemo(10, PLENTY).page(body(IMAGE))
    with pytest.raises(AttributeError):
        page.has_next = True
    with pytest.raises(AttributeError):
        page.images[0].v2 = {}
    assert isinstance(page.images, tuple)


def test_an_image_is_kept_on_its_second_sighting_with_its_json_made_once(
        every_body_through_the_memo):
    memo = ListingMemo(10, PLENTY)
    once = memo.page(body(IMAGE)).images[0]
    second = memo.page(body({"id": "z"}, IMAGE)).images[1]
    assert second is not once  # seen once: not copied in
    detail = shaped_json(second, v1_image_of)
    assert orjson.loads(detail) == to_v1_image(IMAGE)
    again = memo.page(body(IMAGE, {"id": "y"})).images[0]
    assert again is second and shaped_json(again, v1_image_of) is detail
    assert orjson.loads(shaped_json(again, v1_summary_of)) == summary_of(to_v1_image(IMAGE))


def test_an_image_whose_bytes_differ_in_any_way_is_read_afresh(every_body_through_the_memo):
    memo = ListingMemo(10, PLENTY)
    first, = seen(memo, IMAGE)
    changed = memo.page(body({**IMAGE, "status": "deactivated"})).images[0]
    assert changed is not first
    assert orjson.loads(shaped_json(changed, v1_image_of))["status"] == "deactivated"


def looked_up(memo: ListingMemo, image):
    """``image`` as the memo gives it back in a body never seen before (so that what
    comes back is the image's entry, not a whole body's)."""
    looked_up.count = getattr(looked_up, "count", 0) + 1
    return memo.page(body(image, {"id": f"filler-{looked_up.count}"})).images[0]


def test_a_full_memo_replaces_only_an_entry_unused_for_a_while(every_body_through_the_memo):
    memo = ListingMemo(2, PLENTY)
    a, b, c = ({"id": i} for i in "abc")
    first_a, = seen(memo, a)
    first_b, = seen(memo, b)
    newcomer, = seen(memo, c)  # full, and a and b were used just now: c is not kept
    assert looked_up(memo, c) is not newcomer
    assert looked_up(memo, a) is first_a  # a used again: b is the oldest
    for _ in range(listing_memo.STALE_AFTER):  # b unused while 8 x 2 images are read
        looked_up(memo, a)
    later = looked_up(memo, c)  # now c takes b's place
    assert looked_up(memo, c) is later
    assert looked_up(memo, a) is first_a
    assert looked_up(memo, b) is not first_b


def test_past_its_bytes_the_least_recently_used_stale_image_is_forgotten(
        every_body_through_the_memo):
    a, b = {"id": "a", "name": "x" * 100}, {"id": "b", "name": "y" * 100}
    memo = ListingMemo(2, len(orjson.dumps(a)) + len(orjson.dumps(b)) + 10)
    first_a, = seen(memo, a)
    first_b, = seen(memo, b)
    assert memo.page(body(a, b)).images == (first_a, first_b)  # both fit
    for n in range(listing_memo.STALE_AFTER * 2):
        memo.page(body({"id": f"other-{n}"}))
    seen(memo, {"id": "c", "name": "z" * 100})  # a third does not fit: the least
    assert looked_up(memo, b) is first_b  # recently used (a, then b) goes
    assert looked_up(memo, a) is not first_a


def test_a_catalogue_larger_than_the_memo_walked_again_and_again_keeps_what_it_holds(
        every_body_through_the_memo):
    memo = ListingMemo(4, PLENTY)
    catalogue = [{"id": str(n)} for n in range(6)]
    for _ in range(2):
        for image in catalogue:
            looked_up(memo, image)
    before = [looked_up(memo, image) for image in catalogue]
    after = [looked_up(memo, image) for image in catalogue]
    # the four it took first stay; an LRU would have pushed out each just before its turn
    assert [x is y for x, y in zip(before, after)] == [True] * 4 + [False] * 2


def test_zero_remembers_nothing():
    for off in (ListingMemo(0, PLENTY), ListingMemo(PLENTY, 0)):
        for _ in range(3):
            first, second = off.page(body(IMAGE)), off.page(body(IMAGE))
            assert first is not second and first.images[0] is not second.images[0]
            assert not through_the_memo(first.images[0])


def test_a_body_seen_before_comes_back_as_the_same_page_while_bodies_hold_few_enough_images(
        every_body_through_the_memo):
    memo = ListingMemo(3, PLENTY)
    two, one = body(IMAGE, {"id": "b"}), body({"id": "c"})
    memo.page(two)
    first = memo.page(two)  # its second sighting: kept
    assert memo.page(bytes(bytearray(two))) is first  # equal bytes, another object
    memo.page(one)
    page_one = memo.page(one)  # 2 + 1 images: both bodies kept
    assert memo.page(two) is first and memo.page(one) is page_one
    big = body(*({"id": str(n)} for n in range(4)))  # more images than the memo holds
    memo.page(big)
    assert memo.page(big) is not memo.page(big)


def test_a_body_found_by_its_fingerprint_is_the_body_read_or_it_is_read_afresh(
        every_body_through_the_memo):
    # Bodies are found by a sample of their bytes: one that differs only where the sample
    # does not look must not be answered with the other's page.
    names = [f"image-{n:04d}" for n in range(64)]
    kept = body(*({"id": str(n), "name": name} for n, name in enumerate(names)))
    step = len(kept) // 256 + 1
    at = next(i for i in range(kept.index(b"image-0031"), len(kept) - 128)
              if i % step and kept[i:i + 1] == b"3")
    other = kept[:at] + b"7" + kept[at + 1:]  # same length, same sample, same end
    assert listing_memo._fingerprint(other) == listing_memo._fingerprint(kept)
    memo = ListingMemo(PLENTY, PLENTY)
    memo.page(kept)
    first = memo.page(kept)
    assert memo.page(kept) is first  # kept, and found
    found = memo.page(other)
    assert found is not first
    changed = orjson.loads(other)["images"]
    assert [read(image.v2) for image in found.images] == list(map(read, changed))
    assert changed != orjson.loads(kept)["images"]
    assert memo.page(kept) is first  # a first sighting of the other pushes nothing out
    again = memo.page(other)  # its second sighting: kept in the other's place
    assert memo.page(other) is again and memo.page(kept) is not first
    assert (memo._bodies.images, memo._bodies.bytes) == (64, len(other))  # counted once


def test_empty_bodies_count_as_one_image_each_so_they_are_bounded_too(
        every_body_through_the_memo):
    memo = ListingMemo(3, PLENTY)
    empties = [body(first=f"/v2/images?name=none-{n}") for n in range(4)]
    pages = [memo.page(raw) for raw in empties + empties][4:]
    assert [memo.page(raw) is page for raw, page in zip(empties, pages)] == [
        True, True, True, False]  # the fourth did not fit
    assert ListingMemo(0, PLENTY).page(body()) == ListPage((), False)


def test_while_nothing_repeats_one_body_in_sample_every_goes_through_the_memo():
    memo = ListingMemo(10, PLENTY)
    memo.page(body(IMAGE))  # new: nothing repeated, so the next bodies are read in one pass
    skipped = [memo.page(body(IMAGE)) for _ in range(listing_memo.SAMPLE_EVERY - 1)]
    assert not any(through_the_memo(page.images[0]) for page in skipped)  # one pass
    sampled = memo.page(body(IMAGE))  # through the memo: its second sighting there
    assert through_the_memo(sampled.images[0])
    assert memo.page(body(IMAGE)) is sampled  # repeating: every body goes through it now


@pytest.mark.parametrize("raw", [b"not json", b"[]", b"{}", b'{"images": {}}', b'{"images": 3}',
                                 b'{"images": [1]}', b'{"images": [{}]}', b'{"images": [null]}',
                                 b'{"images": [{"id": 7}]}', b'{"images": [{"id": 1e99999}]}',
                                 b'{"images": [', b""])
def test_a_body_that_is_not_a_v2_image_list_is_a_shape_error(raw):
    for memo in (ListingMemo(10, PLENTY), ListingMemo(0, PLENTY)):  # split, and one pass
        with pytest.raises(UpstreamShapeError):
            memo.page(raw)
        memo.page(body(IMAGE))  # its keys learned: the next bodies are read typed first
        with pytest.raises(UpstreamShapeError):
            memo.page(raw)


def test_past_its_bound_of_custom_keys_the_memo_reads_dicts_and_says_so_once(caplog):
    many = dict(IMAGE, **{f"k{n}": str(n) for n in range(MAX_CUSTOM_KEYS + 1)})
    memo = ListingMemo(0, PLENTY)
    with caplog.at_level(logging.WARNING, logger="proxy.shell.listing_memo"):
        pages = [memo.page(body(IMAGE)), memo.page(body(many, IMAGE)), memo.page(body(IMAGE))]
    assert [record.getMessage() for record in caplog.records] == [
        f"listed images carry more than {MAX_CUSTOM_KEYS} custom property names: lists are "
        "read as dicts from now on, about 1.4x the CPU an image"]
    assert [type(page.images[-1].v2) is dict for page in pages] == [True, True, True]
    assert orjson.loads(listing_json(pages[1].images, v1_image_of)) == {
        "images": [to_v1_image(many), to_v1_image(IMAGE)]}


def test_a_listing_is_the_same_json_whether_its_images_were_kept_or_read_in_one_pass(
        every_body_through_the_memo):
    images = (IMAGE, {"id": "b", "name": "", "size": 3, "status": "queued"})
    kept_page = seen(ListingMemo(10, PLENTY), *images)
    one_pass = list(ListingMemo(0, PLENTY).page(body(*images)).images)
    assert through_the_memo(kept_page[0]) and not through_the_memo(one_pass[0])
    expected = {"images": [to_v1_image(image) for image in images]}
    for listed in (kept_page, one_pass, [kept_page[0], one_pass[1]]):
        assert orjson.loads(listing_json(listed, v1_image_of)) == expected
    assert (listing_json(kept_page, v1_image_of) == listing_json(one_pass, v1_image_of)
            == listing_json([one_pass[0], kept_page[1]], v1_image_of))
    assert listing_json([], v1_summary_of) == b'{"images":[]}'


def test_a_new_body_among_answers_that_repeat_does_not_turn_the_memo_away():
    memo = ListingMemo(10, PLENTY)
    repeated = body(IMAGE, {"id": "b"})
    for _ in range(listing_memo.SAMPLE_EVERY + 2):  # past the first sampling: kept
        kept_page = memo.page(repeated)
    for n in range(3):  # an answer to another filter now and then, all new
        memo.page(body(first=f"/v2/images?name=none-{n}"))
        assert memo.page(repeated) is kept_page  # still served from the memo
