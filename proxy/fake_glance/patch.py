"""Image PATCH: JSON-patch operations read, checked and applied as Glance applies them.

In: the request's media type (which draft of JSON patch), the raw operations, the
caller's ``Context``, the image record and the API version served. Out: validated changes
(``{"op", "path", "draft", "value"}``), then the record updated all or nothing; or a
``GlanceError`` (400 malformed, 403 read-only/reserved/forbidden, 409 missing/present,
415 wrong media type) with Glance's message (docs/v2-upstream.md#52-patch).
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from typing import Any

from proxy.fake_glance.errors import GlanceError, bad_request, not_authorized
from proxy.fake_glance.policy import Context, enforce, policy_allows
from proxy.fake_glance.schema import RESERVED, check_min_values, check_property
from proxy.fake_glance.sql import INT_COLUMNS

PATCH_TYPES = {"application/openstack-images-v2.0-json-patch": 4,
               "application/openstack-images-v2.1-json-patch": 10}
# Attributes PATCH may set directly (the domain object's own attributes).
PATCHABLE = ("name", "visibility", "os_hidden", "min_disk", "min_ram", "protected", "owner",
             "disk_format", "container_format", "tags")
READ_ONLY = ("created_at", "updated_at", "status", "checksum", "size", "virtual_size",
             "direct_url", "self", "file", "schema", "id", "os_hash_algo", "os_hash_value")


def patch_draft(media_type: str) -> int:
    """The JSON-patch draft a PATCH's Content-Type names; 415 for any other type."""
    draft = PATCH_TYPES.get(media_type)
    if draft is None:
        allowed = ", ".join(sorted(PATCH_TYPES))
        raise GlanceError(415, detail=f"Image PATCH expects Content-Type one of: {allowed}",
                          headers={"Accept-Patch": allowed})
    return draft


def decode_pointer(pointer: str) -> list[str]:
    def bad(reason: str) -> GlanceError:
        return bad_request(f"Pointer `{pointer}` {reason}")

    if not pointer.startswith("/"):
        raise bad('does not start with "/".')
    if re.search(r"/\s*?/", pointer[1:]):
        raise bad('contains adjacent "/".')
    if len(pointer) > 1 and pointer.endswith("/"):
        raise bad('end with "/".')
    if pointer[1:].strip() == "/":
        raise bad("does not contains valid token.")
    if re.search("~[^01]", pointer) or pointer.endswith("~"):
        raise bad('contains "~" not part of a recognized escape sequence.')
    return [part.replace("~1", "/").replace("~0", "~").strip()
            for part in pointer.lstrip("/").split("/")]


def _operation(raw: dict, draft: int) -> tuple[str, Any]:
    """The operation's name and pointer, by draft 10's or draft 4's spelling."""
    ops = ("add", "remove", "replace")
    if draft == 10:
        op = raw.get("op")
        if op is None or op not in ops:
            lead = ("Unable to find `op` in JSON Schema change" if op is None
                    else f"Invalid operation: `{op}`")
            raise bad_request(f"{lead}. It must be one of the following: add, remove, replace.")
        if "path" not in raw:
            raise bad_request("Unable to find 'path' in JSON Schema change")
        return op, raw["path"]
    present = [name for name in ops if name in raw]
    if len(present) != 1:
        amount = "only one member" if present else "exactly one member"
        raise bad_request(f'Operation objects must contain {amount} named "add", '
                          '"remove", or "replace".')
    return present[0], raw[present[0]]


def parse_change(raw: Any, draft: int, api_version: tuple[int, int]) -> dict:
    """One JSON-patch operation, validated like RequestDeserializer.update."""
    if not isinstance(raw, dict):
        raise bad_request("Operations must be JSON objects.")
    op, pointer = _operation(raw, draft)
    path = decode_pointer(pointer)
    depth = 2 if path[0] == "locations" and op != "replace" else 1
    if len(path) != depth:
        raise bad_request(f"Invalid JSON pointer for this resource: '/{'/'.join(path)}'")
    change = {"op": op, "path": path, "draft": draft}
    if op != "remove":
        if "value" not in raw:
            raise bad_request(f'Operation "{op}" requires a member named "value".')
        change["value"] = raw["value"]
    root = path[0]
    if root in READ_ONLY:
        raise GlanceError(403, f"Attribute '{root}' is read-only.")
    if root in RESERVED or root.startswith("os_glance"):
        raise GlanceError(403, f"Attribute '{root}' is reserved.")
    if op != "remove" and (len(path) == 1 or root in ("tags", "locations")):
        value = change["value"] if len(path) == 1 else [change["value"]]
        check_property(root, value, api_version)
    return change


def apply_patch(ctx: Context, img: dict, changes: list[dict], api_version: tuple[int, int],
                now: datetime) -> None:
    """All or nothing: apply to a copy, commit only if every change succeeded."""
    work = copy.deepcopy({k: v for k, v in img.items() if k != "data"})
    for change in changes:
        _apply_change(ctx, work, change, api_version)
    if changes:
        check_min_values(work)
        img.update(work, updated_at=now)


def _apply_change(ctx: Context, img: dict, change: dict, api_version: tuple[int, int]) -> None:
    """ImagesController._do_add/_do_replace/_do_remove on a working copy."""
    op, root, value = change["op"], change["path"][0], change.get("value")
    if root == "locations":
        return _location_change(ctx, img, op, value)
    if op == "replace" and root == "owner" and not ctx.is_admin:
        raise GlanceError(403, detail="Owner can't be updated by non admin.")
    if root == "visibility" and value in ("public", "community"):
        rule = "publicize_image" if value == "public" else "communitize_image"
        if not policy_allows(ctx, rule, img):  # checked without the 404 translation
            raise not_authorized(rule)
    enforce(ctx, "modify_image", img)
    base = root in PATCHABLE and (root != "os_hidden" or api_version >= (2, 7))
    exists = base or root in img["properties"]
    if op == "remove":
        if base:
            raise GlanceError(403, detail=f"Property {root} may not be removed.")
        if not exists:
            raise GlanceError(409, detail=f"Property {root} does not exist.")
        del img["properties"][root]
    elif op == "replace" and not exists:
        raise GlanceError(409, detail=f"Property {root} does not exist.")
    elif op == "add" and exists and change["draft"] == 4:
        raise GlanceError(409, detail=f"Property {root} already present.")
    elif not base:
        img["properties"][root] = value
    elif root in ("disk_format", "container_format") and img["status"] not in (
            "queued", "importing"):
        raise GlanceError(403, f"Attribute {root} can be only replaced for a queued image.")
    else:
        img[root] = list(dict.fromkeys(value)) if root == "tags" else (
            int(value) if root in INT_COLUMNS else value)


def _location_change(ctx: Context, img: dict, op: str, value: Any) -> None:
    # show_multiple_locations is off (Glance's default), so every location edit fails.
    if op == "replace" and not value:
        raise GlanceError(403, detail="Cannot set locations to empty list.")
    enforce(ctx, "delete_image_location" if op == "remove" else "set_image_location", img)
    verb = {"replace": "update", "add": "add", "remove": "remove"}[op]
    raise GlanceError(403, f"It's not allowed to {verb} locations if locations are "
                           "invisible.")
