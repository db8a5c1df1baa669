"""An in-memory Glance v2 image service, as an aiohttp application.

It stands in for a real Glance 33 (the lab set-up of tools/glance-up.sh: sqlite, one "fs"
store, the "trusted" auth shim, RBAC new defaults) in fast tests, `--demo` and benchmarks.
Behaviour, status codes and messages follow real Glance, including its odd corners, because
the same contract tests run against both.  The ``api_version`` attribute selects the newest
minor version served; below 2.7 it emulates Pike (no ``os_hidden`` / ``os_hash_*``, no
``visibility=all``).

Import: ``GET /v2/info/import`` and the ``web-download`` method (from v2.6, as Queens), with
the lab's URI filter (loopback hosts only, any port); not emulated: stage/glance-direct,
tasks, locations/tags/schemas routes, Range downloads, quotas (413),
schema-image.json typed properties, and the pretty-printed sub-schema that jsonschema appends
to 400 messages about *base* properties (the first line is exact).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import html
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from typing import Any, Callable
from urllib.parse import unquote, urlencode, urlsplit

import aiohttp
import orjson
from aiohttp import web

from proxy.v1.errors import best_match

log = logging.getLogger(__name__)

STATUSES = ("queued", "saving", "active", "killed", "deleted", "uploading", "importing",
            "pending_delete", "deactivated")
VISIBILITIES = ("community", "public", "private", "shared")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
MEMBER_STATUSES = ("pending", "accepted", "rejected")
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at",
             "updated_at")
MAX_DB_INT = 2 ** 31 - 1
UUID_PATTERN = ("^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$")
PATCH_TYPES = {"application/openstack-images-v2.0-json-patch": 4,
               "application/openstack-images-v2.1-json-patch": 10}
# Attributes PATCH may set directly (the domain object's own attributes).
PATCHABLE = ("name", "visibility", "os_hidden", "min_disk", "min_ram", "protected", "owner",
             "disk_format", "container_format", "tags")
READ_ONLY = ("created_at", "updated_at", "status", "checksum", "size", "virtual_size",
             "direct_url", "self", "file", "schema", "id", "os_hash_algo", "os_hash_value")
RESERVED = ("location", "deleted", "deleted_at")
HIDDEN_PROPERTIES = ("os_glance_stage_host", "os_glance_hash_op_host")

# Column types of the images table, for SQLite comparison semantics.
INT_COLUMNS = {"size", "virtual_size", "min_ram", "min_disk"}
TEXT_COLUMNS = {"id", "name", "disk_format", "container_format", "status", "visibility",
                "checksum", "owner", "os_hash_algo", "os_hash_value"}
BOOL_COLUMNS = {"protected", "os_hidden", "deleted"}
TIME_COLUMNS = {"created_at", "updated_at", "deleted_at"}
RELATIONS = {"properties", "locations", "members", "tags"}
ROCKY_COLUMNS = {"os_hidden", "os_hash_algo", "os_hash_value"}

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


# ------------------------------------------------------------------------------ errors

class GlanceError(Exception):
    """A webob.exc.HTTPError as Glance raises it: explanation replaces the class default,
    detail is appended after it (Glance passes text positionally in a few places)."""

    def __init__(self, status: int, explanation: str | None = None, detail: str = "",
                 headers: dict[str, str] | None = None):
        super().__init__(explanation or detail)
        self.status, self.detail, self.headers = status, detail, headers or {}
        self.explanation = (DEFAULT_EXPLANATIONS.get(status, "") if explanation is None
                            else explanation)


# WebOb's class defaults, whitespace as Glance's responses show it.
DEFAULT_EXPLANATIONS = {
    401: "This server could not verify that you are authorized to access the document you "
         "requested. Either you supplied the wrong credentials (e.g., bad password), or your "
         "browser does not understand how to supply the credentials required.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    409: "There was a conflict when trying to complete your request.",
    500: "The server has either erred or is incapable of performing the requested operation.",
}


def bad_request(message: str) -> GlanceError:
    return GlanceError(400, message)


def not_authorized(rule: str) -> GlanceError:
    return GlanceError(403, f"You are not authorized to complete {rule} action.")


def _error_text(err: GlanceError, request: web.Request, escape: Callable[[str], str]) -> str:
    """The body WebOb renders from its templates (405 and 415 have their own)."""
    if err.status == 405:
        return (f"The method {escape(request.method)} is not allowed for this resource. "
                f"<br /><br />\n{escape(err.detail)}")
    if err.status == 415:  # WebOb leaves the placeholder when the header is absent
        media = escape(request.headers.get("Content-Type", "${CONTENT_TYPE}"))
        return (f"The request media type {media} is not supported by this server.\n"
                f"<br /><br />\n{escape(err.detail)}")
    return f"{escape(err.explanation)}<br /><br />\n{escape(err.detail)}\n\n"


def render_error(request: web.Request, err: GlanceError) -> web.Response:
    """Render like WebOb's WSGIHTTPException.generate_response (Accept decides the format)."""
    # WebOb skips negotiation for HEAD: its default text/html, without a body.
    match = ("text/html" if request.method == "HEAD"
             else best_match(request.headers.get("Accept", ""), ("text/html", "application/json")))
    title = HTTPStatus(err.status).phrase
    status_line = f"{err.status} {title}"
    if match == "text/html":
        body = _error_text(err, request, html.escape)
        text = (f"<html>\n <head>\n  <title>{status_line}</title>\n </head>\n <body>\n"
                f"  <h1>{status_line}</h1>\n  {body}\n </body>\n</html>")
        content_type = "text/html; charset=UTF-8"
    elif match == "application/json":
        body = _error_text(err, request, str)
        text = orjson.dumps({"message": body, "code": status_line, "title": title}).decode()
        content_type = "application/json"
    else:
        body = _error_text(err, request, str).replace("\n", " ")
        body = re.sub(r"<.*?>", "", re.sub(r"<br.*?>", "\n", body, flags=re.I))
        text = f"{status_line}\n\n{body}"
        content_type = "text/plain; charset=UTF-8"
    headers = {"Content-Type": content_type, **err.headers}
    return web.Response(status=err.status, body=text.encode(), headers=headers)


# ------------------------------------------------------------------------------ identity

@dataclass(frozen=True)
class Context:
    project: str | None
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def has(self, role: str) -> bool:
        return role in self.roles


