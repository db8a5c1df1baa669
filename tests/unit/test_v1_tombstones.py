"""Deleted images as v1 showed them under ``changes-since``: docs/v1-api.md#25 (the record),
#24 (filters), #26 (order and marker), #27 (the 18 fields and their formats)."""

import pytest

from proxy.v1.errors import V1Error, render
from proxy.v1.images import BadImage
from proxy.v1.query import parse_list_query
from proxy.v1.tombstones import listed_tombstone, merge_changes, tombstone_of, visible_to

# A real Glance 33 image.delete payload (captured from RabbitMQ, ids completed).
GLANCE_33_PAYLOAD = {
    "id": "f84f9e83-0b7c-4d3e-9a2f-5c6d7e8f9a0b", "name": "doomed", "status": "deleted",
    "created_at": "2026-12-03T21:19:48Z", "updated_at": "2026-12-03T21:19:49Z",
    "min_disk": 0, "min_ram": 64, "protected": False,
    "checksum": "7265f4d211b56873a381d321f586e4a9", "owner": "admin",
    "disk_format": "raw", "container_format": "bare", "size": 1024, "virtual_size": 1024,
    "is_public": True, "visibility": "public", "properties": {"custom_prop": "yes"},
    "tags": [], "deleted": True, "deleted_at": "2026-12-03T21:19:49Z",
}

# GET /v2/images/{id}, as the proxy reads it before its own DELETE.
V2_IMAGE = {
    "id": "c3aebe9c-6f1a-4b0e-8d2c-3e4f5a6b7c8d", "name": "pa", "status": "active",
    "visibility": "shared", "protected": False, "os_hidden": False,
    "checksum": "fb0e22c79ac75679e9881e6ba183b354", "os_hash_algo": "sha512",
    "os_hash_value": "ab" * 64, "owner": "tenant1", "size": 5, "virtual_size": None,
    "container_format": "bare", "disk_format": "raw", "created_at": "2026-11-27T14:08:42Z",
    "updated_at": "2026-11-27T14:09:00Z", "tags": ["t"], "min_ram": 0, "min_disk": 0,
    "self": "/v2/images/c3aebe9c-6f1a-4b0e-8d2c-3e4f5a6b7c8d",
    "file": "/v2/images/c3aebe9c-6f1a-4b0e-8d2c-3e4f5a6b7c8d/file",
    "schema": "/v2/schemas/image", "stores": "fs",
    "distro": "Ubuntu", "my_prop": "v", "blank": "",
}


# -- tombstone_of ------------------------------------------------------------------------

def test_a_glance_image_delete_payload_becomes_the_images_last_v1_record_deleted():
    assert tombstone_of(GLANCE_33_PAYLOAD) == {
        "id": "f84f9e83-0b7c-4d3e-9a2f-5c6d7e8f9a0b", "name": "doomed", "status": "deleted",
        "size": 1024, "virtual_size": 1024, "checksum": "7265f4d211b56873a381d321f586e4a9",
        "disk_format": "raw", "container_format": "bare", "min_disk": 0, "min_ram": 64,
        "owner": "admin", "is_public": True, "protected": False,
        "created_at": "2026-12-03T21:19:48.000000",
        "updated_at": "2026-12-03T21:19:49.000000",
        "deleted_at": "2026-12-03T21:19:49.000000", "deleted": True,
        "properties": {"custom_prop": "yes"},
    }


def test_a_v2_image_deleted_through_the_proxy_takes_the_given_time_as_deleted_and_updated():
    assert tombstone_of(V2_IMAGE, "2026-12-04T08:00:00Z") == {
        "id": "c3aebe9c-6f1a-4b0e-8d2c-3e4f5a6b7c8d", "name": "pa", "status": "deleted",
        "size": 5, "virtual_size": None, "checksum": "fb0e22c79ac75679e9881e6ba183b354",
        "disk_format": "raw", "container_format": "bare", "min_disk": 0, "min_ram": 0,
        "owner": "tenant1", "is_public": False, "protected": False,
        "created_at": "2026-11-27T14:08:42.000000",
        "updated_at": "2026-12-04T08:00:00.000000",
        "deleted_at": "2026-12-04T08:00:00.000000", "deleted": True,
        # v2's "" is v1's null
        "properties": {"distro": "Ubuntu", "my_prop": "v", "blank": None},
    }


def test_a_given_deletion_time_wins_over_the_payloads_own():
    record = tombstone_of(GLANCE_33_PAYLOAD, "2026-12-05T10:00:00Z")
    assert (record["deleted_at"], record["updated_at"]) == (
        "2026-12-05T10:00:00.000000", "2026-12-05T10:00:00.000000")


