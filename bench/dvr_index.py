"""DVR index at scale: a 2-million-row SQLite index with the project's schema, queried
through the project's own store API (``Recordings``), and retention purge cost.

    .venv/bin/python bench/dvr_index.py [--rows 2000000] [--queries 2000]

Rows: 8 cameras × 2 s segments, contiguous, ending now (2M rows ≈ 5.8 days per camera).
Prints p50/p99 of a one-hour ``Recordings.range`` and of ``Recordings.containing`` (each an
awaited aiosqlite call, as the web layer makes it), then the time ``Retention`` takes to
purge one day of all 8 cameras (rows + files; files are small placeholders).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.config import StorageConfig, StorageLimit  # noqa: E402
from gateway.store.db import Database  # noqa: E402
from gateway.store.recordings import Recordings  # noqa: E402
from gateway.store.retention import Retention, StreamPolicy  # noqa: E402

CAMERAS = 8
SEG_MS = 2000
CODECS = '[{"content":"video","codec":"h264","width":1920,"height":1080}]'


def fill(db_path: Path, rows: int, end_ms: int) -> int:
    """Insert ``rows`` segment rows with plain sqlite3 (the schema comes from Database)."""
    per_cam = rows // CAMERAS
    start_ms = end_ms - per_cam * SEG_MS
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    batch = []
    for cam in range(CAMERAS):
        name = f"cam{cam}"
        for i in range(per_cam):
            s = start_ms + i * SEG_MS
            day = time.strftime("%Y-%m-%d", time.gmtime(s / 1000))
            batch.append((name, s, s + SEG_MS, 1_000_000, f"{name}/{day}/{s:013d}.mp4", CODECS,
                          1920, 1080, 0))
            if len(batch) >= 50_000:
                conn.executemany(
                    "INSERT INTO segments (stream, start_ms, end_ms, bytes, path, codecs, width,"
                    " height, generation) VALUES (?,?,?,?,?,?,?,?,?)", batch)
                batch.clear()
    if batch:
        conn.executemany(
            "INSERT INTO segments (stream, start_ms, end_ms, bytes, path, codecs, width,"
            " height, generation) VALUES (?,?,?,?,?,?,?,?,?)", batch)
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    conn.close()
    return start_ms


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p))]


async def bench(work: Path, nrows: int, queries: int) -> None:
    db_path = work / "camgate.db"
    db = await Database.open(db_path)  # creates the schema (migrations)
    await db.close()
    end_ms = int(time.time() * 1000)
    t = time.monotonic()
    start_ms = await asyncio.to_thread(fill, db_path, nrows, end_ms)
    size = (await asyncio.to_thread(db_path.stat)).st_size
    print(f"built {nrows:,} rows in {time.monotonic() - t:.0f}s ({size / 2**20:.0f} MiB)")
    db = await Database.open(db_path)
    rec = Recordings(db)
    t = time.monotonic()
    await rec.load()
    took_ms = (time.monotonic() - t) * 1000
    print(f"Recordings.load (per-stream totals at start-up): {took_ms:.0f} ms")
    rng = random.Random(1)
    span = end_ms - start_ms - 3_600_000
    range_ms: list[float] = []
    contain_ms: list[float] = []
    n_range = 0
    for _ in range(queries):
        cam = f"cam{rng.randrange(CAMERAS)}"
        t0 = start_ms + rng.randrange(span)
        q = time.perf_counter()
        segs = await rec.range(cam, t0, t0 + 3_600_000)
        range_ms.append((time.perf_counter() - q) * 1000)
        n_range += len(segs)
        q = time.perf_counter()
        hit = await rec.containing(cam, t0 + rng.randrange(3_600_000))
        contain_ms.append((time.perf_counter() - q) * 1000)
        assert hit is not None
    print(f"one-hour range ({n_range // queries} segments): p50 {pct(range_ms, 0.5):.2f} ms, "
          f"p99 {pct(range_ms, 0.99):.2f} ms  [{queries} queries]")
    print(f"segment containing t: p50 {pct(contain_ms, 0.5):.2f} ms, "
          f"p99 {pct(contain_ms, 0.99):.2f} ms  [{queries} queries]")

    # Retention: expire the oldest day of all 8 cameras (rows + files).
    seg_dir = work / "segments"
    day_rows = await rec.oldest(None, before_ms=start_ms + 86_400_000, limit=10**7)
    dirs = {seg_dir / os.path.dirname(s.path) for s in day_rows}
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    for s in day_rows:
        (seg_dir / s.path).touch()
    age_s = (end_ms - start_ms) // 1000
    keep_s = age_s - 86_400
    storage = StorageConfig(path=work, storage_limit=StorageLimit(bytes=10**18), reserve=1)
    ret = Retention(rec, seg_dir, storage,
                    lambda: {f"cam{i}": StreamPolicy(expiration=keep_s) for i in range(CAMERAS)})
    t = time.monotonic()
    await ret.enforce()
    took = time.monotonic() - t
    left = [p for d in dirs for p in d.iterdir()]
    print(f"retention purge of one day × {CAMERAS} cameras: {ret.deleted_segments:,} segments "
          f"(rows + files) in {took:.2f} s ({took / max(1, ret.deleted_segments) * 1e6:.0f} µs "
          f"per segment); files left {len(left)}")
    # range query while the table is as big: once more after the purge
    q = time.perf_counter()
    await rec.range("cam0", end_ms - 3_600_000, end_ms)
    print(f"range after purge: {(time.perf_counter() - q) * 1000:.2f} ms")
    await db.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--queries", type=int, default=2000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="camgate-dvr-"))
    try:
        asyncio.run(bench(work, args.rows, args.queries))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
