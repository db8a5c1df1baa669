"""The v1 list/detail query string -> a validated ListQuery, or the V1Error v1 answered.

Validation order and messages follow Glance v1 (docs/v1-api.md#21-which-parameters-are-read,
docs/v1-api.md#22-validation-and-messages): the API
checks its filters in query-string order, then the registry checks ``changes-since``,
``protected``, ``limit``, ``marker``, ``sort_key`` and ``sort_dir``; registry messages come
back nested (errors.nested). Repeated parameters: the last value wins. Parameters v1 did
not know are dropped silently, as v1 did.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import unquote_plus

import iso8601

from proxy.v1.errors import V1Error, nested

EXACT_FILTERS = ("name", "status", "container_format", "disk_format")
SORT_KEYS = (
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "id",
    "created_at",
    "updated_at",
)
SORT_DIRS = ("asc", "desc")
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000

# The API-level validators of glance/api/v1/filters.py: which filters it checks, and how.
_INT_FILTERS = ("size_min", "size_max", "min_ram")
_BOOL_FILTERS = ("is_public", "protected")
_BOOL_WORDS = ("none", "true", "false", "1", "0")


@dataclass(frozen=True)
class ListQuery:
    """A v1 listing request, validated. Field names are v1's."""

    exact: tuple[tuple[str, str], ...] = ()  # name/status/container_format/disk_format
    size_min: int | None = None
    size_max: int | None = None
    min_ram: int | None = None
    min_disk: str | None = None  # v1 never validated it; passed on as given
    protected: bool | None = None
    # validated; its meaning depends on the caller
    # (docs/v1-api.md#23-is_public-and-the-admins-view)
    is_public: str | None = None
    properties: tuple[tuple[str, str], ...] = ()
    changes_since: datetime | None = None  # aware, UTC
    limit: int = DEFAULT_LIMIT
    marker: str | None = None
    sort_key: str = "created_at"
    sort_dir: str = "desc"


_SEPARATORS = re.compile("[&;]")


def query_pairs(query_string: str) -> list[tuple[str, str]]:
    """A raw query string as (name, value) pairs, split as v1's WebOb split it (on ``&`` and
    ``;``, ``+`` meaning a space); bytes that are not UTF-8 become U+FFFD."""
    pairs = []
    for part in _SEPARATORS.split(query_string):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote_plus(name, errors="replace"), unquote_plus(value, errors="replace")))
    return pairs


def parse_list_query(pairs, *, default_limit: int = DEFAULT_LIMIT, max_limit: int = MAX_LIMIT):
    """``pairs``: the query string as (name, value) pairs in order (query_pairs). Returns a
    ListQuery."""
    params: dict[str, str] = {}
    for name, value in pairs:
        params[name] = value  # the last value wins, checked where the name first appeared

    for name, value in params.items():  # the API's filter checks, in query-string order
        if name in _INT_FILTERS and _non_negative_int(value) is None:
            raise _bad_filter(name, value)
        if name in _BOOL_FILTERS and value.lower() not in _BOOL_WORDS:
            raise _bad_filter(name, value)

    changes_since = None
    if "changes-since" in params:
        changes_since = parse_iso8601(params["changes-since"])
        if changes_since is None:
            raise nested(400, "Unrecognized changes-since value", detail=True)
    protected = None
    if "protected" in params:
        word = params["protected"].lower()
        if word == "none":  # passes the API, refused by the registry
            raise nested(400, "protected must be True, or False", detail=True)
        protected = word in ("true", "1")

    query = ListQuery(
        exact=tuple((k, params[k]) for k in EXACT_FILTERS if k in params),
        size_min=_optional_int(params, "size_min"),
        size_max=_optional_int(params, "size_max"),
        min_ram=_optional_int(params, "min_ram"),
        min_disk=params.get("min_disk"),
        protected=protected,
        is_public=params.get("is_public"),
        properties=tuple(
            (k[len("property-"):], v) for k, v in params.items() if k.startswith("property-")
        ),
        changes_since=changes_since,
        limit=_limit(params.get("limit"), default_limit, max_limit),
        sort_key=_choice(params.get("sort_key"), SORT_KEYS, "sort_key", "created_at"),
        sort_dir=_choice(params.get("sort_dir"), SORT_DIRS, "sort_dir", "desc"),
        marker=_marker(params.get("marker")),
    )
    # passes the format check, then the lookup fails (docs/v1-api.md#22-validation-and-messages)
    if query.marker == "":
        raise invalid_marker()
    return query


def _bad_filter(name: str, value: str) -> V1Error:
    return V1Error(400, detail=f"Bad value passed to filter {name} got {value}")


def _non_negative_int(value: str) -> int | None:
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number >= 0 else None


def _optional_int(params: dict[str, str], name: str) -> int | None:
    return int(params[name]) if name in params else None


def _limit(value: str | None, default: int, cap: int) -> int:
    if value is None:
        return default
    try:
        limit = int(value)
    except ValueError:
        raise nested(400, "limit param must be an integer", detail=True) from None
    if limit < 0:
        raise nested(400, "limit param must be positive", detail=True)
    return min(limit, cap)


def _marker(value: str | None) -> str | None:
    if value and not _is_uuid_like(value):
        raise nested(400, "Invalid marker format")
    return value


def invalid_marker() -> V1Error:
    return nested(400, "Invalid marker. Image could not be found.")


def _is_uuid_like(value: str) -> bool:
    """oslo.utils ``is_uuid_like``: the spellings ``uuid.UUID`` reads back to the same hex
    (its prefix stripping is case-sensitive, so ``URN:UUID:...`` is not one)."""
    try:
        parsed = uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    spelled = value.replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "")
    return parsed.hex == spelled.lower()


def canonical_uuid(value: str) -> str:
    """The lowercase, dashed spelling of a UUID-like value (as image ids are stored)."""
    return str(uuid.UUID(value))


def _choice(value: str | None, allowed: tuple[str, ...], name: str, default: str) -> str:
    if value is None:
        return default
    if value not in allowed:
        raise nested(400, f"Unsupported {name}. Acceptable values: {', '.join(allowed)}")
    return value


def parse_iso8601(value: str) -> datetime | None:
    """An aware UTC datetime, naive times taken as UTC; None when v1 would refuse it.
    v1's registry read changes-since with the iso8601 package: so does the proxy."""
    try:
        return iso8601.parse_date(value, default_timezone=timezone.utc).astimezone(timezone.utc)
    except (iso8601.ParseError, ValueError, OverflowError):  # out of range once made UTC
        return None
