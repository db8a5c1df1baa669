"""v2 list bodies -> typed, immutable pages, each distinct image parsed once
(proxy.shell.listing_memo), and the v1 JSON of each distinct image made once."""

import dataclasses

import orjson
import pytest

from proxy.shell.image_reads import shaped_json
from proxy.shell.listing_memo import ListingMemo
from proxy.v1.images import to_v1_image, to_v1_summary
from proxy.v2.answers import ListPage, UpstreamShapeError

IMAGE = {"id": "a", "name": "cirros", "status": "active", "visibility": "public",
         "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-02T00:00:00Z",
         "os_distro": "cirros"}
PLENTY = 1 << 30


def body(*images, **rest) -> bytes:
    return orjson.dumps({"images": list(images), **rest})


def test_a_list_body_reads_as_a_page_of_its_images_with_next_only_when_the_body_has_it():
    memo = ListingMemo(10, PLENTY)
    page = memo.page(body(IMAGE, {"id": "b"}))
    assert isinstance(page, ListPage) and page.has_next is False
    assert [image.v2 for image in page.images] == [IMAGE, {"id": "b"}]
    page = memo.page(body(IMAGE, next="/v2/images?marker=a", first="/v2/images"))
    assert [image.v2 for image in page.images] == [IMAGE] and page.has_next is True


def test_a_page_is_immutable():
    page = ListingMemo(10, PLENTY).page(body(IMAGE))
    with pytest.raises(dataclasses.FrozenInstanceError):
        page.has_next = True
    with pytest.raises(dataclasses.FrozenInstanceError):
        page.images[0].v2 = {}
    assert isinstance(page.images, tuple)


def test_the_same_image_bytes_come_back_as_the_same_parsed_image_with_its_json_made_once():
    memo = ListingMemo(10, PLENTY)
    first = memo.page(body(IMAGE)).images[0]
    detail = shaped_json(first, to_v1_image)
    assert orjson.loads(detail) == to_v1_image(IMAGE)
    again = memo.page(body({"id": "z"}, IMAGE)).images[1]
    assert again is first and shaped_json(again, to_v1_image) is detail
    assert orjson.loads(shaped_json(again, to_v1_summary)) == to_v1_summary(IMAGE)


def test_an_image_whose_bytes_differ_in_any_way_is_read_afresh():
    memo = ListingMemo(10, PLENTY)
    first = memo.page(body(IMAGE)).images[0]
    changed = memo.page(body({**IMAGE, "status": "deactivated"})).images[0]
    assert changed is not first
    assert orjson.loads(shaped_json(changed, to_v1_image))["status"] == "deactivated"


def test_past_its_image_count_the_least_recently_used_image_is_forgotten():
    memo = ListingMemo(2, PLENTY)
    a, b, c = ({"id": i} for i in "abc")
    first_a = memo.page(body(a)).images[0]
    first_b = memo.page(body(b)).images[0]
    assert memo.page(body(a, c)).images[0] is first_a  # a used again: b is now the oldest
    assert memo.page(body(a)).images[0] is first_a
    assert memo.page(body(b)).images[0] is not first_b


def test_past_its_bytes_the_least_recently_used_image_is_forgotten():
    a, b = {"id": "a", "name": "x" * 100}, {"id": "b", "name": "y" * 100}
    memo = ListingMemo(100, len(orjson.dumps(a)) + len(orjson.dumps(b)) + 10)
    first_a = memo.page(body(a)).images[0]
    memo.page(body(b))
    assert memo.page(body(a, b)).images[0] is first_a  # both fit
    memo.page(body({"id": "c", "name": "z" * 100}))  # a third does not fit: the least
    assert memo.page(body(a)).images[0] is not first_a  # recently used (a, then b) goes


def test_zero_remembers_nothing():
    for off in (ListingMemo(0, PLENTY), ListingMemo(PLENTY, 0)):
        assert off.page(body(IMAGE)).images[0] is not off.page(body(IMAGE)).images[0]
        assert off.page(body(IMAGE)) is not off.page(body(IMAGE))


def test_a_body_seen_before_comes_back_as_the_same_page_while_bodies_hold_few_enough_images():
    memo = ListingMemo(3, PLENTY)
    two, one = body(IMAGE, {"id": "b"}), body({"id": "c"})
    first = memo.page(two)
    assert memo.page(bytes(bytearray(two))) is first  # equal bytes, another object
    page_one = memo.page(one)  # 2 + 1 images: both bodies kept
    assert memo.page(two) is first and memo.page(one) is page_one
    assert memo.page(two) is first  # used last: "one" is now the least recently used
    memo.page(body({"id": "d"}))  # one image too many: "one" goes, "two" stays
    assert memo.page(two) is first and memo.page(one) is not page_one
    big = body(*({"id": str(n)} for n in range(4)))  # more images than the memo holds
    assert memo.page(big) is not memo.page(big)


def test_empty_bodies_count_as_one_image_each_so_they_are_bounded_too():
    memo = ListingMemo(3, PLENTY)
    empties = [body(first=f"/v2/images?name=none-{n}") for n in range(4)]
    pages = [memo.page(raw) for raw in empties]
    assert memo.page(empties[3]) is pages[3] and memo.page(empties[2]) is pages[2]
    assert memo.page(empties[0]) is not pages[0]  # the fourth pushed out the first
    assert ListingMemo(0, PLENTY).page(body()) == ListPage((), False)


@pytest.mark.parametrize("raw", [b"not json", b"[]", b"{}", b'{"images": {}}', b'{"images": 3}',
                                 b'{"images": [1]}', b'{"images": [{}]}', b'{"images": [null]}',
                                 b'{"images": [{"id": 7}]}', b'{"images": [{"id": 1e99999}]}',
                                 b'{"images": [', b""])
def test_a_body_that_is_not_a_v2_image_list_is_a_shape_error(raw):
    with pytest.raises(UpstreamShapeError):
        ListingMemo(10, PLENTY).page(raw)