def test_a_deletion_time_with_an_offset_and_fraction_is_v1s_utc_form():
    record = tombstone_of(V2_IMAGE, "2026-12-04T09:00:00.25+01:00")
    assert (record["deleted_at"], record["updated_at"]) == (
        "2026-12-04T08:00:00.250000", "2026-12-04T08:00:00.250000")


def test_a_deletion_time_already_in_v1s_form_is_kept():
    assert tombstone_of(V2_IMAGE, "2026-12-04T08:00:00.123456")["deleted_at"] == (
        "2026-12-04T08:00:00.123456")


@pytest.mark.parametrize("image, deleted_at", [
    (V2_IMAGE, None),
    (dict(GLANCE_33_PAYLOAD, deleted_at=None), None),
    (V2_IMAGE, "yesterday"),
    (V2_IMAGE, ""),
    (dict(GLANCE_33_PAYLOAD, deleted_at=1764796789), None),
], ids=["v2-image-without-time", "payload-with-null-time", "no-time", "empty", "a-number"])
def test_a_tombstone_without_a_readable_deletion_time_is_refused(image, deleted_at):
    with pytest.raises(BadImage):
        tombstone_of(image, deleted_at)


def test_a_field_of_the_wrong_type_is_refused_as_to_v1_image_refuses_it():
    with pytest.raises(BadImage):
        tombstone_of(dict(GLANCE_33_PAYLOAD, size="1024"))


def test_an_old_glance_payload_reads_is_public_and_its_extra_fields_are_no_properties():
    # Glance before Newton: no visibility, no virtual_size, and a location beside the fields.
    old = {key: value for key, value in GLANCE_33_PAYLOAD.items()
           if key not in ("visibility", "virtual_size")}
    old.update(location="swift+https://user:secret@swift/v1/glance/x", is_public=True)
    record = tombstone_of(old)
    assert (record["is_public"], record["virtual_size"], record["properties"]) == (
        True, None, {"custom_prop": "yes"})
    assert tombstone_of(dict(old, is_public=False))["is_public"] is False


def test_a_payload_property_never_overrides_a_field_of_the_image():
    payload = dict(GLANCE_33_PAYLOAD, properties={"name": "other", "owner": "x", "os": "l"})
    record = tombstone_of(payload)
    assert (record["name"], record["owner"], record["properties"]) == (
        "doomed", "admin", {"os": "l"})


# -- listed_tombstone and visible_to -----------------------------------------------------

def test_a_listed_tombstone_shows_no_properties_as_v1_soft_deleted_them():
    record = tombstone_of(GLANCE_33_PAYLOAD)
    assert listed_tombstone(record) == {
        "id": "f84f9e83-0b7c-4d3e-9a2f-5c6d7e8f9a0b", "name": "doomed", "status": "deleted",
        "size": 1024, "virtual_size": 1024, "checksum": "7265f4d211b56873a381d321f586e4a9",
        "disk_format": "raw", "container_format": "bare", "min_disk": 0, "min_ram": 64,
        "owner": "admin", "is_public": True, "protected": False,
        "created_at": "2026-12-03T21:19:48.000000",
        "updated_at": "2026-12-03T21:19:49.000000",
        "deleted_at": "2026-12-03T21:19:49.000000", "deleted": True, "properties": {},
    }
    assert record["properties"] == {"custom_prop": "yes"}  # the stored record keeps them


PRIVATE = {"owner": "tenant1", "is_public": False}
PUBLIC = {"owner": "tenant1", "is_public": True}


@pytest.mark.parametrize("record, project, admin, seen", [
    (PRIVATE, "tenant1", False, True),   # its own
    (PUBLIC, "tenant2", False, True),    # public
    (PRIVATE, "tenant2", False, False),  # another project's (a former member's too)
    (PRIVATE, None, False, False),       # no project
    (PUBLIC, None, False, True),
    (PRIVATE, "tenant2", True, True),    # admins see every tombstone
    (PRIVATE, None, True, True),
    ({"owner": None, "is_public": False}, None, False, False),  # an ownerless image
], ids=["own", "public", "other-projects", "no-project", "public-no-project",
        "admin", "admin-no-project", "ownerless"])
def test_only_admins_see_other_projects_private_tombstones(record, project, admin, seen):
    assert visible_to(record, project, admin) is seen


# -- merge_changes -----------------------------------------------------------------------

def uuid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


def live(n: int, **fields) -> dict:
    """A v1 detail record of an image v2 still lists."""
    return {
        "id": uuid(n), "name": f"image{n}", "status": "active", "size": 10,
        "virtual_size": None, "checksum": "fb0e22c79ac75679e9881e6ba183b354",
        "disk_format": "raw", "container_format": "bare", "min_disk": 0, "min_ram": 0,
        "owner": "tenant1", "is_public": True, "protected": False,
        "created_at": f"2026-11-{n:02d}T00:00:00.000000",
        "updated_at": "2026-12-02T00:00:00.000000", "deleted_at": None, "deleted": False,
        "properties": {"distro": "Ubuntu"}, **fields,
    }


