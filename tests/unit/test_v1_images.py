"""v2 image -> v1 detail image: docs/v1-api.md#27-response-shapes and the seed's example."""

import msgspec

from proxy.v1.images import (download_refusal, meta_headers, to_v1_image, v1_image_of,
                             v1_summary_of, v1_timestamp)

V2_CIRROS = {
    "id": "3c3d1d01-b48a-4639-8a88-08be3b9b5d78",
    "name": "cirros",
    "status": "active",
    "visibility": "public",
    "protected": False,
    "os_hidden": False,
    "checksum": "64d7c1cd2b6f60c92c14662941cb7913",
    "os_hash_algo": "sha512",
    "os_hash_value": "ab" * 64,
    "owner": "23f4cb75768d4febb39542ef6fe169f3",
    "size": 13167616,
    "virtual_size": None,
    "container_format": "bare",
    "disk_format": "qcow2",
    "created_at": "2016-05-22T06:04:20Z",
    "updated_at": "2016-05-22T06:04:22Z",
    "tags": ["a"],
    "min_ram": 0,
    "min_disk": 0,
    "self": "/v2/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78",
    "file": "/v2/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78/file",
    "schema": "/v2/schemas/image",
    "stores": "fs",
}


def test_the_seeds_cirros_has_exactly_the_v1_detail_fields():
    assert to_v1_image(V2_CIRROS) == {
        "status": "active",
        "deleted_at": None,
        "name": "cirros",
        "deleted": False,
        "container_format": "bare",
        "created_at": "2016-05-22T06:04:20.000000",
        "disk_format": "qcow2",
        "updated_at": "2016-05-22T06:04:22.000000",
        "min_disk": 0,
        "protected": False,
        "id": "3c3d1d01-b48a-4639-8a88-08be3b9b5d78",
        "min_ram": 0,
        "checksum": "64d7c1cd2b6f60c92c14662941cb7913",
        "owner": "23f4cb75768d4febb39542ef6fe169f3",
        "is_public": True,
        "virtual_size": None,
        "properties": {},
        "size": 13167616,
    }


def test_custom_properties_go_under_properties_and_v2_fields_never_do():
    v2 = dict(V2_CIRROS, os_distro="ubuntu", __os_version="Ubuntu 22.04 64bit",
              __image_size="13167616", os_glance_import_task="t", locations=[],
              direct_url="file:///x")
    assert to_v1_image(v2)["properties"] == {
        "os_distro": "ubuntu",
        "__os_version": "Ubuntu 22.04 64bit",
        "__image_size": "13167616",
        "os_glance_import_task": "t",
    }


def test_is_public_is_true_only_for_public_visibility():
    for visibility in ("private", "shared", "community"):
        assert to_v1_image(dict(V2_CIRROS, visibility=visibility))["is_public"] is False


def test_queued_image_keeps_nulls_and_zero_size_and_integer_minimums():
    # v1 reserved an image with size 0 (docs/v1-api.md#42-create); v2 has no size until data
    queued = dict(V2_CIRROS, status="queued", size=None, checksum=None, disk_format=None,
                  container_format=None, name=None)
    image = to_v1_image(queued)
    assert (image["size"], image["checksum"], image["disk_format"], image["name"]) == (
        0, None, None, None)
    assert (image["min_ram"], image["min_disk"]) == (0, 0)


def test_a_property_v2_holds_as_empty_is_v1s_null():
    image = to_v1_image(dict(V2_CIRROS, empty="", blank=" "))
    assert image["properties"]["empty"] is None and image["properties"]["blank"] == " "


def test_uploading_and_importing_show_as_saving():
    assert to_v1_image(dict(V2_CIRROS, status="uploading"))["status"] == "saving"
    assert to_v1_image(dict(V2_CIRROS, status="importing"))["status"] == "saving"
    assert to_v1_image(dict(V2_CIRROS, status="deactivated"))["status"] == "deactivated"


def test_ims_real_size_replaces_its_zero_size():
    ims = dict(V2_CIRROS, size=0, __image_size="40960")
    assert to_v1_image(ims)["size"] == 40960


def test_timestamps_take_v1s_microsecond_utc_form():
    assert v1_timestamp("2016-05-22T06:04:20Z") == "2016-05-22T06:04:20.000000"
    assert v1_timestamp("2016-05-22T06:04:20.425843Z") == "2016-05-22T06:04:20.425843"
    assert v1_timestamp("2016-05-22T08:04:20+02:00") == "2016-05-22T06:04:20.000000"
    assert v1_timestamp("2016-05-22T06:04:20") == "2016-05-22T06:04:20.000000"
    assert v1_timestamp(None) is None


def test_summary_has_exactly_six_fields():
    assert msgspec.structs.asdict(v1_summary_of(V2_CIRROS)) == {
        "id": "3c3d1d01-b48a-4639-8a88-08be3b9b5d78", "name": "cirros", "size": 13167616,
        "disk_format": "qcow2", "container_format": "bare",
        "checksum": "64d7c1cd2b6f60c92c14662941cb7913"}


