"""v1 writes -> v2 create bodies and JSON patches (docs/v1-api.md#43-update,
docs/v2-upstream.md#5-writes)."""

import pytest

from proxy.v1.errors import V1Error
from proxy.v1.meta import ImageMeta
from proxy.v2.writes import create_body, external_source, update_patch

IMAGE = {"id": "i", "status": "active", "name": "old", "visibility": "private",
         "checksum": "c" * 32, "size": 3, "min_ram": 0, "protected": False,
         "os_distro": "ubuntu", "a/b~c": "x", "tags": []}


def test_create_maps_fields_visibility_and_drops_what_v2_computes_itself():
    meta = ImageMeta({"name": "n", "disk_format": "raw", "size": 3, "checksum": "c",
                      "status": "active", "is_public": False, "min_ram": 1},
                     {"k": "v", "nothing": None})
    assert create_body(meta, not_public="shared") == {  # an empty property is kept, as ""
        "name": "n", "disk_format": "raw", "min_ram": 1, "visibility": "shared", "k": "v",
        "nothing": ""}
    assert create_body(ImageMeta({"is_public": True}), not_public="private") == {
        "visibility": "public"}
    assert create_body(ImageMeta(), not_public="private") == {"visibility": "private"}


def test_update_replaces_changed_fields_adds_properties_and_purges_the_rest():
    meta = ImageMeta({"name": "new", "min_ram": 0, "is_public": True}, {"k": "v"})
    assert update_patch(IMAGE, meta, purge=True, not_public="shared") == [
        {"op": "replace", "path": "/name", "value": "new"},
        {"op": "replace", "path": "/visibility", "value": "public"},
        {"op": "add", "path": "/k", "value": "v"},
        {"op": "remove", "path": "/a~1b~0c"},
        {"op": "remove", "path": "/os_distro"}]
    # an empty value keeps the key, with v1's null (v2's "")
    assert update_patch(IMAGE, ImageMeta({}, {"os_distro": None, "new": None}), purge=False,
                        not_public="shared") == [
        {"op": "add", "path": "/os_distro", "value": ""},
        {"op": "add", "path": "/new", "value": ""}]
    assert update_patch({**IMAGE, "os_distro": ""}, ImageMeta({}, {"os_distro": None}),
                        purge=True, not_public="shared") == [
        {"op": "remove", "path": "/a~1b~0c"}]
    assert update_patch(IMAGE, ImageMeta({"is_public": False}, {"os_distro": "ubuntu"}),
                        purge=False, not_public="shared") == []


def test_purging_leaves_the_keys_glance_keeps_and_purges_double_underscore_keys_on_glance():
    image = {**IMAGE, "os_glance_failed_import": "", "os_glance_importing_to_stores": "",
             "__os_type": "Linux"}
    # on Glance a __* key is an ordinary property the user set, and v1 purged it
    assert update_patch(image, ImageMeta({}, {"os_distro": "ubuntu", "a/b~c": "x"}),
                        purge=True, not_public="shared") == [
        {"op": "remove", "path": "/__os_type"}]


def test_purging_leaves_the_properties_the_upstream_keeps_for_itself():
    image = {**IMAGE, "__platform": "Ubuntu", "__image_size": "3", "x_sys": "1"}
    assert update_patch(image, ImageMeta({}, {"os_distro": "ubuntu", "a/b~c": "x"}),
                        purge=True, not_public="private",
                        upstream_prefixes=("__", "x_")) == []


@pytest.mark.parametrize("fields, detail", [
    ({"status": "queued"}, "Forbidden to modify 'status' of image."),
    ({"id": "other"}, "Forbidden to modify 'id' of image."),
    ({"size": 4}, "Forbidden to modify 'size' of active image."),
    ({"checksum": "d" * 32}, "Forbidden to modify 'checksum' of active image."),
])
def test_what_v1_forbade_changing_is_403(fields, detail):
    with pytest.raises(V1Error) as refused:
        update_patch(IMAGE, ImageMeta(fields), purge=False, not_public="shared")
    assert (refused.value.status, refused.value.detail) == (403, detail)
    # the same value is accepted
    same = {key: IMAGE[key] for key in fields}
    assert update_patch(IMAGE, ImageMeta(same), purge=False, not_public="shared") == []


@pytest.mark.parametrize("name", ["os_glance_import", "location", "tags", "owner", "is_public"])
def test_property_names_v2_keeps_for_itself_are_400(name):
    with pytest.raises(V1Error) as refused:
        create_body(ImageMeta({}, {name: "x"}), not_public="shared")
    assert refused.value.status == 400 and f"Property '{name}' is reserved" in refused.value.detail


def test_external_sources_are_checked_as_v1_checked_them():
    assert external_source(ImageMeta(), None, with_data=True) is None
    assert external_source(ImageMeta(), "http://x/y", with_data=False) == "http://x/y"
    assert external_source(ImageMeta({"location": "HTTPS://x/y"}), None, False) == "HTTPS://x/y"


@pytest.mark.parametrize("location, copy_from, with_data, detail", [
    (None, "", False, "External source should not be empty"),
    ("http://a/b", "http://a/c", False, "It's invalid to provide multiple image sources."),
    (None, "http://a/c", True, "It's invalid to provide multiple image sources."),
    ("file:///etc/passwd", None, False, "External sources are not supported: 'file:///etc/passwd'"),
])
def test_external_sources_v1_refused(location, copy_from, with_data, detail):
    with pytest.raises(V1Error) as refused:
        external_source(ImageMeta({"location": location}), copy_from, with_data)
    assert (refused.value.status, refused.value.detail) == (400, detail)
