"""Watcher-style collections (pure): ``q``, filters, ``sort``, ``select``, cursor pages.

``GET /api/v1/<items>?q=&sort=&select=&limit=&cursor=`` answers
``{"estimated_count", "next", "prev", "<items>": [...]}``.  Cursors are opaque
(base64url JSON holding the offset and the query they belong to); a cursor used with a
different ``sort``/``q`` is refused rather than silently misapplied.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_LIMIT = 1000


class QueryError(ValueError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Query:
    limit: int
    offset: int
    sort: tuple[tuple[str, bool], ...]  # (field path, descending)
    select: tuple[str, ...] | None
    q: str
    filters: tuple[tuple[str, str], ...]

    @property
    def fingerprint(self) -> str:
        s = ",".join(("-" if d else "") + f for f, d in self.sort)
        return f"{s}|{self.q}|{self.filters}"


def get_path(obj: Mapping[str, Any], path: str) -> Any:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


def parse_query(
    params: Mapping[str, str],
    *,
    sortable: Sequence[str],
    filterable: Sequence[str] = (),
    default_sort: str = "name",
    default_limit: int = 100,
) -> Query:
    errors: dict[str, list[str]] = {}
    limit = default_limit
    raw_limit = params.get("limit")
    if raw_limit is not None:
        if raw_limit.isdigit() and 1 <= int(raw_limit) <= MAX_LIMIT:
            limit = int(raw_limit)
        else:
            errors["limit"] = [f"must be an integer 1..{MAX_LIMIT}"]
    sort: list[tuple[str, bool]] = []
    for item in (params.get("sort") or default_sort).split(","):
        item = item.strip()
        desc = item.startswith("-")
        field = item.lstrip("-+")
        if field not in sortable:
            errors.setdefault("sort", []).append(
                f"{item!r} is not sortable (allowed: {', '.join(sortable)}, '-' for descending)"
            )
        else:
            sort.append((field, desc))
    select = None
    if params.get("select"):
        select = tuple(f.strip() for f in params["select"].split(",") if f.strip())
    filters = tuple((k, v) for k, v in params.items() if k in filterable)
    q = Query(limit, 0, tuple(sort), select, params.get("q", "").strip(), filters)
    cursor = params.get("cursor")
    if cursor:
        offset = _decode_cursor(cursor, q.fingerprint)
        if offset is None:
            errors["cursor"] = ["is not a cursor of this listing (sort, q and filters must stay)"]
        else:
            q = Query(q.limit, offset, q.sort, q.select, q.q, q.filters)
    if errors:
        raise QueryError(errors)
    return q


def _encode_cursor(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"o": offset, "f": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, fingerprint: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict) or data.get("f") != fingerprint:
        return None
    off = data.get("o")
    if isinstance(off, bool) or not isinstance(off, int) or off < 0:
        return None
    return off


def _sort_key(value: Any) -> tuple[int, Any]:
    """Nones last; booleans and numbers compare as numbers; everything else as text."""
    if value is None:
        return (2, 0)
    if isinstance(value, bool | int | float):
        return (0, float(value))
    return (1, str(value).lower())


def _key_at(field: str, item: Mapping[str, Any]) -> tuple[int, Any]:
    return _sort_key(get_path(item, field))


def _filter_match(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return wanted.lower() in (("true", "1") if value else ("false", "0"))
    return str(value) == wanted


def _project(item: Mapping[str, Any], select: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in select:
        value = get_path(item, path)
        parts = path.split(".")
        cur = out
        for part in parts[:-1]:
            cur = cur.setdefault(part, {})
        cur[parts[-1]] = value
    return out


def page(
    items: list[dict[str, Any]],
    query: Query,
    key: str,
    text_fields: Sequence[str] = ("name", "title"),
    unique: Callable[[Mapping[str, Any]], Any] = lambda i: i.get("name"),
) -> dict[str, Any]:
    """Filter, sort, slice and project ``items`` into the collection response."""
    if query.q:
        needle = query.q.lower()
        items = [
            i for i in items
            if any(needle in str(get_path(i, f) or "").lower() for f in text_fields)
        ]
    for field, wanted in query.filters:
        items = [i for i in items if _filter_match(get_path(i, field), wanted)]
    items = sorted(items, key=lambda i: _sort_key(unique(i)))
    for field, desc in reversed(query.sort):  # stable sorts, last key first
        items.sort(key=functools.partial(_key_at, field), reverse=desc)
    total = len(items)
    chunk = items[query.offset : query.offset + query.limit]
    if query.select is not None:
        chunk = [_project(i, query.select) for i in chunk]
    nxt = query.offset + query.limit
    return {
        "estimated_count": total,
        "next": _encode_cursor(nxt, query.fingerprint) if nxt < total else None,
        "prev": (
            _encode_cursor(max(0, query.offset - query.limit), query.fingerprint)
            if query.offset > 0
            else None
        ),
        key: chunk,
    }
