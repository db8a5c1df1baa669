"""Glance's image schema: the vocabulary of image fields and the checks values must pass.

In: a create body, or one property and its value (from a create or a JSON patch), and the
API version served. Out: nothing when they pass; else the first jsonschema-style violation
as Glance words it (``schema_error``) or a 400 ``GlanceError`` (``validate_schema``,
``check_min_values``); docs/v2-upstream.md#22-schema-and-formats.
"""

from __future__ import annotations

import re
from typing import Any

from proxy.fake_glance.errors import bad_request
from proxy.fake_glance.sql import ROCKY_COLUMNS

STATUSES = ("queued", "saving", "active", "killed", "deleted", "uploading", "importing",
            "pending_delete", "deactivated")
VISIBILITIES = ("community", "public", "private", "shared")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
MEMBER_STATUSES = ("pending", "accepted", "rejected")
# Names no custom property may take.
RESERVED = ("location", "deleted", "deleted_at")
MAX_DB_INT = 2 ** 31 - 1
UUID_PATTERN = ("^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$")

# jsonschema-like description of the base image properties, in Glance's schema order.
_NULL_STR = ("null", "string")
SCHEMA: dict[str, dict[str, Any]] = {
    "id": {"type": ("string",), "pattern": UUID_PATTERN},
    "name": {"type": _NULL_STR, "maxLength": 255},
    "status": {"type": ("string",), "enum": list(STATUSES)},
    "visibility": {"type": ("string",), "enum": list(VISIBILITIES)},
    "protected": {"type": ("boolean",)},
    "os_hidden": {"type": ("boolean",)},
    "checksum": {"type": _NULL_STR, "maxLength": 32},
    "os_hash_algo": {"type": _NULL_STR, "maxLength": 64},
    "os_hash_value": {"type": _NULL_STR, "maxLength": 128},
    "owner": {"type": _NULL_STR, "maxLength": 255},
    "size": {"type": ("null", "integer")},
    "virtual_size": {"type": ("null", "integer")},
    "container_format": {"type": _NULL_STR, "enum": [None, *CONTAINER_FORMATS]},
    "disk_format": {"type": _NULL_STR, "enum": [None, *DISK_FORMATS]},
    "created_at": {"type": ("string",)},
    "updated_at": {"type": ("string",)},
    "tags": {"type": ("array",), "items": {"type": ("string",), "maxLength": 255}},
    "direct_url": {"type": ("string",)},
    "min_ram": {"type": ("integer",)},
    "min_disk": {"type": ("integer",)},
    "self": {"type": ("string",)},
    "file": {"type": ("string",)},
    "stores": {"type": ("string",)},
    "schema": {"type": ("string",)},
    "locations": {"type": ("array",)},
}
_JSON_TYPES = {"string": str, "boolean": bool, "array": list}


def schema_error(prop: str, value: Any, api_version: tuple[int, int]) -> str | None:
    """First jsonschema violation of one property against Glance's permissive image schema."""
    spec = SCHEMA.get(prop)
    if spec is None or (api_version < (2, 7) and prop in ROCKY_COLUMNS):
        if isinstance(value, str):
            return None
        return (f"{value!r} is not of type 'string'\n\nFailed validating 'type' in "
                f"schema['additionalProperties']:\n    {{'type': 'string'}}\n\n"
                f"On instance[{prop!r}]:\n    {value!r}")
    return _value_error(spec, value)


def _value_error(spec: dict, value: Any) -> str | None:
    types = spec["type"]
    if not any(_is_type(value, t) for t in types):
        return f"{value!r} is not of type {', '.join(repr(t) for t in types)}"
    if "enum" in spec and value not in spec["enum"]:
        return f"{value!r} is not one of {spec['enum']!r}"
    if "maxLength" in spec and isinstance(value, str) and len(value) > spec["maxLength"]:
        return f"{value!r} is too long"
    if "pattern" in spec and isinstance(value, str) and not re.search(spec["pattern"], value):
        return f"{value!r} does not match {spec['pattern']!r}"
    if "items" in spec:
        return next(filter(None, (_value_error(spec["items"], item) for item in value)), None)
    return None


def _is_type(value: Any, json_type: str) -> bool:
    if json_type == "null":
        return value is None
    if json_type == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if json_type == "boolean":
        return isinstance(value, bool)
    return isinstance(value, _JSON_TYPES[json_type])


def check_property(prop: str, value: Any, api_version: tuple[int, int]) -> None:
    """400 with Glance's message when one property's value breaks the schema."""
    message = schema_error(prop, value, api_version)
    if message:
        raise bad_request(f"Provided object does not match schema 'image': {message}")


def validate_schema(body: dict, api_version: tuple[int, int]) -> None:
    """A create body: base properties in schema order first, then the custom ones."""
    base = [k for k in SCHEMA if k in body]
    for prop in base + [k for k in body if k not in SCHEMA]:
        check_property(prop, body[prop], api_version)


def check_min_values(img: dict) -> None:
    """Domain setters (negative) then the DB's 32-bit check, min_disk before min_ram."""
    for key in ("min_disk", "min_ram"):
        if img[key] and img[key] < 0:
            raise bad_request(f"Invalid value '{img[key]}' for parameter '{key}': "
                              "Cannot be a negative value")
    for key in ("min_disk", "min_ram"):
        if img[key] and img[key] > MAX_DB_INT:
            raise bad_request(f"'{key}' value out of range, must not exceed {MAX_DB_INT}.")