def identify(headers) -> Context:
    """The lab "trusted" shim followed by Glance's ContextMiddleware."""
    status = headers.get("X-Identity-Status")
    project = (headers.get("X-Project-Id") or headers.get("X-Tenant-Id")
               or headers.get("X-Tenant"))
    roles = headers.get("X-Roles")
    if status is None:
        parts = unquote(headers.get("X-Auth-Token", "")).split(":")
        if len(parts) in (2, 3) and all(parts):
            project, roles = parts[0], parts[1]
        elif project:
            roles = roles or "member,reader"
        else:
            project, roles = "admin", roles or "admin,member,reader"
        status = "Confirmed"
    if status != "Confirmed":
        raise GlanceError(401)
    names = {r.strip().lower() for r in (roles or "").split(",")} - {""}
    return Context(project or None, frozenset(names))


# ------------------------------------------------------------------------------ policy

def _member_of(ctx: Context, img: dict) -> str | None:
    # Glance's image target names the caller as "member" of any shared image it does not own.
    return ctx.project if img["visibility"] == "shared" and ctx.project != img["owner"] else None


def _owns(ctx: Context, img: dict) -> bool:
    return ctx.project is not None and ctx.project == img["owner"]


def policy_allows(ctx: Context, rule: str, img: dict) -> bool:
    """Glance 33's default (new RBAC) rules for the image-scoped policies used here."""
    if ctx.is_admin:
        return True
    readable = (_owns(ctx, img) or _member_of(ctx, img) is not None
                or img["visibility"] in ("community", "public", "shared"))
    if rule == "get_image":
        return ctx.has("reader") and readable
    if rule == "download_image":
        return ctx.has("member") and readable
    if rule == "modify_member":
        return ctx.has("member") and _member_of(ctx, img) is not None
    if rule in ("publicize_image", "delete_image_location"):
        return False
    return ctx.has("member") and _owns(ctx, img)


def enforce(ctx: Context, rule: str, img: dict) -> None:
    """ImageAPIPolicy._enforce: a failed check on an image the caller may not even read is 404."""
    if policy_allows(ctx, rule, img):
        return
    if rule == "get_image" or not policy_allows(ctx, "get_image", img):
        raise GlanceError(404)
    raise not_authorized(rule)


def is_visible(ctx: Context, img: dict) -> bool:
    """The DB layer's visibility check for direct access (any member status counts)."""
    return (ctx.is_admin or img["owner"] is None
            or img["visibility"] in ("public", "community") or _owns(ctx, img)
            or (img["visibility"] == "shared" and ctx.project in img["members"]))


# ------------------------------------------------------------------------------ values

_ISO_RE = re.compile(r"""(?P<year>\d{4})
    (?:(?:-(?P<month_dash>\d{1,2})|(?P<month>\d{2})(?!$))
       (?:(?:-(?P<day_dash>\d{1,2})|(?P<day>\d{2}))
          (?:[ T](?P<hour>\d{2})(?::?(?P<minute>\d{2}))?
             (?::?(?P<second>\d{1,2})(?:[.,](?P<fraction>\d+))?)?
             (?P<tz>Z|(?P<sign>[-+])(?P<tzh>\d{2}):?(?P<tzm>\d{2})?)?
          )?
       )?
    )?$""", re.X)


def parse_isotime(text: str) -> datetime:
    """What oslo's parse_isotime (the iso8601 package) accepts, as naive UTC; else ValueError."""
    m = _ISO_RE.match(text)
    if not m:
        raise ValueError(text)
    g = {k: v for k, v in m.groupdict().items() if v is not None}
    tz = timezone.utc
    if g.get("tz", "Z") != "Z":
        offset = timedelta(hours=int(g["tzh"]), minutes=int(g.get("tzm", 0)))
        tz = timezone(-offset if g["sign"] == "-" else offset)
    stamp = datetime(int(g["year"]), int(g.get("month", g.get("month_dash", 1))),
                     int(g.get("day", g.get("day_dash", 1))), int(g.get("hour", 0)),
                     int(g.get("minute", 0)), int(g.get("second", 0)),
                     int((g.get("fraction", "") + "000000")[:6]), tz)
    return stamp.astimezone(timezone.utc).replace(tzinfo=None)


def naive_utc(stamp: datetime) -> datetime:
    return stamp.astimezone(timezone.utc).replace(tzinfo=None) if stamp.tzinfo else stamp


def isotime(stamp: datetime) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def split_filter_op(value: str) -> tuple[str, str]:
    """Glance's operator prefix: text before the first ':' unless the whole value is a time."""
    left, sep, right = value.partition(":")
    if not sep:
        return "eq", value
    try:
        parse_isotime(value)
        return "eq", value
    except ValueError:
        return left, right


_IN_ITEM = re.compile(r'"((?:[^"\\]|\\.)*)",?|([^,]+),?|,')


def split_in_list(value: str) -> list[str]:
    """An `in:` list: comma separated, items may be double-quoted (backslashes are kept)."""
    inside = False
    for i, char in enumerate(value):
        if char != '"' or (i and value[i - 1] == "\\"):
            continue
        if not inside and i and value[i - 1] != ",":
            raise bad_request(f"Invalid filter value {value}. There is no comma before "
                              "opening quotation mark.")
        if inside and i + 1 != len(value) and value[i + 1] != ",":
            raise bad_request(f"Invalid filter value {value}. There is no comma after "
                              "closing quotation mark.")
        inside = not inside
    if inside:
        raise bad_request(f"Invalid filter value {value}. The quote is not closed.")
    return [quoted or plain for quoted, plain in _IN_ITEM.findall(value)]


# SQLite orders NULL < numbers < text; the images table stores times as text.
def _sql_rank(value: Any) -> int:
    return 0 if value is None else 2 if isinstance(value, (str, datetime)) else 1


def sql_compare(a: Any, b: Any) -> int:
    """-1/0/1 in SQLite's ORDER BY sense (NULL first)."""
    ra, rb = _sql_rank(a), _sql_rank(b)
    if ra != rb or ra == 0:
        return (ra > rb) - (ra < rb)
    if isinstance(a, datetime) != isinstance(b, datetime):  # a stored time against text
        a, b = (v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v
                for v in (a, b))
    return (a > b) - (a < b)


