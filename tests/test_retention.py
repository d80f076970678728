"""Acceptance: retention keeps recordings within the limits while recording, and a full
filesystem never stops recording (a small tmpfs mounted by the test)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.peers.dvr import config, contiguous, files, rows
from tests.peers.inproc import running_gateway

CAM = "synthetic://?size=320x180&fps=10&gop=5&bitrate=400k"


def sizes_by_stream(whole: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for path, size in whole.items():
        s = path.split("/", 1)[0]
        out[s] = out.get(s, 0) + size
    return out


async def test_storage_limits_hold_while_recording(tmp_path: Path) -> None:
    data = tmp_path / "data"
    limit, b_limit = 700_000, 250_000
    streams = (
        f'[[streams]]\nname = "a"\ninputs = ["{CAM}"]\n'
        f'[[streams]]\nname = "b"\ninputs = ["{CAM}"]\ndvr = {{storage_limit = {b_limit}}}\n'
    )
    cfg = config(data, streams, f"storage_limit = {limit}\nreserve = 1\nsegment_duration = 1")
    worst_total = worst_b = 0
    biggest = {"a": 0, "b": 0}
    samples = 0
    async with running_gateway(cfg) as gw:
        assert gw.deps is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            whole, _ = await asyncio.to_thread(files, data)
            for p, n in whole.items():
                s = p.split("/", 1)[0]
                biggest[s] = max(biggest[s], n)
            per = sizes_by_stream(whole)
            total = sum(per.values())
            over = total - limit
            assert over <= biggest["a"] + biggest["b"], (total, biggest)
            assert per.get("b", 0) - b_limit <= biggest["b"], (per, biggest)
            worst_total = max(worst_total, total)
            worst_b = max(worst_b, per.get("b", 0))
            samples += 1
            await asyncio.sleep(0.05)
        deleted = gw.deps.retention.deleted_segments
    assert samples > 100
    assert deleted > 10  # the limits were reached and enforced
    assert worst_total > limit * 0.8 and worst_b > b_limit * 0.8  # the limits bit
    for s in ("a", "b"):  # oldest went first: what is left is the latest, contiguous
        rs = rows(data, s)
        assert contiguous(rs, slack_ms=0) and rs[-1].end_ms > (time.time() - 5) * 1000
    print(f"worst total {worst_total} (limit {limit}), worst b {worst_b} (limit {b_limit}), "
          f"biggest segments {biggest}")


async def test_per_stream_expiration(tmp_path: Path) -> None:
    data = tmp_path / "data"
    streams = (
        f'[[streams]]\nname = "short"\ninputs = ["{CAM}"]\ndvr = {{expiration = 3}}\n'
        f'[[streams]]\nname = "long"\ninputs = ["{CAM}"]\n'
    )
    cfg = config(data, streams, "reserve = 1\nsegment_duration = 1")
    async with running_gateway(cfg):
        await asyncio.sleep(4)
        for _ in range(40):
            await asyncio.sleep(0.25)
            short = rows(data, "short")
            if short:
                # deleted once a segment ends more than 3 s ago (checked at each new one)
                assert short[0].end_ms >= (time.time() - 3 - 2.5) * 1000, short[0]
    long = rows(data, "long")
    assert long[-1].end_ms - long[0].start_ms > 10_000  # the other stream keeps everything
    assert rows(data, "short")[0].start_ms > long[0].start_ms + 5000


@pytest.fixture
def tmpfs(tmp_path: Path):  # type: ignore[no-untyped-def]
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root/CAP_SYS_ADMIN): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(path: Path, leave: int) -> int:
    """Write junk until only ``leave`` bytes are free (0: until ENOSPC); returns bytes."""
    chunk = b"\xa5" * 65536
    n = 0
    with open(path, "ab") as f:
        while True:
            st = os.statvfs(path)
            free = st.f_bavail * st.f_frsize
            if free <= leave:
                break
            try:
                f.write(chunk[: min(len(chunk), max(4096, free - leave))])
                f.flush()
            except OSError:
                break
            n += 65536
    return n


def old_recordings(segments: Path, stream: str, nbytes: int) -> int:
    """Whole segment files from an hour ago (no rows: start-up reconciliation indexes them)."""
    from gateway.media.hub import GAP
    from gateway.sinks.segment_writer import SegmentWriter
    from tests.peers.clips import encode, packets, video_info

    t0 = time.time() - 3600
    w = SegmentWriter(segments, stream, target=100)
    (seg,) = w.feed([*packets(encode(25, size=(640, 352), gop=25), video_info((640, 352)),
                               wall0=t0), GAP])
    src = segments / seg.path
    n = 1
    while n * seg.bytes < nbytes:
        start_ms = int(t0 * 1000) + n * 1000
        shutil.copyfile(src, src.with_name(f"{start_ms:013d}.mp4"))
        n += 1
    return n


async def test_full_filesystem_keeps_recording(tmpfs: Path) -> None:
    data = tmpfs / "data"
    cam = "synthetic://?size=640x360&fps=10&gop=5&bitrate=2M"
    streams = f'[[streams]]\nname = "cam"\ninputs = ["{cam}"]\n'
    cfg = config(data, streams,
                 'storage_limit = "100%"\nreserve = "512KiB"\nsegment_duration = 1')
    n_old = await asyncio.to_thread(old_recordings, data / "segments", "cam", 4 * 2**20)
    # Someone else takes most of the disk ...
    await asyncio.to_thread(fill, tmpfs / "junk", 2 * 2**20)
    async with running_gateway(cfg) as gw:
        assert gw.deps is not None
        cam_ = gw.deps.cameras.get("cam")
        assert cam_ is not None
        assert len(rows(data, "cam")) == n_old  # reconciled: indexed at start
        await asyncio.sleep(3)
        # ... and then all the rest of it, while we record.
        await asyncio.to_thread(fill, tmpfs / "junk2", 0)
        st = os.statvfs(tmpfs)
        assert st.f_bavail * st.f_frsize < 65536
        t_full = time.time()
        await asyncio.sleep(12)
        later = rows(data, "cam")
        stats = cam_.recorder.stats
        deleted = gw.deps.retention.deleted_segments
    # Recording went on: new segments after the disk filled, and the oldest were deleted.
    new = [r for r in later if r.start_ms > t_full * 1000]
    assert len(new) >= 8, (len(new), stats)
    assert later[-1].end_ms > (t_full + 9) * 1000
    old_left = [r for r in later if r.start_ms < t_full * 1000 - 600_000]
    assert deleted > 0 and 0 < len(old_left) < n_old
    assert contiguous(new, slack_ms=0)
    whole, parts = files(data)
    assert {r.path for r in rows(data)} == set(whole) and parts == {}
    print(f"disk full: {stats}, deleted {deleted}, new segments {len(new)}, "
          f"old segments {n_old} -> {len(old_left)}")
    shutil.rmtree(data, ignore_errors=True)
