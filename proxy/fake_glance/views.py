"""What the v2 API shows: image, member and version documents made from records.

In: an image record (and the caller's ``Context``, the API version served), a member's
project, or the server's origin. Out: the JSON-ready dicts Glance's response serializers
make: every base property, custom properties as strings, ``Z`` times, relative links
(docs/v2-upstream.md#21-how-a-response-is-built, docs/v2-upstream.md#58-members,
docs/v2-upstream.md#6-version-discovery).
"""

from __future__ import annotations

from datetime import datetime

from proxy.fake_glance.policy import Context
from proxy.fake_glance.sql import ROCKY_COLUMNS

HIDDEN_PROPERTIES = ("os_glance_stage_host", "os_glance_hash_op_host")
_SHOWN = ("name", "disk_format", "container_format", "visibility", "size", "virtual_size",
          "status", "checksum", "protected", "min_ram", "min_disk", "owner", "os_hidden",
          "os_hash_algo", "os_hash_value", "id")


def isotime(stamp: datetime) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def image_view(img: dict, ctx: Context, api_version: tuple[int, int]) -> dict:
    """ResponseSerializer._format_image."""
    view = {k: "" if v is None else v for k, v in img["properties"].items()
            if k not in HIDDEN_PROPERTIES}
    for key in _SHOWN:
        view[key] = img[key]
    view.update(created_at=isotime(img["created_at"]),
                updated_at=isotime(img["updated_at"]), tags=list(img["tags"]),
                self=f"/v2/images/{img['id']}", file=f"/v2/images/{img['id']}/file",
                schema="/v2/schemas/image")
    if api_version < (2, 7):  # Pike had none of these
        for key in ROCKY_COLUMNS:
            del view[key]
    # The lab's single store; locations of deactivated images are hidden from non-admins.
    if api_version >= (2, 8) and img["data"] is not None and (
            img["status"] != "deactivated" or ctx.is_admin):
        view["stores"] = "fs"
    return view


def member_view(img: dict, project: str) -> dict:
    member = img["members"][project]
    return {"member_id": project, "image_id": img["id"], "status": member["status"],
            "created_at": isotime(member["created_at"]),
            "updated_at": isotime(member["updated_at"]), "schema": "/v2/schemas/member"}


def versions_document(origin: str, api_version: tuple[int, int]) -> dict:
    """Every minor version up to the one served, newest (CURRENT) first."""
    major, minor = api_version
    href = f"{origin}/v2/"
    return {"versions": [{"id": f"v{major}.{n}",
                          "status": "CURRENT" if n == minor else "SUPPORTED",
                          "links": [{"rel": "self", "href": href}]}
                         for n in range(minor, -1, -1)]}
