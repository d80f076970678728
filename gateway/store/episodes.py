"""Motion episodes in SQLite, with a change signal for the API's long-poll.

Times are unix seconds (REAL).  ``updated_at`` strictly grows across every write, so a
client that asks for ``updated_at_gt`` = the last value it saw never misses nor repeats a
change.  Listing uses keyset pagination on ``(sort key, id)``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.store.db import Database

SORTS = {"updated_at", "-updated_at", "opened_at", "-opened_at"}
_COLS = (
    "id, media, episode_type, opened_at, closed_at, updated_at, close_reason, preview,"
    " zones, peak_area, pre_roll, post_roll"
)


@dataclass(frozen=True)
class EpisodeRow:
    id: int
    media: str
    episode_type: str
    opened_at: float
    closed_at: float | None
    updated_at: float
    close_reason: str | None
    preview: str | None  # file name under the previews directory
    zones: tuple[str, ...]
    peak_area: float
    pre_roll: float
    post_roll: float

    @classmethod
    def from_row(cls, r: Sequence[Any]) -> EpisodeRow:
        return cls(
            int(r[0]), str(r[1]), str(r[2]), float(r[3]),
            None if r[4] is None else float(r[4]), float(r[5]), r[6], r[7],
            tuple(json.loads(r[8] or "[]")), float(r[9]), float(r[10]), float(r[11]),
        )  # fmt: skip


@dataclass(frozen=True)
class EpisodeQuery:
    media: tuple[str, ...] = ()
    episode_type: tuple[str, ...] = ()
    updated_at_gt: float | None = None
    sort: str = "-opened_at"
    limit: int = 50
    cursor: str | None = None


class CursorError(ValueError):
    pass


def encode_cursor(key: float, row_id: int, direction: str) -> str:
    raw = json.dumps([key, row_id, direction]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[float, int, str]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        key, row_id, direction = json.loads(raw)
        if direction not in ("next", "prev"):
            raise ValueError(direction)
        return float(key), int(row_id), str(direction)
    except (ValueError, TypeError) as exc:
        raise CursorError("invalid cursor") from exc


class Episodes:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._last_update = 0.0
        self._changed = asyncio.Event()

    def _stamp(self) -> float:
        # whole milliseconds, so an RFC 3339 value read back compares equal
        now = round(max(time.time(), self._last_update + 0.001), 3)
        self._last_update = now
        return now

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_change(self, within: float, stop: asyncio.Event | None = None) -> bool:
        """Wait until any episode is created or updated (True), ``within`` seconds passed or
        ``stop`` is set (False)."""
        waits = [asyncio.ensure_future(self._changed.wait())]
        if stop is not None:
            waits.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waits, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        return waits[0].done() and not waits[0].cancelled()

    async def load(self) -> None:
        async with self.db.conn.execute("SELECT MAX(updated_at) FROM episodes") as cur:
            row = await cur.fetchone()
        self._last_update = float(row[0]) if row and row[0] is not None else 0.0

    async def open(
        self, media: str, opened_at: float, *, zones: Sequence[str] = (),
        peak_area: float = 0.0, pre_roll: float = 0.0, post_roll: float = 0.0,
        preview: str | None = None, episode_type: str = "motion",
    ) -> EpisodeRow:  # fmt: skip
        async with self.db.conn.execute(
            "INSERT INTO episodes (media, episode_type, opened_at, updated_at, preview, zones,"
            f" peak_area, pre_roll, post_roll) VALUES (?,?,?,?,?,?,?,?,?) RETURNING {_COLS}",
            (media, episode_type, opened_at, self._stamp(), preview, json.dumps(list(zones)),
             peak_area, pre_roll, post_roll),
        ) as cur:  # fmt: skip
            row = await cur.fetchone()
        assert row is not None
        self._notify()
        return EpisodeRow.from_row(row)

    async def update(
        self, episode_id: int, *, closed_at: float | None = None,
        close_reason: str | None = None, preview: str | None = None,
        zones: Sequence[str] | None = None, peak_area: float | None = None,
    ) -> EpisodeRow | None:  # fmt: skip
        async with self.db.conn.execute(
            "UPDATE episodes SET updated_at = ?, closed_at = COALESCE(?, closed_at),"
            " close_reason = COALESCE(?, close_reason), preview = COALESCE(?, preview),"
            " zones = COALESCE(?, zones), peak_area = COALESCE(?, peak_area)"
            f" WHERE id = ? RETURNING {_COLS}",
            (self._stamp(), closed_at, close_reason, preview,
             None if zones is None else json.dumps(sorted(zones)), peak_area, episode_id),
        ) as cur:  # fmt: skip
            row = await cur.fetchone()
        self._notify()
        return EpisodeRow.from_row(row) if row else None

    async def close_dangling(self, reason: str = "restart") -> int:
        """Episodes left open by a crash: closed at their last update."""
        async with self.db.conn.execute(
            "UPDATE episodes SET closed_at = updated_at, close_reason = ?, updated_at = ?"
            " WHERE closed_at IS NULL RETURNING id",
            (reason, self._stamp()),
        ) as cur:
            rows = list(await cur.fetchall())
        if rows:
            self._notify()
        return len(rows)

    async def prune(self, media: str, before: float, keep: int) -> list[str]:
        """Delete closed episodes of ``media`` opened before ``before`` or beyond the newest
        ``keep``; returns their preview file names (the caller deletes the files)."""
        async with self.db.conn.execute(
            "DELETE FROM episodes WHERE media = ? AND closed_at IS NOT NULL AND (opened_at < ?"
            " OR id <= (SELECT id FROM episodes WHERE media = ? ORDER BY id DESC"
            " LIMIT 1 OFFSET ?)) RETURNING preview",
            (media, before, media, keep),
        ) as cur:
            rows = list(await cur.fetchall())
        return [str(r[0]) for r in rows if r[0]]

    async def get(self, episode_id: int) -> EpisodeRow | None:
        async with self.db.conn.execute(
            f"SELECT {_COLS} FROM episodes WHERE id = ?", (episode_id,)
        ) as cur:
            row = await cur.fetchone()
        return EpisodeRow.from_row(row) if row else None

    async def counts(self) -> dict[str, int]:
        async with self.db.conn.execute(
            "SELECT media, COUNT(*) FROM episodes GROUP BY media"
        ) as cur:
            return {str(m): int(n) for m, n in await cur.fetchall()}

    async def query(
        self, q: EpisodeQuery
    ) -> tuple[list[EpisodeRow], int, str | None, str | None]:
        """(rows, estimated_count, next cursor, prev cursor)."""
        where: list[str] = []
        args: list[Any] = []
        if q.media:
            where.append(f"media IN ({','.join('?' * len(q.media))})")
            args += q.media
        if q.episode_type:
            where.append(f"episode_type IN ({','.join('?' * len(q.episode_type))})")
            args += q.episode_type
        if q.updated_at_gt is not None:
            where.append("updated_at > ?")
            args.append(q.updated_at_gt)
        key = q.sort.lstrip("-")
        desc = q.sort.startswith("-")
        count_sql = "SELECT COUNT(*) FROM episodes" + (
            " WHERE " + " AND ".join(where) if where else ""
        )
        direction = "next"
        page_where = list(where)
        page_args = list(args)
        if q.cursor:
            ckey, cid, direction = decode_cursor(q.cursor)
            forward = direction == "next"
            op = "<" if desc == forward else ">"
            page_where.append(f"({key} {op} ? OR ({key} = ? AND id {op} ?))")
            page_args += [ckey, ckey, cid]
        reverse = direction == "prev"
        order_desc = desc != reverse
        order = "DESC" if order_desc else "ASC"
        sql = (
            f"SELECT {_COLS} FROM episodes"
            + (" WHERE " + " AND ".join(page_where) if page_where else "")
            + f" ORDER BY {key} {order}, id {order} LIMIT ?"
        )
        page_args.append(q.limit + 1)
        async with self.db.conn.execute(count_sql, args) as cur:
            crow = await cur.fetchone()
        async with self.db.conn.execute(sql, page_args) as cur:
            rows = [EpisodeRow.from_row(r) for r in await cur.fetchall()]
        more = len(rows) > q.limit
        rows = rows[: q.limit]
        if reverse:
            rows.reverse()
        nxt = prv = None
        if rows:
            first, last = rows[0], rows[-1]
            if (more and not reverse) or (reverse and q.cursor):
                nxt = encode_cursor(getattr(last, key), last.id, "next")
            if (q.cursor and not reverse) or (reverse and more):
                prv = encode_cursor(getattr(first, key), first.id, "prev")
        return rows, int(crow[0]) if crow else 0, nxt, prv
