"""``camgate export STREAM FROM TO -o clip.mp4``: a DVR range to an MP4 file, offline.

Works on the data dir directly (the daemon may be running or not): the index is read
through a read-only SQLite connection, the segment files are remuxed by the same code as
the HTTP archive, and a progress bar goes to stderr.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import TextIO

from gateway.media.archive import Piece, write_archive


class ExportError(Exception):
    """The export cannot be made (no index, nothing recorded, unwritable output)."""


def find_pieces(data: Path, stream: str, from_ms: int, to_ms: int) -> list[Piece]:
    db = data / "camgate.db"
    if not db.exists():
        raise ExportError(f"no DVR index at {db}")
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute(
            "SELECT path, start_ms, end_ms FROM segments WHERE stream = ? AND start_ms < ?"
            " AND end_ms > ? ORDER BY start_ms",
            (stream, to_ms, from_ms),
        ).fetchall()
    except sqlite3.Error as exc:
        raise ExportError(f"cannot read the DVR index: {exc}") from exc
    finally:
        conn.close()
    return [Piece(data / "segments" / str(p), int(s), int(e)) for p, s, e in rows]


class ProgressBar:
    def __init__(self, out: TextIO, width: int = 40) -> None:
        self.out = out
        self.width = width
        self.last = -1

    def __call__(self, fraction: float) -> None:
        pct = int(fraction * 100)
        if pct == self.last:
            return
        self.last = pct
        filled = int(fraction * self.width)
        self.out.write(f"\r[{'#' * filled}{' ' * (self.width - filled)}] {pct:3d}%")
        self.out.flush()

    def done(self) -> None:
        self.out.write("\n")
        self.out.flush()


def export(data: Path, stream: str, start: float, end: float, output: Path,
           progress_to: TextIO = sys.stderr) -> float:
    """Write the range to ``output``; returns the clip's duration in seconds."""
    from_ms, to_ms = int(start * 1000), int(end * 1000)
    pieces = find_pieces(data, stream, from_ms, to_ms)
    if not pieces:
        raise ExportError(f"nothing recorded for {stream!r} in that range")
    part = output.with_name(output.name + ".part")
    bar = ProgressBar(progress_to)
    try:
        with part.open("wb") as f:
            res = write_archive(pieces, from_ms, to_ms, f.write, progress=bar)
        os.replace(part, output)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise ExportError(f"cannot write {output}: {exc}") from exc
    finally:
        bar.done()
    return res.duration
