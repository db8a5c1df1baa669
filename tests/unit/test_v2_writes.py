"""v1 writes -> v2 create bodies and JSON patches (docs/v1-api.md#43-update,
docs/v2-upstream.md#5-writes)."""

import pytest

from proxy.v1.errors import V1Error
from proxy.v1.meta import ImageMeta
from proxy.v2.writes import NO_WEB_DOWNLOAD, create_body, external_source, update_patch
from tests.support.webob_bodies import SIZE_OF_ACTIVE_IMAGE, proxy_answers, webob_answers

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


# glance/api/v1/images.py update (16.0.1): HTTPForbidden(explanation=msg) for each
@pytest.mark.parametrize("fields, message", [
    ({"status": "queued"}, "Forbidden to modify 'status' of image."),
    ({"id": "other"}, "Forbidden to modify 'id' of image."),
    ({"size": 4}, "Forbidden to modify 'size' of active image."),
    ({"checksum": "d" * 32}, "Forbidden to modify 'checksum' of active image."),
])
def test_what_v1_forbade_changing_is_403_with_the_message_as_explanation(fields, message):
    with pytest.raises(V1Error) as refused:
        update_patch(IMAGE, ImageMeta(fields), purge=False, not_public="shared")
    assert refused.value == V1Error(403, explanation=message)
    assert proxy_answers(refused.value) == webob_answers(403, explanation=message)
    # the same value is accepted
    same = {key: IMAGE[key] for key in fields}
    assert update_patch(IMAGE, ImageMeta(same), purge=False, not_public="shared") == []


def test_changing_size_of_an_active_image_is_v1s_body_in_every_form():
    # issue 13, item 6: the bytes v1 (WebOb 1.7.4) answered
    with pytest.raises(V1Error) as refused:
        update_patch(IMAGE, ImageMeta({"size": 4}), purge=False, not_public="shared")
    assert proxy_answers(refused.value) == SIZE_OF_ACTIVE_IMAGE


def test_a_deactivated_image_is_named_and_size_is_checked_before_status():
    # v1 checked ACTIVE_IMMUTABLE (size, checksum) before IMMUTABLE (status, id)
    image = {**IMAGE, "status": "deactivated"}
    with pytest.raises(V1Error) as refused:
        update_patch(image, ImageMeta({"checksum": "d" * 32, "status": "active"}),
                     purge=False, not_public="shared")
    assert refused.value == V1Error(
        403, explanation="Forbidden to modify 'checksum' of deactivated image.")


@pytest.mark.parametrize("name", ["os_glance_import", "location", "tags", "owner", "is_public"])
def test_property_names_v2_keeps_for_itself_are_400(name):
    # the proxy's own refusal, worded by the proxy, the message as the explanation
    with pytest.raises(V1Error) as refused:
        create_body(ImageMeta({}, {name: "x"}), not_public="shared")
    assert refused.value == V1Error(400, explanation=(
        f"Property '{name}' is reserved by the v2 image service behind this proxy and cannot "
        "be set as a custom property."))


def test_external_sources_are_checked_as_v1_checked_them():
    assert external_source(ImageMeta(), None, with_data=True) is None
    assert external_source(ImageMeta(), "http://x/y", with_data=False) == "http://x/y"
    assert external_source(ImageMeta({"location": "HTTPS://x/y"}), None, False) == "HTTPS://x/y"


# glance/api/v1/images.py (16.0.1) _validate_source and _handle_source:
# HTTPBadRequest(explanation=msg). ``location``: the x-image-meta-location header (absent
# when None, "" when sent empty).
@pytest.mark.parametrize("location, copy_from, with_data, message", [
    (None, "", False, "External source should not be empty"),
    ("", None, False, "External source should not be empty"),
    ("", "http://a/c", False, "External source should not be empty"),  # location is read
    ("http://a/b", "http://a/c", False, "It's invalid to provide multiple image sources."),
    (None, "http://a/c", True, "It's invalid to provide multiple image sources."),
    ("file:///etc/passwd", None, False, "External sources are not supported: 'file:///etc/passwd'"),
    # the source is checked before v1 counted the sources
    ("file:///etc/passwd", None, True, "External sources are not supported: 'file:///etc/passwd'"),
    ("file:///etc/passwd", "http://a/c", False,
     "External sources are not supported: 'file:///etc/passwd'"),
])
def test_external_sources_v1_refused(location, copy_from, with_data, message):
    fields = {} if location is None else {"location": location or None}
    with pytest.raises(V1Error) as refused:
        external_source(ImageMeta(fields), copy_from, with_data)
    assert refused.value == V1Error(400, explanation=message)
    assert proxy_answers(refused.value) == webob_answers(400, explanation=message)


def test_an_upstream_without_web_download_is_the_proxys_own_400_as_an_explanation():
    assert NO_WEB_DOWNLOAD.status == 400 and NO_WEB_DOWNLOAD.detail == ""
    assert NO_WEB_DOWNLOAD.explanation.startswith("External image sources (x-image-meta-location")
