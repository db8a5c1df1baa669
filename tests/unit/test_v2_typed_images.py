"""v2 list images decoded into types learned from the catalogue's keys
(proxy.v2.typed_images): shaped exactly as the same image read as a dict, and never read
typed when they do not fit."""

import msgspec
import pytest

from proxy.v1.images import BadImage, to_v1_image, v1_image_of, v1_summary_of
from proxy.v2.typed_images import MAX_CUSTOM_KEYS, ImageTypes, ListedImage

from tests.unit.test_v1_images import V2_CIRROS


def typed(image: dict) -> ListedImage | None:
    """``image`` as a list read it once its keys were learned."""
    types = ImageTypes()
    types.learn([image])
    return types.image(msgspec.json.encode(image))


def listed(images) -> list[dict]:
    """A listing as a client reads it: written in one encode, read back."""
    return msgspec.json.decode(msgspec.json.encode([v1_image_of(i) for i in images]))


# Each case of tests/unit/test_v1_images.py, where the dict form is checked against v1.
SHOWN_ALIKE = {
    "the seed's cirros": V2_CIRROS,
    "custom properties, IMS's among them": dict(
        V2_CIRROS, os_distro="ubuntu", __os_version="Ubuntu 22.04 64bit",
        __image_size="13167616", os_glance_import_task="t", locations=[],
        direct_url="file:///x"),
    "private": dict(V2_CIRROS, visibility="private"),
    "queued, with nulls": dict(V2_CIRROS, status="queued", size=None, checksum=None,
                               disk_format=None, container_format=None, name=None),
    "a property held as empty": dict(V2_CIRROS, empty="", blank=" ", nothing=None),
    "uploading": dict(V2_CIRROS, status="uploading", size=None),
    "IMS's zero size": dict(V2_CIRROS, size=0, __image_size="40960"),
    "unknown size": dict(V2_CIRROS, size=None),
    "timestamps with sub-seconds and zones": dict(
        V2_CIRROS, created_at="2016-05-22T06:04:20.425843Z",
        updated_at="2016-05-22T08:04:20+02:00"),
    "shown fields left out": {"id": "a", "status": "active", "k": "v"},
    "a number past 64 bits": dict(V2_CIRROS, size=1 << 70),
    "a protected image with a minimum": dict(V2_CIRROS, protected=True, min_ram=512),
    "one custom key": dict(V2_CIRROS, one="1"),
}


@pytest.mark.parametrize("image", SHOWN_ALIKE.values(), ids=SHOWN_ALIKE)
def test_a_typed_image_is_shown_as_the_same_image_read_as_a_dict(image):
    read = typed(image)
    assert isinstance(read, ListedImage)
    assert to_v1_image(read) == to_v1_image(image)
    assert listed([read]) == listed([image])
    assert v1_summary_of(read) == v1_summary_of(image)


def test_the_seeds_cirros_read_typed_has_exactly_the_v1_detail_fields():
    assert listed([typed(dict(V2_CIRROS, os_distro="cirros", empty=""))]) == [{
        "id": "3c3d1d01-b48a-4639-8a88-08be3b9b5d78", "name": "cirros", "status": "active",
        "size": 13167616, "virtual_size": None, "checksum": "64d7c1cd2b6f60c92c14662941cb7913",
        "disk_format": "qcow2", "container_format": "bare", "min_disk": 0, "min_ram": 0,
        "owner": "23f4cb75768d4febb39542ef6fe169f3", "is_public": True, "protected": False,
        "created_at": "2016-05-22T06:04:20.000000", "updated_at": "2016-05-22T06:04:22.000000",
        "deleted_at": None, "deleted": False,
        "properties": {"empty": None, "os_distro": "cirros"}}]


def test_a_body_with_a_key_not_learned_is_read_typed_only_once_its_keys_are_learned():
    types = ImageTypes()
    body = msgspec.json.encode({"images": [V2_CIRROS, dict(V2_CIRROS, id="b", new="1")],
                                "next": "/v2/images?marker=b"})
    assert types.read(body) is None
    types.learn(msgspec.json.decode(body)["images"])
    images, has_next = types.read(body)
    assert [image["id"] for image in images] == [V2_CIRROS["id"], "b"] and has_next is True
    assert [shown["properties"] for shown in listed(images)] == [{}, {"new": "1"}]
    no_next = msgspec.json.encode({"images": [V2_CIRROS]})
    assert types.read(no_next)[1] is False


def test_an_image_shows_only_its_own_custom_keys_never_those_another_image_taught():
    types = ImageTypes()
    types.learn([dict(V2_CIRROS, secret_project_tag="x", shared="1")])
    read = types.image(msgspec.json.encode(dict(V2_CIRROS, shared="2")))
    assert listed([read])[0]["properties"] == {"shared": "2"}
    assert b"secret_project_tag" not in msgspec.json.encode(v1_image_of(read))
    assert to_v1_image(read)["properties"] == {"shared": "2"}


