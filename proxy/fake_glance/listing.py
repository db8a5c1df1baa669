"""One page of a list, chosen as Glance's DB layer chooses it.

In: every image record, the caller's ``Context``, a validated ``ListQuery`` and the API
version served. Out: the page's records, in order (conditions from the filters, the
caller's scope, the visibility filter, ORDER BY with Glance's tie-breakers, keyset paging
after the marker, the limit), or a ``GlanceError`` for a bad filter or marker
(docs/v2-upstream.md#14-default-visibility, docs/v2-upstream.md#15-sorting,
docs/v2-upstream.md#16-paging-and-next-links).
"""

from __future__ import annotations

from typing import Any, Callable

from proxy.fake_glance.errors import GlanceError, bad_request
from proxy.fake_glance.policy import Context, in_default_scope, is_visible, matches_visibility
from proxy.fake_glance.query import (ListQuery, QueryParams, parse_isotime, split_filter_op,
                                     split_in_list)
from proxy.fake_glance.sql import (BOOL_COLUMNS, INT_COLUMNS, RELATIONS, ROCKY_COLUMNS,
                                   TEXT_COLUMNS, TIME_COLUMNS, column_affinity, sort_rows,
                                   sql_test)

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


def find_marker(images: dict[str, dict], ctx: Context, marker: str | None) -> dict | None:
    """The marker's record, with Glance's 400 (unknown) and 403 (not visible)."""
    if marker is None:
        return None
    if len(marker) > 36:  # Glance raises ImageNotFound() without formatting its message
        raise bad_request("Image with the given id %(image_id)s was not found")
    img = images.get(marker)
    if img is None or (img["deleted"] and not ctx.is_admin):
        raise bad_request(f"No image found with ID {marker}")
    if not is_visible(ctx, img):
        raise GlanceError(403, f"Forbidding request, image {marker} not visible")
    return img


def _ordering(query: ListQuery) -> tuple[list[str], list[str]]:
    """The requested keys, then created_at and id in the (single) requested direction."""
    keys, dirs = list(query.sort_keys), list(query.sort_dirs)
    default_dir = dirs[0] if len(dirs) == 1 else "desc"
    if len(dirs) == 1:
        dirs *= len(keys)
    for key in ("created_at", "id"):
        if key not in keys:
            keys.append(key)
            dirs.append(default_dir)
    return keys, dirs


def select_page(images: dict[str, dict], ctx: Context, query: ListQuery,
                api_version: tuple[int, int]) -> list[dict]:
    """The DB layer: conditions, scope, marker, ordering, limit."""
    visibility = query.filters.pop("visibility", None)
    conditions = build_conditions(query.filters, query.tags, api_version)
    marker = find_marker(images, ctx, query.marker)
    keys, dirs = _ordering(query)
    rows = [img for img in images.values()
            if not img["deleted"] and img["status"] != "killed"
            and in_default_scope(ctx, img, query.member_status)
            and matches_visibility(ctx, img, visibility)
            and all(cond(img) for cond in conditions)]
    sort_rows(rows, keys, dirs)
    if marker is not None:
        rows = [img for img in rows if after_marker(keys, dirs, marker, img)]
    return rows[:query.limit]
