"""Per-stream DVR summaries for the API (recorded ranges) and purging a stream's recordings.

``recorded_ranges`` lets SQLite find the range boundaries with window functions, so only
the rows at the edges of a gap travel to Python, however many segments a week holds.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from gateway.store.db import Database
from gateway.store.recordings import Range, Recordings

CHUNK = 500


async def recorded_ranges(db: Database, stream: str, max_gap_ms: int = 1500) -> list[Range]:
    """Contiguous recorded ranges of ``stream`` (segments closer than ``max_gap_ms`` join)."""
    rows = await db.conn.execute_fetchall(
        """
        SELECT start_ms, end_ms, prev_end, next_start FROM (
            SELECT start_ms, end_ms,
                   MAX(end_ms) OVER (ORDER BY start_ms
                                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                       AS prev_end,
                   LEAD(start_ms) OVER (ORDER BY start_ms) AS next_start
            FROM segments WHERE stream = :stream
        )
        WHERE prev_end IS NULL OR start_ms - prev_end > :gap
           OR next_start IS NULL OR next_start - end_ms > :gap
        ORDER BY start_ms
        """,
        {"stream": stream, "gap": max_gap_ms},
    )
    out: list[Range] = []
    for start, end, prev_end, _next in rows:
        if prev_end is None or start - prev_end > max_gap_ms:
            out.append(Range(int(start), int(end)))
        elif out and end > out[-1].end_ms:
            out[-1] = Range(out[-1].start_ms, int(end))
    return out


def _unlink(root: Path, paths: list[str]) -> None:
    for p in paths:
        try:
            os.unlink(root / p)
        except FileNotFoundError:
            pass


async def purge_stream(recordings: Recordings, segments_dir: Path, stream: str) -> int:
    """Delete every recording of ``stream`` (files, then rows); returns segments removed.

    Call it after the stream's recorder has stopped.  Totals are re-read at the end, since
    retention may have removed some of the same rows meanwhile.
    """
    removed = 0
    while True:
        batch = await recordings.oldest(stream, limit=CHUNK)
        if not batch:
            break
        await asyncio.to_thread(_unlink, segments_dir, [s.path for s in batch])
        await recordings.delete(batch)
        removed += len(batch)
    await asyncio.to_thread(shutil.rmtree, segments_dir / stream, True)
    await recordings.load()
    return removed
