"""A list request's query string, read and validated as Glance's v2 list reads it.

In: the query's (name, value) pairs and the API version served. Out: a ``ListQuery``
(filters still to apply, tags, member status, limit, marker, sort keys and directions),
or a 400 ``GlanceError`` with Glance's message. Also the value syntax of filters:
operator prefixes (``split_filter_op``), ``in:`` lists and ISO 8601 times, read with the
``iso8601`` package as Glance's oslo_utils reads them (docs/v2-upstream.md#12-parameters,
docs/v2-upstream.md#13-operator-parsing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import iso8601

from proxy.fake_glance.errors import bad_request
from proxy.fake_glance.schema import MEMBER_STATUSES, VISIBILITIES

SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at",
             "updated_at")


def parse_isotime(text: str) -> datetime:
    """oslo's parse_isotime then normalize_time: naive UTC; ValueError when not ISO 8601."""
    stamp = iso8601.parse_date(text)
    return stamp.replace(tzinfo=None) - stamp.utcoffset()


def split_filter_op(value: str) -> tuple[str, str]:
    """Glance's operator prefix: text before the first ':' unless the whole value is a time."""
    left, sep, right = value.partition(":")
    if not sep:
        return "eq", value
    try:
        iso8601.parse_date(value)
        return "eq", value
    except iso8601.ParseError:
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
    """``sort=k:dir,...`` or repeated ``sort_key``/``sort_dir`` (never both)."""
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


def _true_or_false(params: QueryParams, key: str, value: str) -> None:
    if value not in ("true", "false"):
        raise bad_request(f"Invalid value '{value}' for '{key}' filter. "
                          "Valid values are 'true' or 'false'.")
    params.set(key, value == "true")


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
        _true_or_false(params, "os_hidden", params.get("os_hidden", "false").lower())
    protected = params.get("protected")
    if protected is not None:
        _true_or_false(params, "protected", protected)
    return ListQuery(params, tags, member_status, limit, marker, sort_keys, sort_dirs)
