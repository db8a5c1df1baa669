"""v2 list bodies read with each distinct image parsed and translated once (proxy.imagememo)."""

import orjson
import pytest

from proxy.imagememo import ImageMemo
from proxy.v1.images import to_v1_image, to_v1_summary
from proxy.v2.answers import UpstreamShapeError

IMAGE = {"id": "a", "name": "cirros", "status": "active", "visibility": "public",
         "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-02T00:00:00Z",
         "os_distro": "cirros"}


def body(*images, **rest) -> bytes:
    return orjson.dumps({"images": list(images), **rest})


def test_a_list_body_reads_as_the_parsed_json_with_next_only_when_the_body_has_it():
    memo = ImageMemo(10)
    read = memo.read_list(body(IMAGE, {"id": "b"}))
    assert list(read) == ["images"] and [image.v2 for image in read["images"]] == [IMAGE, {"id": "b"}]
    first = read["images"][0]
    assert (first["id"], first.get("name"), first.get("nothing", 7)) == ("a", "cirros", 7)
    read = memo.read_list(body(IMAGE, next="/v2/images?marker=a", first="/v2/images"))
    assert [image.v2 for image in read["images"]] == [IMAGE] and list(read) == ["images", "next"]


def test_the_same_image_bytes_come_back_as_the_same_parsed_image_with_its_json_made_once():
    memo = ImageMemo(10)
    first = memo.read_list(body(IMAGE))["images"][0]
    detail = first.v1_json(to_v1_image)
    assert orjson.loads(detail) == to_v1_image(IMAGE)
    again = memo.read_list(body({"id": "z"}, IMAGE))["images"][1]
    assert again is first and again.v1_json(to_v1_image) is detail
    assert orjson.loads(again.v1_json(to_v1_summary)) == to_v1_summary(IMAGE)


def test_an_image_whose_bytes_differ_in_any_way_is_read_afresh():
    memo = ImageMemo(10)
    first = memo.read_list(body(IMAGE))["images"][0]
    changed = memo.read_list(body({**IMAGE, "status": "deactivated"}))["images"][0]
    assert changed is not first
    assert orjson.loads(changed.v1_json(to_v1_image))["status"] == "deactivated"


def test_past_its_size_the_oldest_image_is_forgotten_and_zero_remembers_nothing():
    memo = ImageMemo(2)
    a, b, c = ({"id": i} for i in "abc")
    first_a = memo.read_list(body(a))["images"][0]
    memo.read_list(body(b, c))  # a is dropped
    assert memo.read_list(body(a))["images"][0] is not first_a
    off = ImageMemo(0)
    assert off.read_list(body(a))["images"][0] is not off.read_list(body(a))["images"][0]


def test_a_body_seen_before_comes_back_as_it_was_read_while_bodies_hold_few_enough_images():
    memo = ImageMemo(3)
    two, one = body(IMAGE, {"id": "b"}), body({"id": "c"})
    first = memo.read_list(two)
    assert memo.read_list(bytes(bytearray(two))) is first  # equal bytes, another object
    memo.read_list(one)  # 2 + 1 images: both bodies kept
    assert memo.read_list(two) is first
    memo.read_list(body({"id": "d"}))  # one image too many: the oldest body goes
    assert memo.read_list(two) is not first
    big = body(*({"id": str(n)} for n in range(4)))  # more images than the memo holds
    assert memo.read_list(big) is not memo.read_list(big)


def test_empty_bodies_count_as_one_image_each_so_they_are_bounded_too():
    memo = ImageMemo(3)
    for n in range(100):
        memo.read_list(body(first=f"/v2/images?name=none-{n}"))
    assert len(memo._bodies) == 3
    off = ImageMemo(0)
    assert off.read_list(body()) == {"images": ()} and len(off._bodies) == 0


@pytest.mark.parametrize("raw", [b"not json", b"[]", b"{}", b'{"images": {}}', b'{"images": 3}',
                                 b'{"images": [1]}', b'{"images": [{}]}', b'{"images": [null]}',
                                 b'{"images": [{"id": 7}]}', b'{"images": [{"id": 1e99999}]}',
                                 b'{"images": [', b""])
def test_a_body_that_is_not_a_v2_image_list_is_a_shape_error(raw):
    with pytest.raises(UpstreamShapeError):
        ImageMemo(10).read_list(raw)