def test_the_fields_follow_the_newest_layouts_key_order_and_any_order_reads_the_same():
    # msgspec finds a key's field at once when the fields follow the image's keys
    types = ImageTypes()
    first, newer = dict(V2_CIRROS, a="1"), dict(reversed(list(dict(V2_CIRROS, b="2").items())))
    types.learn([first, newer])
    read = types.image(msgspec.json.encode(first))
    assert type(read).__struct_encode_fields__ == (*newer, "a")
    assert to_v1_image(read) == to_v1_image(first)


def test_properties_are_written_in_sorted_key_order_whichever_way_the_image_was_read():
    image = dict(V2_CIRROS, zeta="z", alpha="", mid=None)
    written = b'"properties":{"alpha":null,"mid":null,"zeta":"z"}}'
    assert msgspec.json.encode(v1_image_of(typed(image))).endswith(written)
    # the dict form: a new layout's dict, then the Struct it gets once met 32 times
    layout = [dict(image, id=f"{n}") for n in range(40)]
    assert all(msgspec.json.encode(v1_image_of(i)).endswith(written) for i in layout)


@pytest.mark.parametrize("field, value", [
    ("size", True), ("size", "1"), ("min_ram", 1.5), ("name", 5), ("visibility", ["public"]),
    ("protected", "yes"), ("created_at", 1), ("id", None), ("owner", {"a": 1}),
])
def test_shown_fields_of_other_types_than_v2_documents_are_never_read_typed(field, value):
    # read as dicts, where the shaping refuses them as before (a v1 500, never a guess)
    image = dict(V2_CIRROS, **{field: value})
    assert typed(image) is None
    if field != "id":  # an image without a string id is refused before it is shaped
        with pytest.raises(BadImage):
            v1_image_of(image)


def test_an_image_without_an_id_is_never_read_typed():
    assert typed({"name": "no id"}) is None


def test_a_typed_image_reads_like_the_dict_it_was_decoded_from():
    read = typed(dict(V2_CIRROS, os_distro="ubuntu", nothing=None))
    assert read["id"] == V2_CIRROS["id"] and read.get("os_distro") == "ubuntu"
    assert read.get("nothing", "x") is None and read.get("tags") == ["a"]
    types = ImageTypes()
    types.learn([dict(V2_CIRROS, other="1")])
    without = types.image(msgspec.json.encode(V2_CIRROS))
    assert without.get("other") is None and without.get("other", "absent") == "absent"
    assert without.get("never_seen", 1) == 1
    with pytest.raises(KeyError):
        without["other"]
    # a shown field it lacks reads as null, as the shaping reads it (not as absent)
    bare = typed({"id": "a"})
    assert bare.get("owner", "absent") is None and bare["visibility"] is None


def test_a_catalogue_with_more_custom_keys_than_the_bound_is_read_as_dicts():
    at_most = dict(V2_CIRROS, **{f"k{n}": "v" for n in range(MAX_CUSTOM_KEYS)})
    assert typed(at_most) is not None
    types = ImageTypes()
    types.learn([at_most, dict(V2_CIRROS, one_more="v")])
    assert types.typing is False
    assert types.read(msgspec.json.encode({"images": [V2_CIRROS]})) is None
    assert types.image(msgspec.json.encode(V2_CIRROS)) is None


def test_property_names_a_struct_field_cannot_carry_are_read_as_dicts_and_no_other():
    for odd in ('say "hi"', "back\\slash", "tab\there"):
        assert typed(dict(V2_CIRROS, **{odd: "1"})) is None
    types = ImageTypes()
    types.learn([dict(V2_CIRROS, **{'say "hi"': "1"}), dict(V2_CIRROS, plain="2")])
    assert types.image(msgspec.json.encode(dict(V2_CIRROS, **{'say "hi"': "1"}))) is None
    read = types.image(msgspec.json.encode(dict(V2_CIRROS, plain="2")))
    assert listed([read])[0]["properties"] == {"plain": "2"}
    decoders = types._decoders
    types.learn([dict(V2_CIRROS, **{"back\\slash": "3"})])  # only an unfit key: no new types
    assert types._decoders is decoders
    assert listed([typed(dict(V2_CIRROS, é="4", p0="5", f0="6"))])[0]["properties"] == {
        "é": "4", "p0": "5", "f0": "6"}


def test_a_catalogue_with_more_unfit_keys_than_the_bound_is_read_as_dicts():
    # (and a hostile image of many keys is not tried key by key: it is refused at once)
    types = ImageTypes()
    types.learn([dict(V2_CIRROS, **{f'"{n}"': "v" for n in range(100_000)})])
    assert types.typing is False and types._unfit == set()
    assert types.image(msgspec.json.encode(V2_CIRROS)) is None