def test_meta_headers_match_what_a_v1_head_sent():
    # docs/v1-api.md#32-metadata-headers: the observed HEAD of an active image.
    v2 = dict(V2_CIRROS, visibility="public", Distro="Ubuntu", my_prop="v",
              created_at="2026-11-27T14:08:20Z", updated_at="2026-11-27T14:08:20Z")
    assert meta_headers(to_v1_image(v2)) == [
        ("x-image-meta-id", "3c3d1d01-b48a-4639-8a88-08be3b9b5d78"),
        ("x-image-meta-name", "cirros"),
        ("x-image-meta-status", "active"),
        ("x-image-meta-size", "13167616"),
        ("x-image-meta-disk_format", "qcow2"),
        ("x-image-meta-container_format", "bare"),
        ("x-image-meta-checksum", "64d7c1cd2b6f60c92c14662941cb7913"),
        ("x-image-meta-min_disk", "0"),
        ("x-image-meta-min_ram", "0"),
        ("x-image-meta-owner", "23f4cb75768d4febb39542ef6fe169f3"),
        ("x-image-meta-is_public", "True"),
        ("x-image-meta-protected", "False"),
        ("x-image-meta-deleted", "False"),
        ("x-image-meta-created_at", "2026-11-27T14:08:20.000000"),
        ("x-image-meta-updated_at", "2026-11-27T14:08:20.000000"),
        ("x-image-meta-property-distro", "Ubuntu"),
        ("x-image-meta-property-my_prop", "v"),
        ("ETag", "64d7c1cd2b6f60c92c14662941cb7913"),
    ]


def test_meta_headers_omit_nulls_and_etag_of_a_queued_image():
    queued = dict(V2_CIRROS, status="queued", size=None, checksum=None, disk_format=None,
                  container_format=None, name=None, virtual_size=None, empty="")
    headers = meta_headers(to_v1_image(queued))
    assert [name for name, _ in headers] == [
        "x-image-meta-id", "x-image-meta-status", "x-image-meta-size", "x-image-meta-min_disk",
        "x-image-meta-min_ram", "x-image-meta-owner", "x-image-meta-is_public",
        "x-image-meta-protected", "x-image-meta-deleted", "x-image-meta-created_at",
        "x-image-meta-updated_at"]  # no x-image-meta-property-empty: v1 left nulls out
    assert dict(headers)["x-image-meta-size"] == "0"


def test_meta_headers_never_carry_line_breaks():
    headers = dict(meta_headers(to_v1_image(dict(V2_CIRROS, note="a\r\nInjected: yes"))))
    assert headers["x-image-meta-property-note"] == "a  Injected: yes"


def test_data_of_deactivated_images_is_forbidden_and_of_other_statuses_not_found():
    deactivated = download_refusal(to_v1_image(dict(V2_CIRROS, status="deactivated")))
    assert (deactivated.status, deactivated.detail) == (
        403, "Image 3c3d1d01-b48a-4639-8a88-08be3b9b5d78 is deactivated")
    for status in ("queued", "saving", "uploading", "killed"):
        refusal = download_refusal(to_v1_image(dict(V2_CIRROS, status=status)))
        assert (refusal.status, refusal.detail) == (
            404, "Image 3c3d1d01-b48a-4639-8a88-08be3b9b5d78 is not active")
    assert download_refusal(to_v1_image(V2_CIRROS)) is None


def test_property_names_no_header_can_carry_are_left_out_of_the_headers():
    v2 = dict(V2_CIRROS, **{"a b": "1", "a\r\nb": "2", "café": "3", "": "4", "ok-Name_1.x": "5"})
    names = [name for name, _ in meta_headers(to_v1_image(v2)) if "property" in name]
    assert names == ["x-image-meta-property-ok-name_1.x"]


def test_an_image_with_data_of_unknown_size_is_not_shown_as_empty():
    assert to_v1_image(dict(V2_CIRROS, size=None))["size"] is None
    assert to_v1_image(dict(V2_CIRROS, status="uploading", size=None))["size"] == 0


def _listed(images: list[dict]) -> list[dict]:
    """The v1 images of a listing as a client reads them: written in one encode, read back."""
    return msgspec.json.decode(msgspec.json.encode([v1_image_of(i) for i in images]))


def test_a_layout_met_many_times_shows_each_images_own_properties():
    # the same keys 100 times over: past the layout's first uses its properties are written
    # another way (docs above _LAYOUTS); every image still shows its own values, "" as null
    images = [dict(V2_CIRROS, id=f"{n:08d}-0000-4000-8000-000000000000", os_distro=f"d{n}",
                   hw_rng="" if n % 2 else "yes") for n in range(100)]
    for n, (image, shown) in enumerate(zip(images, _listed(images))):
        assert shown["properties"] == {"os_distro": f"d{n}", "hw_rng": None if n % 2 else "yes"}
        assert shown["id"] == image["id"]
        assert to_v1_image(image)["properties"] == shown["properties"]
        assert meta_headers(to_v1_image(image))[-1] == ("ETag", V2_CIRROS["checksum"])


def test_property_names_json_must_escape_are_shown_as_they_are_however_often_met():
    odd = {'say "hi"': "1", "back\\slash": "2", "tab\there": "3", "é": "4", "p0": "5"}
    images = [dict(V2_CIRROS, **odd) for _ in range(40)]
    assert all(shown["properties"] == odd for shown in _listed(images))


def test_images_of_other_layouts_in_one_listing_keep_their_own_properties():
    images = [dict(V2_CIRROS, a="1") if n % 3 == 0 else
              dict(V2_CIRROS, b="2", c="3") if n % 3 == 1 else dict(V2_CIRROS)
              for n in range(120)]
    expected = [{"a": "1"}, {"b": "2", "c": "3"}, {}] * 40
    assert [shown["properties"] for shown in _listed(images)] == expected
