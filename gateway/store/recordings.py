"""The DVR index: one row per segment file, queried by stream and time.

Times are integer milliseconds since the epoch.  A range query is bounded on the
``(stream, start_ms)`` index by the longest segment seen, so it stays a short index scan
however large the table grows.  Byte totals per stream are kept in memory (loaded once,
updated on every add and delete) so retention never has to sum the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.store.db import Database

_COLS = "id, stream, start_ms, end_ms, bytes, path, codecs, width, height, generation"
MAX_SEGMENT_MS = 600_000  # a safety bound for range queries; the recorder cuts far sooner


@dataclass(frozen=True, slots=True)
class Segment:
    stream: str
    start_ms: int
    end_ms: int
    bytes: int
    path: str  # relative to the segments directory
    codecs: str  # JSON list of track descriptions
    width: int = 0
    height: int = 0
    generation: int = 0
    id: int = 0

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms

    @property
    def start(self) -> float:
        return self.start_ms / 1000

    @property
    def end(self) -> float:
        return self.end_ms / 1000

    @property
    def duration(self) -> float:
        return (self.end_ms - self.start_ms) / 1000

    def tracks(self) -> list[dict[str, object]]:
        return list(json.loads(self.codecs))


@dataclass(frozen=True, slots=True)
class Range:
    start_ms: int
    end_ms: int

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


def _seg(row: Any) -> Segment:
    # SQLite already returns the declared types; no per-field conversion on this hot path.
    return Segment(row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9], row[0])


def merge_ranges(segments: Iterable[Segment], max_gap_ms: int = 1500) -> list[Range]:
    """Contiguous recorded ranges: segments closer than ``max_gap_ms`` join up."""
    out: list[Range] = []
    for s in segments:
        if out and s.start_ms - out[-1].end_ms <= max_gap_ms:
            if s.end_ms > out[-1].end_ms:
                out[-1] = Range(out[-1].start_ms, s.end_ms)
        else:
            out.append(Range(s.start_ms, s.end_ms))
    return out


@dataclass
class Usage:
    bytes: int = 0
    count: int = 0


class Recordings:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.usage: dict[str, Usage] = {}
        self._max_ms: dict[str, int] = {}

    async def load(self) -> None:
        """Read per-stream totals once at start-up."""
        self.usage.clear()
        self._max_ms.clear()
        async with self.db.conn.execute(
            "SELECT stream, SUM(bytes), COUNT(*), MAX(end_ms - start_ms) FROM segments "
            "GROUP BY stream"
        ) as cur:
            async for row in cur:
                self.usage[row[0]] = Usage(int(row[1]), int(row[2]))
                self._max_ms[row[0]] = int(row[3])

    @property
    def total_bytes(self) -> int:
        return sum(u.bytes for u in self.usage.values())

    def _account(self, seg: Segment, sign: int) -> None:
        u = self.usage.setdefault(seg.stream, Usage())
        u.bytes += sign * seg.bytes
        u.count += sign
        if sign > 0 and seg.duration_ms > self._max_ms.get(seg.stream, 0):
            self._max_ms[seg.stream] = seg.duration_ms

    async def add(self, segments: Sequence[Segment]) -> list[Segment]:
        """Insert segments in one statement (one transaction); returns them with their ids."""
        if not segments:
            return []
        marks = ",".join(["(?,?,?,?,?,?,?,?,?)"] * len(segments))
        args: list[object] = []
        for s in segments:
            args += [
                s.stream,
                s.start_ms,
                s.end_ms,
                s.bytes,
                s.path,
                s.codecs,
                s.width,
                s.height,
                s.generation,
            ]
        rows = await self.db.conn.execute_fetchall(
            "INSERT INTO segments (stream, start_ms, end_ms, bytes, path, codecs, width,"
            f" height, generation) VALUES {marks} RETURNING id, path",
            args,
        )
        ids = {str(r[1]): int(r[0]) for r in rows}
        out = [_with_id(s, ids[s.path]) for s in segments]
        for s in out:
            self._account(s, +1)
        return out

    async def delete(self, segments: Sequence[Segment]) -> None:
        """Delete rows in one statement; callers remove the files first."""
        for i in range(0, len(segments), 500):
            chunk = segments[i : i + 500]
            await self.db.conn.execute(
                f"DELETE FROM segments WHERE id IN ({','.join('?' * len(chunk))})",
                [s.id for s in chunk],
            )
            for s in chunk:
                self._account(s, -1)

    async def range(self, stream: str, start_ms: int, end_ms: int) -> list[Segment]:
        """Segments of ``stream`` overlapping [start_ms, end_ms), oldest first."""
        lower = start_ms - self._max_ms.get(stream, MAX_SEGMENT_MS)
        return await self._fetch(
            f"SELECT {_COLS} FROM segments WHERE stream = ? AND start_ms >= ? AND start_ms < ?"
            " AND end_ms > ? ORDER BY start_ms",
            (stream, lower, end_ms, start_ms),
        )

    async def containing(self, stream: str, t_ms: int) -> Segment | None:
        """The segment of ``stream`` that contains time ``t_ms``, if any."""
        rows = await self._fetch(
            f"SELECT {_COLS} FROM segments WHERE stream = ? AND start_ms <= ?"
            " ORDER BY start_ms DESC LIMIT 1",
            (stream, t_ms),
        )
        if rows and rows[0].end_ms > t_ms:
            return rows[0]
        return None

    async def ranges(
        self, stream: str, start_ms: int, end_ms: int, max_gap_ms: int = 1500
    ) -> list[Range]:
        return merge_ranges(await self.range(stream, start_ms, end_ms), max_gap_ms)

    async def latest(self, stream: str, limit: int = 1) -> list[Segment]:
        return await self._fetch(
            f"SELECT {_COLS} FROM segments WHERE stream = ? ORDER BY start_ms DESC LIMIT ?",
            (stream, limit),
        )

    async def oldest(
        self, stream: str | None = None, *, before_ms: int | None = None, limit: int = 100
    ) -> list[Segment]:
        """Oldest segments (of one stream or all), optionally ending before ``before_ms``."""
        where: list[str] = []
        args: list[object] = []
        if stream is not None:
            where.append("stream = ?")
            args.append(stream)
        if before_ms is not None:
            # end_ms <= before_ms implies start_ms < before_ms: lets the index bound it
            where += ["start_ms < ?", "end_ms <= ?"]
            args += [before_ms, before_ms]
        sql = f"SELECT {_COLS} FROM segments"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start_ms LIMIT ?"
        return await self._fetch(sql, (*args, limit))

    async def bounds(self, stream: str) -> tuple[int, int] | None:
        """(first start, last end) of a stream's recordings."""
        async with self.db.conn.execute(
            "SELECT MIN(start_ms), (SELECT end_ms FROM segments WHERE stream = ?1"
            " ORDER BY start_ms DESC LIMIT 1) FROM segments WHERE stream = ?1",
            (stream,),
        ) as cur:
            row = await cur.fetchone()
        if not row or row[0] is None:
            return None
        return int(row[0]), int(row[1])

    async def paths_from(self, stream: str, after: str, limit: int) -> list[tuple[int, str]]:
        """(id, path) of a stream's rows in path order, after ``after`` (reconciliation)."""
        async with self.db.conn.execute(
            "SELECT id, path FROM segments WHERE path > ? AND path < ? ORDER BY path LIMIT ?",
            (max(after, stream + "/"), stream + "0", limit),
        ) as cur:
            return [(int(r[0]), str(r[1])) async for r in cur]

    async def streams(self) -> list[str]:
        async with self.db.conn.execute("SELECT DISTINCT stream FROM segments") as cur:
            return [str(r[0]) async for r in cur]

    async def delete_ids(self, ids: Sequence[int]) -> None:
        """Drop rows by id (reconciliation of rows whose file is gone), then re-total."""
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            await self.db.conn.execute(
                f"DELETE FROM segments WHERE id IN ({','.join('?' * len(chunk))})", list(chunk)
            )
        await self.load()

    async def _fetch(self, sql: str, args: Sequence[object]) -> list[Segment]:
        # One awaited call for the whole result (iterating a cursor costs one per chunk).
        rows = await self.db.conn.execute_fetchall(sql, args)
        return [_seg(r) for r in rows]


def _with_id(s: Segment, id_: int) -> Segment:
    return Segment(
        stream=s.stream,
        start_ms=s.start_ms,
        end_ms=s.end_ms,
        bytes=s.bytes,
        path=s.path,
        codecs=s.codecs,
        width=s.width,
        height=s.height,
        generation=s.generation,
        id=id_,
    )
