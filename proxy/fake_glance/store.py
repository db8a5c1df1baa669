"""The image records: one in-memory table of images, with their data and members.

In: fields of an image to load or create, image data to store, ids to look up with the
caller's ``Context``. Out: the records themselves (plain dicts: Glance's columns, plus
``properties``, ``members`` by project and ``data``), found or created; a 404/409
``GlanceError`` when an id is unknown, not visible or taken. Times are naive UTC
datetimes with microseconds, like Glance's sqlite rows.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timezone
from typing import Callable

from proxy.fake_glance.errors import GlanceError
from proxy.fake_glance.policy import Context, is_visible


def naive_utc(stamp: datetime) -> datetime:
    return stamp.astimezone(timezone.utc).replace(tzinfo=None) if stamp.tzinfo else stamp


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def new_record(image_id: str, owner: str | None, now: datetime) -> dict:
    """A queued image with Glance's defaults (shared, no data, no properties)."""
    return {"id": image_id, "name": None, "status": "queued", "visibility": "shared",
            "protected": False, "os_hidden": False, "min_ram": 0, "min_disk": 0,
            "owner": owner, "disk_format": None, "container_format": None, "size": None,
            "virtual_size": None, "checksum": None, "os_hash_algo": None,
            "os_hash_value": None, "created_at": now, "updated_at": now,
            "deleted": False, "tags": [], "properties": {}, "members": {}, "data": None}


def store_data(img: dict, data: bytes, md5, sha512) -> None:
    """Data in: the image turns active with its size and hashes."""
    img.update(data=bytes(data), size=len(data), status="active",
               checksum=md5.hexdigest(), os_hash_algo="sha512",
               os_hash_value=sha512.hexdigest(),
               # Glance's format inspector sizes only data it recognises: arbitrary
               # non-empty bytes pass as raw, nothing else.
               virtual_size=len(data) if img["disk_format"] == "raw" and data else None)


def store_bytes(img: dict, data: bytes) -> None:
    store_data(img, data, hashlib.md5(data), hashlib.sha512(data))


class ImageStore:
    """Every image ever made (deleted ones stay, as soft-deleted rows), by id."""

    def __init__(self, now: Callable[[], datetime] | None = None):
        self.images: dict[str, dict] = {}
        self._now = now or utcnow

    def clock(self) -> datetime:
        return naive_utc(self._now())

    def load(self, *, owner: str, data: bytes | None = None,
             members: dict[str, str] | None = None, **fields) -> dict:
        """Load an image directly (demo/bench).  Unknown fields become custom properties."""
        now = self.clock()
        img = new_record(fields.pop("id", None) or str(uuid.uuid4()), owner, now)
        created, updated = fields.pop("created_at", None), fields.pop("updated_at", None)
        img["created_at"] = naive_utc(created) if created else now
        img["updated_at"] = naive_utc(updated) if updated else img["created_at"]
        img["tags"] = list(dict.fromkeys(fields.pop("tags", [])))
        status = fields.pop("status", None)  # applied last: data alone means "active"
        for key, value in fields.items():
            if key in img and key not in ("properties", "members", "data", "deleted"):
                img[key] = value
            else:
                img["properties"][key] = value
        if data is not None:
            store_bytes(img, data)
        img["status"] = status or img["status"]
        for project, member_status in (members or {}).items():
            img["members"][project] = {"status": member_status, "created_at": now,
                                       "updated_at": now}
        self.images[img["id"]] = img
        return img

    def insert(self, img: dict) -> None:
        """A created image; its id must be new (deleted images keep theirs)."""
        if img["id"] in self.images:
            raise GlanceError(409, f"Image ID {img['id']} already exists!")
        self.images[img["id"]] = img

    def find(self, ctx: Context, image_id: str, message: str | None = None) -> dict:
        """A live image the caller may see, else 404 (with ``message`` if given)."""
        img = self.images.get(image_id)
        if img is None or img["deleted"] or not is_visible(ctx, img):
            raise GlanceError(404, message or f"No image found with ID {image_id}")
        return img

    def touch(self, img: dict, **changes) -> None:
        """Change fields of a record, stamping ``updated_at``."""
        img.update(changes, updated_at=self.clock())