def sql_test(a: Any, op: str, b: Any) -> bool:
    """A SQL comparison: anything involving NULL is false."""
    if a is None or b is None:
        return False
    c = sql_compare(a, b)
    return {"eq": c == 0, "neq": c != 0, "gt": c > 0, "gte": c >= 0, "lt": c < 0,
            "lte": c <= 0}[op]


_NUMERIC_TEXT = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def column_affinity(column: str, value: Any) -> Any:
    """Convert a bound text value the way SQLite's column affinity does."""
    if column in TEXT_COLUMNS or not isinstance(value, str) or not _NUMERIC_TEXT.match(value):
        return value
    number = float(value)
    return int(number) if number.is_integer() else number


# ------------------------------------------------------------------------------ listing

class QueryParams:
    """The parts of webob's MultiDict that Glance's list code relies on: get() reads the
    last value, pop() removes the first, assignment replaces all, dict() keeps the last."""

    _MISSING = object()

    def __init__(self, pairs):
        self.pairs = list(pairs)

    def __contains__(self, key: str) -> bool:
        return any(k == key for k, _ in self.pairs)

    def get(self, key: str, default: Any = None) -> Any:
        return next((v for k, v in reversed(self.pairs) if k == key), default)

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        for i, (k, v) in enumerate(self.pairs):
            if k == key:
                del self.pairs[i]
                return v
        if default is self._MISSING:
            raise KeyError(key)
        return default

    def set(self, key: str, value: Any) -> None:
        self.pairs = [(k, v) for k, v in self.pairs if k != key] + [(key, value)]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.pairs)


@dataclass
class ListQuery:
    filters: QueryParams
    tags: list[str]
    member_status: str
    limit: int | None
    marker: str | None
    sort_keys: list[str]
    sort_dirs: list[str]


def _sort_key(key: str) -> str:
    if key not in SORT_KEYS:
        raise bad_request(f"Invalid sort key: {key}. It must be one of the following: "
                          f"{', '.join(SORT_KEYS)}.")
    return key


def _sort_dir(direction: str) -> str:
    if direction not in ("asc", "desc"):
        raise bad_request(f"Invalid sort direction: {direction}")
    return direction


def parse_sorting(params: QueryParams) -> tuple[list[str], list[str]]:
    keys: list[str] = []
    dirs: list[str] = []
    if "sort" in params:
        if "sort_key" in params or "sort_dir" in params:
            raise bad_request("Old and new sorting syntax cannot be combined")
        for item in params.pop("sort").strip().split(","):
            key, _, direction = item.partition(":")
            keys.append(_sort_key(key.strip()))
            dirs.append(_sort_dir(direction.strip() if direction else "desc"))
    else:
        while "sort_key" in params:
            keys.append(_sort_key(params.pop("sort_key").strip()))
        while "sort_dir" in params:
            dirs.append(_sort_dir(params.pop("sort_dir").strip()))
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise bad_request("Number of sort dirs does not match the number of sort keys")
    return keys or ["created_at"], dirs or ["desc"]


def parse_list_query(pairs, api_version: tuple[int, int]) -> ListQuery:
    """RequestDeserializer.index plus the validation done in ImagesController.index."""
    params = QueryParams(pairs)
    limit = params.pop("limit", None)
    marker = params.pop("marker", None)
    member_status = params.pop("member_status", "accepted")
    tags = []
    while "tag" in params:
        tags.append(params.pop("tag").strip())
    visibility = params.get("visibility")
    allowed = VISIBILITIES + (("all",) if api_version >= (2, 7) else ())
    if visibility and visibility not in allowed:
        raise bad_request(f"Invalid visibility value: {visibility}")
    if params.get("changes-since"):
        raise bad_request('The "changes-since" filter is no longer available on v2.')
    if member_status not in MEMBER_STATUSES + ("all",):
        raise bad_request(f"Invalid status: {member_status}")
    if limit is not None:
        try:
            limit = int(limit)
        except ValueError:
            raise bad_request("limit param must be an integer") from None
        if limit < 0:
            raise bad_request("limit param must be positive")
    sort_keys, sort_dirs = parse_sorting(params)
    params.set("deleted", False)
    if api_version >= (2, 7):  # Rocky added hidden images; before, os_hidden is a property
        hidden = params.get("os_hidden", "false").lower()
        if hidden not in ("true", "false"):
            raise bad_request(f"Invalid value '{hidden}' for 'os_hidden' filter. "
                              "Valid values are 'true' or 'false'.")
        params.set("os_hidden", hidden == "true")
    protected = params.get("protected")
    if protected is not None:
        if protected not in ("true", "false"):
            raise bad_request(f"Invalid value '{protected}' for 'protected' filter. "
                              "Valid values are 'true' or 'false'.")
        params.set("protected", protected == "true")
    return ListQuery(params, tags, member_status, limit, marker, sort_keys, sort_dirs)


Condition = Callable[[dict], bool]


def _range_condition(key: str, raw: str, columns: set[str]) -> Condition:
    name, op = key[:-4], "gte" if key.endswith("_min") else "lte"
    try:
        threshold = int(raw)
    except ValueError:
        raise bad_request("Unable to filter on a range with a non-numeric value.") from None
    if name not in columns:
        raise GlanceError(500)  # Glance's getattr(models.Image, name) raises AttributeError
    threshold = str(threshold) if name in TEXT_COLUMNS else threshold
    return lambda img: sql_test(img.get(name), op, threshold)


def _time_condition(key: str, raw: str) -> Condition:
    op, text = split_filter_op(raw)
    try:
        threshold = parse_isotime(text)
    except ValueError:
        raise bad_request(f'Bad "{key}" query filter format. Use ISO 8601 DateTime '
                          "notation.") from None
    if op not in ("gt", "gte", "lt", "lte", "eq", "neq"):
        raise bad_request("Unable to filter on a unknown operator.")
    return lambda img: sql_test(img[key], op, threshold)


def _operator_condition(key: str, raw: str) -> Condition:
    op, value = split_filter_op(raw)
    if op == "in":
        values = split_in_list(value)
        return lambda img: img[key] in values
    if op == "eq":
        return lambda img: img[key] == value
    raise bad_request(f"Unable to filter by unknown operator '{op}'.")


def _tags_condition(tag: str) -> Condition:
    return lambda img: tag in img["tags"]


def _equal_condition(key: str, value: Any) -> Condition:
    value = column_affinity(key, value)
    return lambda img: sql_test(img.get(key), "eq", value)


