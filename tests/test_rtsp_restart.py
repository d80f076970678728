"""Acceptance: the RTSP server is killed and restarted 20 times at random moments.

After every return the camera records again within 3 s (new packets in the hub and a new
segment file in progress), and nothing leaks: file descriptors and threads are counted
before and after.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.cameras import Camera
from tests.peers.dvr import config, contiguous, rows, stream_toml
from tests.peers.inproc import running_gateway
from tests.peers.procs import RtspServer, free_port

CYCLES = 20
BACK_WITHIN = 3.0


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


async def wait_until(cond: Callable[[], bool], limit: float, interval: float = 0.02) -> float:
    """Seconds until ``cond()`` is true; raises TimeoutError."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > limit:
            raise TimeoutError
        await asyncio.sleep(interval)
    return time.monotonic() - t0


async def recording_again(cam: Camera, gaps_before: int, part_before: Path | None) -> float:
    """Seconds until the hub carries packets of a new session and a new segment is open."""

    def ok() -> bool:
        st = cam.hub.stats
        cur = cam.recorder.writer.current_path
        return (
            st.gaps > gaps_before
            and cam.source.state.status == "running"
            and cur is not None
            and cur != part_before
            and time.monotonic() - st.last_packet_at < 0.5
        )

    return await wait_until(ok, 15.0)


@pytest.mark.timeout(400)
async def test_server_killed_and_restarted_20_times(tmp_path: Path) -> None:
    rng = random.Random(20)
    srv = RtspServer("--gop", "25", "--size", "320x180", port=free_port(), user="u",
                     password="p").start()
    data = tmp_path / "data"
    cfg = config(data, stream_toml("cam", srv.url()), "reserve = 1\nsegment_duration = 1")
    recovery: list[float] = []
    try:
        async with running_gateway(cfg) as gw:
            assert gw.deps is not None
            cam = gw.deps.cameras.get("cam")
            assert cam is not None
            await wait_until(lambda: cam.recorder.stats.segments >= 1, 20)
            await asyncio.sleep(1.0)
            fds0, threads0 = fd_count(), threading.active_count()
            for _ in range(CYCLES):
                await asyncio.sleep(rng.uniform(0.1, 3.0))  # a random moment
                gaps = cam.hub.stats.gaps
                part = cam.recorder.writer.current_path
                await asyncio.to_thread(srv.kill)
                await asyncio.sleep(rng.uniform(0.0, 2.0))  # down for a while
                await asyncio.to_thread(srv.start)
                try:
                    took = await recording_again(cam, gaps, part)
                except TimeoutError:
                    raise AssertionError(
                        f"cycle {len(recovery)}: not recording 15 s after the server returned:"
                        f" {cam.source.state}, hub {cam.hub.stats}"
                    ) from None
                recovery.append(took)
                assert took <= BACK_WITHIN, (len(recovery), took, cam.source.state)
            segments_before = cam.recorder.stats.segments
            await wait_until(lambda: cam.recorder.stats.segments > segments_before + 1, 10)
            # Reader threads of dead sessions end within their read timeout.
            await wait_until(
                lambda: threading.active_count() <= threads0 and fd_count() <= fds0, 12, 0.2
            )
            assert cam.source.state.sessions == CYCLES + 1
    finally:
        srv.stop()
    rs = rows(data, "cam")
    # Segments are contiguous between outages: at most CYCLES holes.
    holes = sum(1 for a, b in zip(rs, rs[1:], strict=False) if b.start_ms - a.end_ms > 0)
    assert holes <= CYCLES
    assert contiguous(rs, slack_ms=10_000)
    print("recovery seconds:", sorted(round(x, 2) for x in recovery))
