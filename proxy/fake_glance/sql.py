"""The images table as SQLite sees it: column types, comparisons and ORDER BY.

In: values of image records and of query parameters. Out: SQLite's answers: how a bound
text value converts for a column, -1/0/1 comparisons (NULL lowest, numbers below text),
WHERE-clause truths (anything with NULL is false), and rows sorted as ORDER BY sorts them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

INT_COLUMNS = {"size", "virtual_size", "min_ram", "min_disk"}
TEXT_COLUMNS = {"id", "name", "disk_format", "container_format", "status", "visibility",
                "checksum", "owner", "os_hash_algo", "os_hash_value"}
BOOL_COLUMNS = {"protected", "os_hidden", "deleted"}
TIME_COLUMNS = {"created_at", "updated_at", "deleted_at"}
RELATIONS = {"properties", "locations", "members", "tags"}
# The columns Glance Rocky (API v2.7) added.
ROCKY_COLUMNS = {"os_hidden", "os_hash_algo", "os_hash_value"}


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


def _order_key(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (_sql_rank(value), value)


def sort_rows(rows: list[dict], keys: list[str], dirs: list[str]) -> None:
    """ORDER BY keys/dirs as SQLite does (NULL lowest): stable sorts, last key first."""
    for key, direction in reversed(list(zip(keys, dirs))):
        rows.sort(key=lambda img: _order_key(img[key]), reverse=direction == "desc")