def _property_condition(key: str, value: Any) -> Condition:
    return lambda img: img["properties"].get(key) == value


def build_conditions(filters: QueryParams, tags: list[str],
                     api_version: tuple[int, int]) -> list[Condition]:
    """_make_conditions_from_filters, in its order (which decides which error wins)."""
    columns = INT_COLUMNS | TEXT_COLUMNS | BOOL_COLUMNS | TIME_COLUMNS
    if api_version < (2, 7):
        columns -= ROCKY_COLUMNS
    conditions: list[Condition] = []
    for key in ("os_hidden", "checksum", "os_hash_value"):
        if key in filters and key in columns:
            conditions.append(_equal_condition(key, filters.pop(key)))
    if "properties" in filters or "changes-since" in filters:
        raise GlanceError(500)  # Glance crashes on these (a str where a dict/time is expected)
    filters.pop("deleted", None)  # deleted and killed images are never listed anyway
    conditions += [_tags_condition(tag) for tag in tags]
    remaining = filters.as_dict()
    for key, value in list(remaining.items()):
        if key.endswith(("_min", "_max")):
            conditions.append(_range_condition(key, value, columns))
        elif key in ("created_at", "updated_at"):
            conditions.append(_time_condition(key, value))
        elif key in ("name", "id", "status", "container_format", "disk_format"):
            conditions.append(_operator_condition(key, value))
        else:
            continue
        del remaining[key]
    for key, value in remaining.items():
        if key in RELATIONS:
            raise GlanceError(500)
        make = _equal_condition if key in columns else _property_condition
        conditions.append(make(key, value))
    return conditions


def in_default_scope(ctx: Context, img: dict, member_status: str) -> bool:
    """The union of _select_images_query for a regular user (admins see everything)."""
    if ctx.is_admin or img["visibility"] in ("public", "community") or _owns(ctx, img):
        return True
    if img["visibility"] != "shared":
        return False
    if ctx.project is None:
        return bool(img["members"])
    member = img["members"].get(ctx.project)
    return member is not None and member_status in ("all", member["status"])


def matches_visibility(ctx: Context, img: dict, visibility: str | None) -> bool:
    if visibility is not None:
        return visibility == "all" or img["visibility"] == visibility
    # Without a visibility filter community images show only to their owner.
    return img["visibility"] != "community" or (ctx.project is not None and _owns(ctx, img))


def _order_key(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (_sql_rank(value), value)


def sort_rows(rows: list[dict], keys: list[str], dirs: list[str]) -> None:
    """ORDER BY keys/dirs as SQLite does (NULL lowest): stable sorts, last key first."""
    for key, direction in reversed(list(zip(keys, dirs))):
        rows.sort(key=lambda img: _order_key(img[key]), reverse=direction == "desc")


_NULL_DEFAULTS = {"size": 0, "created_at": None, "updated_at": None}


def after_marker(keys: list[str], dirs: list[str], marker: dict, img: dict) -> bool:
    """Glance's keyset pagination.  NULL row values become 0/''/NULL by column type, but a
    NULL in the marker becomes '' whatever the type; so after a marker with size NULL a
    size-sorted desc list starts again from the top, and an asc one ends (real behaviour)."""
    def row(key):
        value = img[key]
        return _NULL_DEFAULTS.get(key, "") if value is None else value

    def mark(key):
        return "" if marker[key] is None else marker[key]

    for i, key in enumerate(keys):
        if all(sql_test(row(k), "eq", mark(k)) for k in keys[:i]):
            if sql_test(row(key), "lt" if dirs[i] == "desc" else "gt", mark(key)):
                return True
    return False


# ------------------------------------------------------------------------------ requests

async def read_json(request: web.Request) -> Any:
    """JSONRequestDeserializer.default plus the 'Body expected' rule."""
    if not has_body(request):
        raise bad_request("Body expected in request.")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise bad_request("Malformed JSON in request body.") from None
    if not isinstance(body, (dict, list)):
        raise bad_request("Unexpected body type. Expected list/dict.")
    return body


def has_body(request: web.Request) -> bool:
    chunked = request.headers.get("Transfer-Encoding", "").lower() in (
        "chunked", "compress", "deflate", "gzip", "identity")
    if chunked and request.method in ("POST", "PUT", "PATCH"):
        return True
    return (request.content_length or 0) > 0


def media_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "").split(";", 1)[0].strip()


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


def validate_schema(body: dict, api_version: tuple[int, int]) -> None:
    base = [k for k in SCHEMA if k in body]
    for prop in base + [k for k in body if k not in SCHEMA]:
        message = schema_error(prop, body[prop], api_version)
        if message:
            raise bad_request(f"Provided object does not match schema 'image': {message}")


def check_min_values(img: dict) -> None:
    """Domain setters (negative) then the DB's 32-bit check, min_disk before min_ram."""
    for key in ("min_disk", "min_ram"):
        if img[key] and img[key] < 0:
            raise bad_request(f"Invalid value '{img[key]}' for parameter '{key}': "
                              "Cannot be a negative value")
    for key in ("min_disk", "min_ram"):
        if img[key] and img[key] > MAX_DB_INT:
            raise bad_request(f"'{key}' value out of range, must not exceed {MAX_DB_INT}.")


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


def parse_change(raw: Any, draft: int, api_version: tuple[int, int]) -> dict:
    """One JSON-patch operation, validated like RequestDeserializer.update."""
    ops = ("add", "remove", "replace")
    if not isinstance(raw, dict):
        raise bad_request("Operations must be JSON objects.")
    if draft == 10:
        op = raw.get("op")
        if op is None or op not in ops:
            lead = ("Unable to find `op` in JSON Schema change" if op is None
                    else f"Invalid operation: `{op}`")
            raise bad_request(f"{lead}. It must be one of the following: add, remove, replace.")
        if "path" not in raw:
            raise bad_request("Unable to find 'path' in JSON Schema change")
        pointer = raw["path"]
    else:
        present = [name for name in ops if name in raw]
        if len(present) != 1:
            amount = "only one member" if present else "exactly one member"
            raise bad_request(f'Operation objects must contain {amount} named "add", '
                              '"remove", or "replace".')
        op = present[0]
        pointer = raw[op]
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
    if op != "remove":
        value = change["value"] if len(path) == 1 else [change["value"]]
        if len(path) == 1 or root in ("tags", "locations"):
            message = schema_error(root, value, api_version)
            if message:
                raise bad_request(f"Provided object does not match schema 'image': {message}")
    return change


