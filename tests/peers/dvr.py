"""Looking at a data dir from outside: the SQLite index and the segment files on disk."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from gateway.config import Config, load
from tests.peers.procs import free_port


def config(data: Path, streams: str, storage: str = "", port: int | None = None) -> Config:
    """A Config for an in-process gateway: ``streams`` is TOML ``[[streams]]`` text."""
    return load(
        f'[server]\nlisten = "127.0.0.1:{port or free_port()}"\n'
        f'[storage]\npath = "{data}"\n{storage}\n{streams}'
    )


def stream_toml(name: str, url: str, extra: str = "", transport: str | None = None) -> str:
    tr = f', transport = "{transport}"' if transport else ""
    return f'[[streams]]\nname = "{name}"\ninputs = [{{url = "{url}"{tr}}}]\n{extra}\n'


@dataclass(frozen=True)
class Row:
    stream: str
    start_ms: int
    end_ms: int
    bytes: int
    path: str

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


def rows(data: Path, stream: str | None = None) -> list[Row]:
    """Index rows, oldest first (a read-only connection: safe while camgate runs)."""
    db = data / "camgate.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        sql = "SELECT stream, start_ms, end_ms, bytes, path FROM segments"
        args: tuple[str, ...] = ()
        if stream:
            sql += " WHERE stream = ?"
            args = (stream,)
        return [Row(*r) for r in conn.execute(sql + " ORDER BY stream, start_ms", args)]
    finally:
        conn.close()


def integrity(data: Path) -> str:
    conn = sqlite3.connect(data / "camgate.db", timeout=10)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def files(data: Path) -> tuple[dict[str, int], dict[str, int]]:
    """(whole segment files, ``.part`` files): relative path → size."""
    root = data / "segments"
    whole: dict[str, int] = {}
    parts: dict[str, int] = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            try:
                size = os.stat(p).st_size
            except FileNotFoundError:
                continue
            if n.endswith(".mp4.part"):
                parts[rel] = size
            elif n.endswith(".mp4"):
                whole[rel] = size
    return whole, parts


def contiguous(rs: list[Row], slack_ms: int = 0) -> bool:
    return all(b.start_ms - a.end_ms <= slack_ms for a, b in zip(rs, rs[1:], strict=False))