def dead(n: int, **fields) -> dict:
    """A stored tombstone record (properties kept)."""
    return live(n, **{"status": "deleted", "deleted": True,
                      "deleted_at": "2026-12-02T12:00:00.000000",
                      "updated_at": "2026-12-02T12:00:00.000000", **fields})


def listed(record: dict) -> dict:
    return dict(record, properties={})


def query(*pairs):
    return parse_list_query([("changes-since", "2026-12-01T00:00:00Z"), *pairs])


def ids(records):
    return [record["id"] for record in records]


def test_a_tombstone_is_listed_among_live_images_in_v1s_default_order_newest_first():
    assert merge_changes([live(3), live(1)], [dead(2)], query()) == [
        live(3), listed(dead(2)), live(1)]


def test_a_tombstone_of_an_image_v2_still_lists_is_dropped_live_wins():
    assert merge_changes([live(1)], [dead(1)], query()) == [live(1)]


def test_no_tombstones_leave_the_live_page_as_it_is():
    assert merge_changes([live(2), live(1)], [], query()) == [live(2), live(1)]


TOMB = dead(2, name="beta", size=1024, min_ram=64, min_disk=1, disk_format="raw",
            container_format="bare", protected=False)


@pytest.mark.parametrize("pair, kept", [
    (("name", "beta"), True), (("name", "bet"), False), (("name", "Beta"), False),
    (("name", ""), False),
    (("status", "deleted"), True), (("status", "active"), False),
    (("container_format", "bare"), True), (("container_format", "ovf"), False),
    (("disk_format", "raw"), True), (("disk_format", "qcow2"), False),
    (("size_min", "1024"), True), (("size_min", "1025"), False),
    (("size_max", "1024"), True), (("size_max", "1023"), False),
    (("min_ram", "64"), True), (("min_ram", "0"), False), (("min_ram", "128"), False),
    (("min_disk", "1"), True), (("min_disk", "0"), False), (("min_disk", "x"), False),
    (("min_disk", "01"), True), (("min_disk", "+1"), True), (("min_disk", "\u0661"), False),
    (("protected", "false"), True), (("protected", "true"), False),
    (("property-distro", "Ubuntu"), False), (("property-other", "x"), False),
    (("is_public", "false"), True), (("foo", "bar"), True),
], ids=lambda value: "=".join(value) if isinstance(value, tuple) else str(value))
def test_each_v1_filter_applies_to_tombstones_as_v1_applied_it(pair, kept):
    assert merge_changes([], [TOMB], query(pair)) == ([listed(TOMB)] if kept else [])


def test_filters_combine_and_a_tombstone_must_pass_them_all():
    assert merge_changes([], [TOMB], query(("name", "beta"), ("min_ram", "64"))) == [
        listed(TOMB)]
    assert merge_changes([], [TOMB], query(("name", "beta"), ("min_ram", "65"))) == []


@pytest.mark.parametrize("pair", [("size_min", "0"), ("size_max", "1000")])
def test_a_tombstone_with_no_size_never_matches_a_size_range(pair):
    assert merge_changes([], [dead(2, size=None)], query(pair)) == []


def test_live_images_are_v2s_answer_and_not_filtered_again():
    assert merge_changes([live(1, name="alpha")], [TOMB], query(("name", "beta"))) == [
        listed(TOMB), live(1, name="alpha")]


# Three images whose order differs from created_at's for every other sort key.
A = live(12, name="m", status="active", container_format="ovf", disk_format="vmdk", size=10,
         id=uuid(3), updated_at="2026-12-03T00:00:00.000000")
B = dead(13, name="a", container_format="bare", disk_format="qcow2", size=30, id=uuid(1),
         updated_at="2026-12-02T00:00:00.000000", deleted_at="2026-12-02T00:00:00.000000")
C = live(11, name="z", status="queued", container_format="ami", disk_format="raw", size=20,
         id=uuid(2), updated_at="2026-12-04T00:00:00.000000")
ASCENDING = {
    "name": [B, A, C], "status": [A, B, C], "container_format": [C, B, A],
    "disk_format": [B, C, A], "size": [A, C, B], "id": [B, C, A],
    "created_at": [C, A, B], "updated_at": [B, A, C],
}