# ------------------------------------------------------------------------------ simulator

RouteTable = list[tuple["re.Pattern[str]", dict[str, str], str, set[str]]]
_ID = r"(?P<image_id>[^/]+)"
ROUTES: RouteTable = [
    # (path, {method: handler name}, Allow header, methods whose body must be empty)
    (re.compile(r"/v2/images"), {"GET": "list_images", "POST": "create_image"},
     "GET, POST", set()),
    (re.compile(rf"/v2/images/{_ID}"), {"GET": "show_image", "PATCH": "update_image",
                                        "DELETE": "delete_image"},
     "GET, PATCH, DELETE", {"GET", "DELETE"}),
    (re.compile(rf"/v2/images/{_ID}/file"), {"GET": "download", "PUT": "upload"},
     "GET, PUT", {"GET"}),
    (re.compile(rf"/v2/images/{_ID}/actions/(?P<action>deactivate|reactivate)"),
     {"POST": "image_action"}, "POST", {"POST"}),
    (re.compile(r"/v2/info/import"), {"GET": "import_info"}, "GET", {"GET"}),
    (re.compile(rf"/v2/images/{_ID}/import"), {"POST": "import_image"}, "POST", set()),
    (re.compile(rf"/v2/images/{_ID}/members"), {"GET": "list_members", "POST": "add_member"},
     "GET, POST", {"GET"}),
    (re.compile(rf"/v2/images/{_ID}/members/(?P<member_id>[^/]+)"),
     {"GET": "show_member", "PUT": "update_member", "DELETE": "delete_member"},
     "GET, PUT, DELETE", {"GET", "DELETE"}),
]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Simulator:
    """In-memory Glance v2.  One store; `app()` may be called for several servers."""

    def __init__(self, *, api_version: str = "2.17",
                 now: Callable[[], datetime] | None = None,
                 api_limit_max: int = 1000, limit_param_default: int = 25):
        self.api_version = api_version
        # Glance's config options of the same names: the default and the cap of page sizes.
        self.api_limit_max, self.limit_param_default = api_limit_max, limit_param_default
        self._now = now or _utcnow
        self._images: dict[str, dict] = {}
        self._imports: set[asyncio.Task] = set()  # web-downloads under way

    # -- public helpers ---------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=0)  # no body size limit, like Glance
        app.router.add_route("*", "/{path:.*}", self._dispatch)
        return app

    def add_image(self, *, owner: str, data: bytes | None = None,
                  members: dict[str, str] | None = None, **fields) -> dict:
        """Load an image directly (demo/bench).  Unknown fields become custom properties."""
        now = self._clock()
        img = self._new_record(fields.pop("id", None) or str(uuid.uuid4()), owner, now)
        # Records hold naive UTC datetimes with microseconds, like Glance's sqlite rows.
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
            self._store_data(img, data, hashlib.md5(data), hashlib.sha512(data))
        img["status"] = status or img["status"]
        for project, member_status in (members or {}).items():
            img["members"][project] = {"status": member_status, "created_at": now,
                                       "updated_at": now}
        self._images[img["id"]] = img
        return img

    def _clock(self) -> datetime:
        return naive_utc(self._now())

    # -- plumbing ------------------------------------------------------------------------

    @property
    def version(self) -> tuple[int, int]:
        major, _, minor = self.api_version.partition(".")
        return int(major), int(minor or 0)

    def _new_record(self, image_id: str, owner: str | None, now: datetime) -> dict:
        return {"id": image_id, "name": None, "status": "queued", "visibility": "shared",
                "protected": False, "os_hidden": False, "min_ram": 0, "min_disk": 0,
                "owner": owner, "disk_format": None, "container_format": None, "size": None,
                "virtual_size": None, "checksum": None, "os_hash_algo": None,
                "os_hash_value": None, "created_at": now, "updated_at": now,
                "deleted": False, "tags": [], "properties": {}, "members": {}, "data": None}

    @staticmethod
    def _store_data(img: dict, data: bytes, md5, sha512) -> None:
        img.update(data=bytes(data), size=len(data), status="active",
                   checksum=md5.hexdigest(), os_hash_algo="sha512",
                   os_hash_value=sha512.hexdigest(),
                   # Glance's format inspector sizes only data it recognises: arbitrary
                   # non-empty bytes pass as raw, nothing else.
                   virtual_size=len(data) if img["disk_format"] == "raw" and data else None)

    def _versions(self, request: web.Request, status: int) -> web.Response:
        major, minor = self.version
        href = f"{request.url.origin()}/v2/"
        versions = [{"id": f"v{major}.{n}", "status": "CURRENT" if n == minor else "SUPPORTED",
                     "links": [{"rel": "self", "href": href}]} for n in range(minor, -1, -1)]
        return json_response({"versions": versions}, status=status)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        segments = request.path.lstrip("/").split("/", 1)
        # Version negotiation runs before the context middleware: no request id here.
        if segments[0] == "versions":
            return self._versions(request, 200)
        allowed = {"v2"} | {f"v2.{n}" for n in range(self.version[1] + 1)}
        if segments[0] not in allowed:
            return self._versions(request, 300)
        try:
            ctx = identify(request.headers)
        except GlanceError as err:  # raised before Glance attaches a request id
            return render_error(request, err)
        incoming = request.headers.get("X-Openstack-Request-Id")
        request_id = incoming if incoming else f"req-{uuid.uuid4()}"
        request_id = request_id if request_id.startswith("req-") else f"req-{request_id}"
        try:
            if len(segments) == 1:  # Routes redirects the bare version prefix
                response = web.Response(status=302,
                                        headers={"Location": f"{request.url.origin()}/v2/"})
            else:
                response = await self._route(request, ctx, "/v2/" + segments[1])
        except GlanceError as err:
            response = render_error(request, err)
        except Exception:
            log.exception("simulator: unexpected error on %s %s", request.method, request.path)
            response = render_error(request, GlanceError(500))
        response.headers["X-Openstack-Request-Id"] = request_id
        return response

    async def _route(self, request: web.Request, ctx: Context, path: str) -> web.StreamResponse:
        for pattern, handlers, allow, no_body in ROUTES:
            match = pattern.fullmatch(path)
            if not match:
                continue
            name = handlers.get(request.method)
            if name is None:
                raise GlanceError(405, headers={"Allow": allow})
            if request.method in no_body and has_body(request):
                raise bad_request("A body is not expected with this request.")
            return await getattr(self, name)(request, ctx, **match.groupdict())
        raise GlanceError(404)

    def _find(self, ctx: Context, image_id: str, message: str | None = None) -> dict:
        img = self._images.get(image_id)
        if img is None or img["deleted"] or not is_visible(ctx, img):
            raise GlanceError(404, message or f"No image found with ID {image_id}")
        return img

    def _view(self, img: dict, ctx: Context) -> dict:
        """ResponseSerializer._format_image."""
        view = {k: "" if v is None else v for k, v in img["properties"].items()
                if k not in HIDDEN_PROPERTIES}
        for key in ("name", "disk_format", "container_format", "visibility", "size",
                    "virtual_size", "status", "checksum", "protected", "min_ram", "min_disk",
                    "owner", "os_hidden", "os_hash_algo", "os_hash_value", "id"):
            view[key] = img[key]
        view.update(created_at=isotime(img["created_at"]),
                    updated_at=isotime(img["updated_at"]), tags=list(img["tags"]),
                    self=f"/v2/images/{img['id']}", file=f"/v2/images/{img['id']}/file",
                    schema="/v2/schemas/image")
        if self.version < (2, 7):  # Pike had none of these
            for key in ROCKY_COLUMNS:
                del view[key]
        # The lab's single store; locations of deactivated images are hidden from non-admins.
        if self.version >= (2, 8) and img["data"] is not None and (
                img["status"] != "deactivated" or ctx.is_admin):
            view["stores"] = "fs"
        return view

    # -- images ----------------------------------------------------------------------------

    async def list_images(self, request: web.Request, ctx: Context) -> web.Response:
        query = parse_list_query(request.rel_url.query.items(), self.version)
        if query.limit is None:
            query.limit = self.limit_param_default
        query.limit = min(self.api_limit_max, query.limit)
        if not (ctx.is_admin or ctx.has("reader")):
            raise not_authorized("get_images")
        page = self._select(ctx, query)
        params = QueryParams(request.rel_url.query.items()).as_dict()
        params.pop("marker", None)
        body = {"images": [self._view(img, ctx) for img in page],
                "first": "/v2/images" + (f"?{urlencode(params)}" if params else ""),
                "schema": "/v2/schemas/images"}
        if page and len(page) == query.limit:
            params["marker"] = page[-1]["id"]
            body["next"] = f"/v2/images?{urlencode(params)}"
        return json_response(body)

    def _select(self, ctx: Context, query: ListQuery) -> list[dict]:
        """The DB layer: conditions, scope, marker, ordering, limit."""
        visibility = query.filters.pop("visibility", None)
        conditions = build_conditions(query.filters, query.tags, self.version)
        marker = self._marker(ctx, query.marker)
        keys, dirs = list(query.sort_keys), list(query.sort_dirs)
        default_dir = dirs[0] if len(dirs) == 1 else "desc"
        if len(dirs) == 1:
            dirs *= len(keys)
        for key in ("created_at", "id"):
            if key not in keys:
                keys.append(key)
                dirs.append(default_dir)
        rows = [img for img in self._images.values()
                if not img["deleted"] and img["status"] != "killed"
                and in_default_scope(ctx, img, query.member_status)
                and matches_visibility(ctx, img, visibility)
                and all(cond(img) for cond in conditions)]
        sort_rows(rows, keys, dirs)
        if marker is not None:
            rows = [img for img in rows if after_marker(keys, dirs, marker, img)]
        return rows[:query.limit]

    def _marker(self, ctx: Context, marker: str | None) -> dict | None:
        if marker is None:
            return None
        if len(marker) > 36:  # Glance raises ImageNotFound() without formatting its message
            raise bad_request("Image with the given id %(image_id)s was not found")
        img = self._images.get(marker)
        if img is None or (img["deleted"] and not ctx.is_admin):
            raise bad_request(f"No image found with ID {marker}")
        if not is_visible(ctx, img):
            raise GlanceError(403, f"Forbidding request, image {marker} not visible")
        return img

    async def show_image(self, request: web.Request, ctx: Context, image_id: str):
        img = self._find(ctx, image_id)
        enforce(ctx, "get_image", img)
        return json_response(self._view(img, ctx))

    async def create_image(self, request: web.Request, ctx: Context) -> web.Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise GlanceError(500)  # Glance pops keys off the list and crashes
        for key in ("direct_url", "self", "file", "schema", "stores"):
            if key in body:
                raise GlanceError(403, f"Attribute '{key}' is read-only.")
        validate_schema(body, self.version)
        base = {"id", "name", "visibility", "protected", "min_ram", "min_disk",
                "container_format", "disk_format", "tags", "owner", "checksum", "created_at",
                "size", "virtual_size", "status", "updated_at"}
        if self.version >= (2, 7):
            base.add("os_hidden")
        fields = {k: body[k] for k in body if k in base}
        extra = {k: v for k, v in body.items() if k not in base}
        for key in extra:
            if len(key) > 255:
                raise bad_request("Custom property should not be greater than 255 characters.")
            if key in RESERVED or key.startswith("os_glance"):
                raise GlanceError(403, detail=f"Attribute '{key}' is reserved.")
        owner = fields.get("owner", ctx.project)
        self._check_create_policy(ctx, owner, fields.get("visibility", "private"))
        for key in ("created_at", "updated_at", "status", "checksum", "size", "virtual_size"):
            if key in fields:
                raise GlanceError(403, f"Attribute '{key}' is read-only.")
        if "locations" in extra:
            raise GlanceError(403, "Attribute 'locations' is reserved.")
        image_id = fields.pop("id", None) or str(uuid.uuid4())
        img = self._new_record(image_id, owner, self._clock())
        img["tags"] = list(dict.fromkeys(fields.pop("tags", [])))
        img.update({k: int(v) if k in INT_COLUMNS else v for k, v in fields.items()})
        img["owner"] = owner or None
        img["properties"] = extra
        check_min_values(img)
        if image_id in self._images:
            raise GlanceError(409, f"Image ID {image_id} already exists!")
        self._images[image_id] = img
        location = f"{request.url.origin()}/v2/images/{image_id}"
        headers = {"Location": location,
                   "OpenStack-image-import-methods": "glance-direct,web-download,copy-image",
                   "OpenStack-image-store-ids": "fs,os_glance_staging_store,os_glance_tasks_store"}
        return json_response(self._view(img, ctx), status=201, headers=headers)

    @staticmethod
    def _check_create_policy(ctx: Context, owner: str | None, visibility: str) -> None:
        if not ctx.is_admin and not (ctx.has("member") and owner == ctx.project):
            if owner != ctx.project:
                raise GlanceError(403, detail=f"You are not permitted to create images "
                                              f"owned by '{owner}'")
            raise not_authorized("add_image")
        if visibility == "public" and not ctx.is_admin:
            raise not_authorized("publicize_image")

    async def update_image(self, request: web.Request, ctx: Context, image_id: str):
        draft = PATCH_TYPES.get(media_type(request))
        if draft is None:
            allowed = ", ".join(sorted(PATCH_TYPES))
            raise GlanceError(415, detail=f"Image PATCH expects Content-Type one of: {allowed}",
                              headers={"Accept-Patch": allowed})
        body = await read_json(request)
        if not isinstance(body, list):
            raise bad_request("Request body must be a JSON array of operation objects.")
        changes = [parse_change(raw, draft, self.version) for raw in body]
        img = self._find(ctx, image_id)
        # All or nothing: apply to a copy, commit only if every change succeeded.
        work = copy.deepcopy({k: v for k, v in img.items() if k != "data"})
        for change in changes:
            self._apply_change(ctx, work, change)
        if changes:
            check_min_values(work)
            img.update(work, updated_at=self._clock())
        return json_response(self._view(img, ctx))

    def _apply_change(self, ctx: Context, img: dict, change: dict) -> None:
        """ImagesController._do_add/_do_replace/_do_remove on a working copy."""
        op, root, value = change["op"], change["path"][0], change.get("value")
        if root == "locations":
            return self._location_change(ctx, img, op, value)
        if op == "replace" and root == "owner" and not ctx.is_admin:
            raise GlanceError(403, detail="Owner can't be updated by non admin.")
        if root == "visibility" and value in ("public", "community"):
            rule = "publicize_image" if value == "public" else "communitize_image"
            if not policy_allows(ctx, rule, img):  # checked without the 404 translation
                raise not_authorized(rule)
        enforce(ctx, "modify_image", img)
        base = root in PATCHABLE and (root != "os_hidden" or self.version >= (2, 7))
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

    @staticmethod
    def _location_change(ctx: Context, img: dict, op: str, value: Any) -> None:
        # show_multiple_locations is off (Glance's default), so every location edit fails.
        if op == "replace" and not value:
            raise GlanceError(403, detail="Cannot set locations to empty list.")
        enforce(ctx, "delete_image_location" if op == "remove" else "set_image_location", img)
        verb = {"replace": "update", "add": "add", "remove": "remove"}[op]
        raise GlanceError(403, f"It's not allowed to {verb} locations if locations are "
                               "invisible.")

    async def delete_image(self, request: web.Request, ctx: Context, image_id: str):
        img = self._find(ctx, image_id, f"Failed to find image {image_id} to delete")
        enforce(ctx, "delete_image", img)
        if img["protected"]:
            raise GlanceError(403, f"Image {image_id} is protected and cannot be deleted.")
        # Rows stay (soft delete): ids cannot be reused and admins may page from them.
        img.update(status="deleted", deleted=True, data=None, members={}, updated_at=self._clock())
        return web.Response(status=204)

    async def image_action(self, request: web.Request, ctx: Context, image_id: str,
                           action: str):
        img = self._find(ctx, image_id)
        enforce(ctx, action, img)
        source, target = (("active", "deactivated") if action == "deactivate"
                          else ("deactivated", "active"))
        if img["status"] == source:
            img.update(status=target, updated_at=self._clock())
        elif img["status"] != target:
            raise GlanceError(403, f"Not allowed to {action} image in status '{img['status']}'")
        return web.Response(status=204)

    # -- data ----------------------------------------------------------------------------------

    async def upload(self, request: web.Request, ctx: Context, image_id: str):
        content_type = media_type(request) if "Content-Type" in request.headers else None
        if content_type != "application/octet-stream":
            raise GlanceError(415, detail=f"Invalid content type {content_type}")
        size = request.headers.get("x-openstack-image-size")
        if size is not None:
            try:
                int(size)
            except ValueError:
                raise bad_request("Invalid or missing image size in request headers.") from None
        img = self._find(ctx, image_id)
        enforce(ctx, "upload_image", img)
        if img["status"] != "queued":
            raise GlanceError(409, f"Image status transition from {img['status']} to saving "
                                   "is not allowed")
        missing = [k for k in ("disk_format", "container_format") if not img[k]]
        if missing:
            noun = "Property" if len(missing) == 1 else "Properties"
            raise bad_request(f"{noun} {', '.join(missing)} must be set prior to saving data.")
        img.update(status="saving", updated_at=self._clock())
        data, md5, sha512 = bytearray(), hashlib.md5(), hashlib.sha512()
        try:
            async for chunk in request.content.iter_chunked(1 << 16):
                data += chunk
                md5.update(chunk)
                sha512.update(chunk)
        except BaseException:  # a broken upload goes back to queued, as in v2
            img.update(status="queued", size=None, virtual_size=None, updated_at=self._clock())
            raise
        if img["deleted"]:
            raise GlanceError(410, f"Image {image_id} could not be found after upload. The "
                                   "image may have been deleted during the upload, cleaning "
                                   "up the chunks uploaded.")
        self._store_data(img, data, md5, sha512)
        img["updated_at"] = self._clock()
        return web.Response(status=204)

    async def download(self, request: web.Request, ctx: Context, image_id: str):
        img = self._find(ctx, image_id)
        if img["status"] == "deactivated" and not ctx.is_admin:
            raise GlanceError(403, "The requested image has been deactivated. Image data "
                                   "download is forbidden.")
        enforce(ctx, "download_image", img)
        if img["data"] is None:
            return web.Response(status=204)
        headers = {"Content-Type": "application/octet-stream"}
        if img["checksum"]:
            headers["Content-MD5"] = img["checksum"]
        return web.Response(body=img["data"], headers=headers)

    # -- import (web-download only) -----------------------------------------------------------

    IMPORT_METHODS = ["glance-direct", "web-download"]

    async def import_info(self, request: web.Request, ctx: Context):
        if self.version < (2, 6):  # the import API arrived with Queens
            raise GlanceError(404)
        return json_response({"import-methods": {"description": "Import methods available.",
                                                 "type": "array",
                                                 "value": self.IMPORT_METHODS}})

    async def import_image(self, request: web.Request, ctx: Context, image_id: str):
        if self.version < (2, 6):
            raise GlanceError(404)
        body = await read_json(request)
        method = body.get("method") if isinstance(body, dict) else None
        if not isinstance(method, dict):
            raise bad_request("Import request requires a 'method' field.")
        name = method.get("name")
        if name not in self.IMPORT_METHODS:
            raise bad_request(f"Unknown import method name '{name}'.")
        img = self._find(ctx, image_id)
        if name != "web-download":
            raise GlanceError(409, f"Image {image_id} is not in a state to be imported")
        for key in ("container_format", "disk_format"):
            if not img[key]:
                raise GlanceError(409, f"'{key}' needs to be set before import")
        if img["status"] != "queued":
            raise GlanceError(409, f"Image needs to be in 'queued' status to import. Current "
                                   f"status: {img['status']}")
        uri = method.get("uri")
        host = urlsplit(uri).hostname if isinstance(uri, str) else None
        if not uri or not uri.startswith(("http://", "https://")) or host != "127.0.0.1":
            raise bad_request(f"URI for web-download does not pass filtering: {uri}")
        img.update(status="importing", updated_at=self._clock())
        task = asyncio.get_running_loop().create_task(self._web_download(img, uri))
        self._imports.add(task)
        task.add_done_callback(self._imports.discard)
        return web.Response(status=202)

    async def _web_download(self, img: dict, uri: str) -> None:
        try:
            async with aiohttp.ClientSession() as session, session.get(uri) as answer:
                answer.raise_for_status()
                data = await answer.read()
        except (aiohttp.ClientError, asyncio.TimeoutError):
            img.update(status="queued", updated_at=self._clock())  # as a failed import
            return
        if img["deleted"]:
            return
        self._store_data(img, data, hashlib.md5(data), hashlib.sha512(data))
        img["updated_at"] = self._clock()

    # -- members -------------------------------------------------------------------------------

    def _shared_image(self, ctx: Context, image_id: str, action: str) -> dict:
        """Only shared images have members; each call words that refusal its own way."""
        img = self._find(ctx, image_id, f"Image {image_id} not found.")
        if img["visibility"] != "shared":
            if action == "show":
                raise GlanceError(404, "Only shared images have members.")
            reason = ": Only shared images have members." if action == "list" else "."
            raise GlanceError(403, f"Not allowed to {action} members for image {image_id}"
                                   f"{reason}")
        return img

    def _member_view(self, img: dict, project: str) -> dict:
        member = img["members"][project]
        return {"member_id": project, "image_id": img["id"], "status": member["status"],
                "created_at": isotime(member["created_at"]),
                "updated_at": isotime(member["updated_at"]), "schema": "/v2/schemas/member"}

    def _visible_member(self, ctx: Context, img: dict, project: str) -> dict:
        """MemberRepo.get: non-admins see the owner's whole list or their own entry only.
        (The get_member policy itself cannot fail once get_image passed.)"""
        enforce(ctx, "get_image", img)
        if project not in img["members"] or not (
                ctx.is_admin or _owns(ctx, img) or project == ctx.project):
            raise GlanceError(404, f"{project} not found in the member list of the image "
                                   f"{img['id']}.")
        return img["members"][project]

    async def list_members(self, request: web.Request, ctx: Context, image_id: str):
        img = self._shared_image(ctx, image_id, "list")
        enforce(ctx, "get_image", img)  # then get_members, which cannot fail after it
        projects = [p for p in img["members"]
                    if ctx.is_admin or _owns(ctx, img) or p == ctx.project]
        return json_response({"members": [self._member_view(img, p) for p in projects],
                              "schema": "/v2/schemas/members"})

    async def show_member(self, request: web.Request, ctx: Context, image_id: str,
                          member_id: str):
        img = self._shared_image(ctx, image_id, "show")
        try:
            self._visible_member(ctx, img, member_id)
        except GlanceError as err:  # show turns every refusal into a 404
            raise GlanceError(404, err.explanation) from None
        return json_response(self._member_view(img, member_id))

    async def add_member(self, request: web.Request, ctx: Context, image_id: str):
        body = await read_json(request)
        if not isinstance(body, dict):
            raise bad_request('Expected a member in the form: {"member": "image_id"}')
        if "member" not in body:
            raise bad_request("Member to be added not specified")
        if not body["member"]:
            raise bad_request("Member can't be empty")
        project = body["member"]
        img = self._shared_image(ctx, image_id, "create")
        enforce(ctx, "get_image", img)
        if not policy_allows(ctx, "add_member", img):
            raise not_authorized("add_member")
        if project in img["members"]:
            raise GlanceError(409, f"Member {project} is duplicated for image {image_id}")
        now = self._clock()
        img["members"][project] = {"status": "pending", "created_at": now, "updated_at": now}
        return json_response(self._member_view(img, project))

    async def update_member(self, request: web.Request, ctx: Context, image_id: str,
                            member_id: str):
        body = await read_json(request)
        if not isinstance(body, dict):
            raise bad_request('Expected a status in the form: {"status": "status"}')
        if "status" not in body:
            raise bad_request("Status not specified")
        img = self._shared_image(ctx, image_id, "update")
        member = self._visible_member(ctx, img, member_id)
        if not policy_allows(ctx, "modify_member", img):
            raise not_authorized("modify_member")
        if body["status"] not in MEMBER_STATUSES:
            raise bad_request('Incorrect request: Status must be "pending", "accepted" or '
                              '"rejected".')
        member.update(status=body["status"], updated_at=self._clock())
        return json_response(self._member_view(img, member_id))

    async def delete_member(self, request: web.Request, ctx: Context, image_id: str,
                            member_id: str):
        img = self._shared_image(ctx, image_id, "delete")
        self._visible_member(ctx, img, member_id)
        if not policy_allows(ctx, "delete_member", img):
            raise not_authorized("delete_member")
        del img["members"][member_id]
        return web.Response(status=204)


def json_response(body: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers=headers,
                        content_type="application/json")
