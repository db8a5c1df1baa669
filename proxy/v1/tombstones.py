"""Deleted images as v1 showed them: the tombstone record, who sees it, and the
``changes-since`` listing that merges tombstones into v2's live images.

A tombstone is the image's last v1 detail record (proxy.v1.images.to_v1_image, 18 keys) with
``status: deleted``, ``deleted: true`` and ``deleted_at``; its ``updated_at`` is the deletion
time. It keeps the image's properties; a listing shows ``properties: {}``, since v1
soft-deleted them with the image (docs/v1-api.md#25-deleted-and-killed-images). Pure: dicts in,
dicts out.
"""

from __future__ import annotations

import re
from datetime import datetime

from proxy.v1.images import BadImage, to_v1_image, v1_timestamp
from proxy.v1.query import ListQuery, canonical_uuid, invalid_marker

# The top-level fields of Glance's notification payload (format_image_notification) that
# are fields of the image. The others (is_public, tags, deleted, deleted_at, and the
# location of old releases) are no custom properties: those come under "properties" only.
_PAYLOAD_FIELDS = (
    "id", "name", "status", "visibility", "protected", "checksum", "owner", "size",
    "virtual_size", "container_format", "disk_format", "created_at", "updated_at",
    "min_ram", "min_disk",
)
_V1_TIME = "%Y-%m-%dT%H:%M:%S.%f"
_INTEGER = re.compile(r"[+-]?[0-9]+")


def tombstone_of(image: dict, deleted_at: str | None = None) -> dict:
    """``image``: a v2 image (custom properties at the top level) or an ``image.delete``
    payload (custom properties under ``properties``); ``deleted_at``: the deletion time
    (v2 or v1 form), which wins over the payload's own. Returns the tombstone record
    (properties kept); BadImage when no readable deletion time is given or a field has the
    wrong type."""
    when = _v1_deletion_time(deleted_at if deleted_at is not None else image.get("deleted_at"))
    record = to_v1_image(_as_v2_image(image))
    record.update(status="deleted", deleted=True, deleted_at=when, updated_at=when)
    return record


def _as_v2_image(image: dict) -> dict:
    """A notification payload -> the v2 image it describes (its properties moved to the top
    level, visibility from is_public where an old Glance sent no visibility); a v2 image,
    whose custom property values are never objects, as it is."""
    properties = image.get("properties")
    if not isinstance(properties, dict):
        return image
    flat = dict(properties)
    flat.update((key, image[key]) for key in _PAYLOAD_FIELDS if key in image)
    if "visibility" not in image and isinstance(image.get("is_public"), bool):
        flat["visibility"] = "public" if image["is_public"] else "private"
    return flat


def _v1_deletion_time(value) -> str:
    """A deletion time (``2026-12-03T21:19:49Z`` or any ISO 8601 form) -> v1's
    ``2026-12-03T21:19:49.000000``; BadImage when there is none or it is no time."""
    when = v1_timestamp(value) if isinstance(value, str) else None
    try:
        datetime.strptime(when or "", _V1_TIME)
    except ValueError:
        raise BadImage(f"no readable deletion time: {value!r}") from None
    return when


def listed_tombstone(record: dict) -> dict:
    """A tombstone record -> the image as a v1 list showed it: ``properties`` empty."""
    return {**record, "properties": {}}


def visible_to(record: dict, project: str | None, admin: bool) -> bool:
    """Whether a caller (its project, whether it is an admin) may see this tombstone: admins
    every one; others their own project's and the public ones (members lost their access
    when the image was deleted)."""
    return admin or record["is_public"] is True or (
        project is not None and record["owner"] == project)


def merge_changes(live: list[dict], tombstones: list[dict], query: ListQuery) -> list[dict]:
    """``live``: the v1 records of v2's answer (already filtered, updated after the query's
    ``changes-since``); ``tombstones``: the caller's visible tombstone records updated after
    it. Returns the v1 page: tombstones not live and matching v1's filters, listed as v1
    did, sorted with the live images in v1's order, then the marker and the limit applied.
    Raises invalid_marker() when the marker is neither live nor a given tombstone."""
    live_ids = {record["id"] for record in live}
    deleted = [listed_tombstone(t) for t in tombstones if t["id"] not in live_ids]
    merged = [*live, *(record for record in deleted if _matches(record, query))]
    descending = query.sort_dir == "desc"
    merged.sort(key=lambda record: _order(record, query.sort_key), reverse=descending)
    if query.marker is not None:
        last = _order(_marker_record(query.marker, [*live, *deleted]), query.sort_key)
        merged = [record for record in merged if _comes_after(
            _order(record, query.sort_key), last, descending)]
    return merged[:query.limit]


def _matches(record: dict, query: ListQuery) -> bool:
    """Whether a listed record passes the filters v1 applied (docs/v1-api.md#24-filter-semantics):
    exact values, inclusive sizes (a null size never matches), min_ram and min_disk by
    equality, protected, and every property filter (on the listed properties)."""
    size = record["size"]
    return (all(record[name] == value for name, value in query.exact)
            and (query.size_min is None or (size is not None and size >= query.size_min))
            and (query.size_max is None or (size is not None and size <= query.size_max))
            and (query.min_ram is None or record["min_ram"] == query.min_ram)
            and (query.min_disk is None or record["min_disk"] == _column_int(query.min_disk))
            and (query.protected is None or record["protected"] is query.protected)
            and all(record["properties"].get(key) == value for key, value in query.properties))


def _column_int(value: str) -> int | None:
    """``min_disk`` as given (v1 never checked it) -> the integer an integer column equals,
    None (equal to no row) when it is no decimal integer, as on v1's SQLite."""
    return int(value) if _INTEGER.fullmatch(value) else None


def _order(record: dict, sort_key: str) -> tuple:
    """A record's place in v1's order: the sort key, then created_at, then id; a null sorts
    as v1's database compared it with a marker, '' (or 0 for size), so first ascending."""
    return tuple(_null_as_least(record[field], field)
                 for field in (sort_key, "created_at", "id"))


def _null_as_least(value, field: str):
    if value is None:
        return 0 if field == "size" else ""
    return value


def _comes_after(place: tuple, marker: tuple, descending: bool) -> bool:
    return place < marker if descending else place > marker


def _marker_record(marker: str, candidates: list[dict]) -> dict:
    """The record a marker names among the images the caller can see (live or tombstone),
    whatever the filters; invalid_marker() when there is none."""
    try:
        wanted = canonical_uuid(marker)
    except ValueError:
        raise invalid_marker() from None
    for record in candidates:
        if record["id"] == wanted:
            return record
    raise invalid_marker()
