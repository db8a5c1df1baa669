"""The image of the seed page (Huawei IMS's v1.1 images/detail example) as a v1 client gets it
through a v2 upstream: v2 keeps whole seconds, so the seed's microseconds become .000000."""

SEED_CIRROS_V1 = {
    "status": "active", "deleted_at": None, "name": "cirros", "deleted": False,
    "container_format": "bare", "created_at": "2016-05-22T06:04:20.000000",
    "disk_format": "qcow2", "updated_at": "2016-05-22T06:04:22.000000", "min_disk": 0,
    "protected": False, "id": "3c3d1d01-b48a-4639-8a88-08be3b9b5d78", "min_ram": 0,
    "checksum": "64d7c1cd2b6f60c92c14662941cb7913",
    "owner": "23f4cb75768d4febb39542ef6fe169f3", "is_public": True, "virtual_size": None,
    "properties": {}, "size": 13167616,
}
