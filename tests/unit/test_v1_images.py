"""v2 image -> v1 detail image: reference glance-v1.md 2.7 and the seed's example."""

from proxy.v1.images import to_v1_image, v1_timestamp

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


def test_queued_image_keeps_nulls_and_integer_minimums():
    queued = dict(V2_CIRROS, status="queued", size=None, checksum=None, disk_format=None,
                  container_format=None, name=None)
    image = to_v1_image(queued)
    assert (image["size"], image["checksum"], image["disk_format"], image["name"]) == (
        None, None, None, None)
    assert (image["min_ram"], image["min_disk"]) == (0, 0)


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
