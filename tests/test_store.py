"""DVR index, retention plan and purge, mp4 prefix salvage and start-up reconciliation."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.config import StorageConfig, StorageLimit
from gateway.media import mp4
from gateway.media.hub import GAP
from gateway.sinks.segment_writer import PART, SegmentWriter
from gateway.store.db import Database
from gateway.store.reconcile import reconcile
from gateway.store.recordings import Recordings, Segment
from gateway.store.retention import Retention, StreamPolicy, global_limit, plan
from tests.peers.clips import encode, packets, video_info

# -- retention plan (pure) ---------------------------------------------------------------


def test_plan_per_stream_and_global_limits() -> None:
    p = plan(
        {"a": 700, "b": 300},
        {"a": StreamPolicy(limit_bytes=500)},
        now_ms=1_000_000,
        limit_bytes=600,
        expiration=None,
    )
    assert p.free_per_stream == {"a": 200}
    assert p.free_global == 200  # 1000 - 200 (a's own) - 600
    assert p.expire_before_ms == {}


def test_plan_expiration_shortest_wins() -> None:
    p = plan(
        {"a": 1, "b": 1},
        {"a": StreamPolicy(expiration=60), "b": StreamPolicy(expiration=7200)},
        now_ms=10_000_000,
        limit_bytes=10**9,
        expiration=3600,
    )
    assert p.expire_before_ms == {"a": 10_000_000 - 60_000, "b": 10_000_000 - 3_600_000}
    assert not p.free_per_stream and p.free_global == 0


def test_plan_nothing_to_do() -> None:
    assert plan({"a": 10}, {}, now_ms=0, limit_bytes=100, expiration=None).empty


def test_global_limit_keeps_the_reserve_free() -> None:
    st = StorageConfig(storage_limit=StorageLimit(share=0.5), reserve=100)
    assert global_limit(st, fs_total=10_000, fs_free=9_000, ours=0) == 5_000
    # someone else filled the disk: only what we have plus free minus reserve
    assert global_limit(st, fs_total=10_000, fs_free=50, ours=1_000) == 950
    assert global_limit(st, fs_total=10_000, fs_free=0, ours=0) == 0


# -- mp4 prefix --------------------------------------------------------------------------


def _fmp4(tmp_path: Path, frames: int = 75) -> bytes:
    w = SegmentWriter(tmp_path, "x", target=100.0)
    w.feed([*packets(encode(frames, gop=25), video_info()), GAP])
    (f,) = list(tmp_path.rglob("*.mp4"))
    return f.read_bytes()


def test_whole_prefix_cuts_torn_fragments(tmp_path: Path) -> None:
    data = _fmp4(tmp_path)
    boxes = list(mp4.top_level_boxes(data))
    kinds = [k for k, _, _ in boxes]
    assert kinds[:2] == ["ftyp", "moov"] and kinds.count("moof") == 3
    assert mp4.whole_prefix(data) == len(data)
    init = mp4.init_size(data)
    assert init == boxes[2][1]
    moofs = [(o, s) for k, o, s in boxes if k == "moof"]
    # torn inside the last mdat: keep the first two fragments
    assert mp4.whole_prefix(data[: moofs[2][0] + moofs[2][1] + 20]) == moofs[2][0]
    # a moof without its mdat is not whole
    assert mp4.whole_prefix(data[: moofs[2][0] + moofs[2][1]]) == moofs[2][0]
    # only the init section
    assert mp4.whole_prefix(data[:init]) == init
    # torn inside the moov: nothing usable
    assert mp4.whole_prefix(data[: init - 5]) == 0
    assert mp4.whole_prefix(b"") == 0


# -- database-backed ---------------------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[tuple[Recordings, Path]]:
    db = await Database.open(tmp_path / "camgate.db")
    rec = Recordings(db)
    await rec.load()
    root = tmp_path / "segments"
    root.mkdir()
    yield rec, root
    await db.close()


def _seg(stream: str, start_ms: int, dur_ms: int = 2000, nbytes: int = 1000) -> Segment:
    return Segment(stream, start_ms, start_ms + dur_ms, nbytes, f"{stream}/d/{start_ms:013d}.mp4",
                   "[]", 1, 1)


def _touch(root: Path, segs: list[Segment]) -> None:
    for s in segs:
        f = root / s.path
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x" * s.bytes)


async def test_recordings_queries(store: tuple[Recordings, Path]) -> None:
    rec, _ = store
    segs = [_seg("a", 1_000_000 + i * 2000) for i in range(10)] + [_seg("b", 1_000_000)]
    added = await rec.add(segs)
    assert all(s.id for s in added)
    assert rec.usage["a"].bytes == 10_000 and rec.usage["a"].count == 10
    r = await rec.range("a", 1_003_000, 1_007_000)
    assert [s.start_ms for s in r] == [1_002_000, 1_004_000, 1_006_000]
    c = await rec.containing("a", 1_005_999)
    assert c is not None and c.start_ms == 1_004_000
    assert await rec.containing("a", 1_020_000) is None
    assert await rec.bounds("a") == (1_000_000, 1_020_000)
    assert [x.start_ms for x in await rec.oldest("a", limit=2)] == [1_000_000, 1_002_000]
    await rec.delete(added[:3])
    assert rec.usage["a"].count == 7


async def test_retention_per_stream_limit_and_expiration(
    store: tuple[Recordings, Path],
) -> None:
    import time

    rec, root = store
    now = int(time.time() * 1000)
    old = [_seg("a", now - 7_200_000 + i * 2000) for i in range(5)]  # two hours ago
    new = [_seg("a", now - 60_000 + i * 2000) for i in range(5)]
    bs = [_seg("b", now - 60_000 + i * 2000) for i in range(10)]
    everything = old + new + bs
    _touch(root, everything)
    await rec.add(everything)
    storage = StorageConfig(path=root.parent, storage_limit=StorageLimit(bytes=10**9), reserve=1)
    pol = {"a": StreamPolicy(expiration=3600), "b": StreamPolicy(limit_bytes=4500)}
    ret = Retention(rec, root, storage, lambda: pol)
    freed = await ret.enforce()
    assert freed == 5_000 + 6_000
    assert rec.usage["a"].count == 5 and rec.usage["b"].count == 4
    left = {p.relative_to(root).as_posix() for p in root.rglob("*.mp4")}
    assert left == {s.path for s in new + bs[6:]}  # oldest went first
    # the global limit then applies across streams, oldest first
    ret.storage = StorageConfig(path=root.parent, storage_limit=StorageLimit(bytes=3000),
                                reserve=1)
    await ret.enforce()
    assert rec.total_bytes <= 3000


async def test_reconcile_repairs_files_and_rows(store: tuple[Recordings, Path]) -> None:
    rec, root = store
    pk = packets(encode(125, gop=10), video_info())
    w = SegmentWriter(root, "cam", target=2.0)
    segs = w.feed([*pk, GAP])  # three whole segments, the last one 1 s (3 fragments)
    assert [s.duration_ms for s in segs] == [2000, 2000, 1000]
    # The crash: the third was still being written, torn inside its last fragment.
    third = root / segs[2].path
    data = third.read_bytes()
    last_moof = [o for k, o, _ in mp4.top_level_boxes(data) if k == "moof"][-1]
    third.unlink()
    part = third.with_name(third.name + PART)
    part.write_bytes(data[: last_moof + 200])
    await rec.add([segs[0]])  # segs[1] has a file but no row
    ghost = _seg("cam", 1_000, 2000)  # a row without a file
    await rec.add([ghost])
    junk = root / "cam" / "2023-11-14" / "1700000999000.mp4"
    junk.write_bytes(b"not an mp4")  # a file with no row that is not video
    torn = root / "cam" / "2023-11-14" / "1700000888000.mp4.part"
    torn.write_bytes(b"\x00\x00\x00\x08ftyp")  # nothing salvageable
    report = await reconcile(rec, root)
    assert report.salvaged == 1
    assert report.indexed_files == 1
    assert report.dropped_rows == 1
    assert report.removed_files == 2
    rows = sqlite3.connect(rec.db.path).execute(
        "SELECT path, start_ms, end_ms FROM segments ORDER BY start_ms").fetchall()
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert [r[0] for r in rows] == files
    assert len(rows) == 3
    assert rows[1][1:] == (segs[1].start_ms, segs[1].end_ms)
    salvaged = rows[2]
    assert salvaged[1] == segs[1].end_ms and salvaged[2] - salvaged[1] == 800  # 2 of 3
    assert not any(f.endswith(PART) for f in files)
    assert rec.usage["cam"].count == 3
    # a second pass finds nothing to do
    again = await reconcile(rec, root)
    assert (again.salvaged, again.indexed_files, again.dropped_rows, again.removed_files) == (
        0, 0, 0, 0)
    assert os.listdir(root) == ["cam"]