@pytest.mark.parametrize("sort_key", sorted(ASCENDING))
@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
def test_every_sort_key_orders_tombstones_and_live_images_together(sort_key, sort_dir):
    expected = ASCENDING[sort_key] if sort_dir == "asc" else ASCENDING[sort_key][::-1]
    page = merge_changes([A, C], [B], query(("sort_key", sort_key), ("sort_dir", sort_dir)))
    assert ids(page) == ids(expected)


def test_sort_key_alone_sorts_descending():
    assert ids(merge_changes([A, C], [B], query(("sort_key", "name")))) == ids([C, A, B])


# Same name; P and Q created at the same moment, so their ids decide.
P = live(1, name="same", id=uuid(7), created_at="2026-11-05T00:00:00.000000")
Q = dead(2, name="same", id=uuid(6), created_at="2026-11-05T00:00:00.000000")
R = live(3, name="same", id=uuid(5), created_at="2026-11-06T00:00:00.000000")


def test_ties_are_broken_by_created_at_then_id_in_the_direction_of_the_sort():
    assert ids(merge_changes([P, R], [Q], query(("sort_key", "name"), ("sort_dir", "asc")))
               ) == [uuid(6), uuid(7), uuid(5)]
    assert ids(merge_changes([P, R], [Q], query(("sort_key", "name"), ("sort_dir", "desc")))
               ) == [uuid(5), uuid(7), uuid(6)]


@pytest.mark.parametrize("sort_key, null, value", [("name", "name", "a"),
                                                   ("size", "size", 1)])
def test_a_null_sorts_first_ascending_and_last_descending(sort_key, null, value):
    nameless = dead(2, **{null: None})
    other = live(1, **{null: value})
    assert ids(merge_changes([other], [nameless], query(("sort_key", sort_key),
                                                        ("sort_dir", "asc")))) == [
        uuid(2), uuid(1)]
    assert ids(merge_changes([other], [nameless], query(("sort_key", sort_key),
                                                        ("sort_dir", "desc")))) == [
        uuid(1), uuid(2)]


def test_a_marker_naming_a_tombstone_starts_the_page_strictly_after_it():
    page = merge_changes([live(4), live(3), live(1)], [dead(2)], query(("marker", uuid(3))))
    assert page == [listed(dead(2)), live(1)]
    page = merge_changes([live(4), live(3), live(1)], [dead(2)], query(("marker", uuid(2))))
    assert page == [live(1)]


def test_a_marker_naming_the_last_image_gives_an_empty_page():
    assert merge_changes([live(3)], [dead(2)], query(("marker", uuid(2)))) == []


def test_a_marker_follows_the_sort_direction():
    page = merge_changes([live(1), live(3)], [dead(2)],
                         query(("sort_dir", "asc"), ("marker", uuid(1))))
    assert ids(page) == [uuid(2), uuid(3)]


def test_a_marker_in_any_uuid_spelling_v1_accepted_finds_the_tombstone():
    marker = "{" + uuid(2).upper() + "}"
    assert merge_changes([live(3), live(1)], [dead(2)], query(("marker", marker))) == [live(1)]


def test_a_marker_naming_a_tombstone_the_filters_leave_out_still_pages_as_v1_did():
    # v1 looked the marker up among what the caller may see, not among what matches
    page = merge_changes([live(1)], [dead(2)], query(("property-distro", "Ubuntu"),
                                                     ("marker", uuid(2))))
    assert page == [live(1)]


def test_a_marker_naming_no_image_the_caller_sees_is_v1s_invalid_marker():
    with pytest.raises(V1Error) as raised:
        merge_changes([live(3)], [dead(2)], query(("marker", uuid(9))))
    assert render(raised.value, None)[1] == (
        b"400 Bad Request\n\n400 Bad Request  Invalid marker. Image could not be found."
        b"     \n\n   ")


def test_the_limit_cuts_the_merged_page():
    page = merge_changes([live(4), live(3), live(1)], [dead(2)], query(("limit", "2")))
    assert ids(page) == [uuid(4), uuid(3)]


def test_limit_zero_is_an_empty_page_but_the_marker_is_still_checked():
    assert merge_changes([live(3)], [dead(2)], query(("limit", "0"))) == []
    with pytest.raises(V1Error):
        merge_changes([live(3)], [dead(2)], query(("limit", "0"), ("marker", uuid(9))))


def test_paging_with_the_last_id_as_marker_walks_the_whole_list_once():
    live_images, tombstones = [live(5), live(3), live(1)], [dead(4), dead(2)]
    seen, marker = [], []
    while True:
        page = merge_changes(live_images, tombstones, query(("limit", "2"), *marker))
        seen += ids(page)
        if len(page) < 2:
            break
        marker = [("marker", page[-1]["id"])]
    assert seen == [uuid(5), uuid(4), uuid(3), uuid(2), uuid(1)]
