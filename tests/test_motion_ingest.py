"""Acceptance: motion never blocks ingest.

With a detector slowed to 0.4 s a frame (a Pi with far too many cameras), the camera's
recording stays contiguous (no dropped segment), a live viewer's subscription loses
nothing, the event loop stays responsive, and the motion sink skips frames instead.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

import gateway.sinks.motion as motion_sink
from gateway.config import Config, ServerConfig, StorageConfig, parse_stream
from gateway.media.packet import Packet
from gateway.motion.detector import Detector, MotionResult
from tests.peers.dvr import contiguous, rows
from tests.peers.inproc import running_gateway

pytestmark = pytest.mark.timeout(120)
RUN_S = 12.0
FPS = 15


class SlowDetector(Detector):
    calls = 0

    def process(self, y: np.ndarray) -> MotionResult:
        SlowDetector.calls += 1
        time.sleep(0.4)
        return super().process(y)


async def test_slow_detector_skips_frames_and_recording_and_live_continue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(motion_sink, "Detector", SlowDetector)
    cam = parse_stream(
        {"name": "cam", "inputs": [{"url": f"synthetic://?size=640x360&fps={FPS}&gop={FPS}"}],
         "vision": {"motion": {"fps": 5}}}, "s",
    )  # fmt: skip
    cfg = Config(
        server=ServerConfig(host="127.0.0.1", port=0),
        storage=StorageConfig(path=tmp_path, reserve=1, segment_duration=2.0),
        streams=(cam,),
    )
    async with running_gateway(cfg) as gw:
        assert gw.deps is not None and gw.deps.motion is not None
        camera = gw.deps.cameras.get("cam")
        assert camera is not None
        viewer = camera.hub.subscribe("test-viewer", from_gop=False)
        got = 0
        lag_max = 0.0
        t_end = time.monotonic() + RUN_S
        while time.monotonic() < t_end:
            t0 = time.monotonic()
            await asyncio.sleep(0.05)
            lag_max = max(lag_max, time.monotonic() - t0 - 0.05)
            got += sum(1 for p in viewer.drain(10_000) if isinstance(p, Packet) and p.is_video)
        motion_subs = [s for s in camera.hub.subscribers if s.name == "motion"]
        motion_drops = sum(s.drops for s in motion_subs)
        stats = gw.deps.motion.stats_of("cam")
        viewer_drops = viewer.drops
        viewer.close()
    rs = rows(tmp_path, "cam")
    assert len(rs) >= 4 and contiguous(rs), rs
    recorded = (rs[-1].end_ms - rs[0].start_ms) / 1000
    assert recorded >= RUN_S - 4, recorded
    assert viewer_drops == 0
    assert got >= FPS * RUN_S * 0.85, got
    assert lag_max < 0.25, lag_max
    # the detector ran (slowly) and the sink skipped frames rather than queueing them
    assert SlowDetector.calls >= 5
    assert stats.frames_skipped + motion_drops > 0, (stats, motion_drops)
    assert stats.frames_examined < RUN_S * 5 * 0.8
    print(f"examined {stats.frames_examined}, skipped {stats.frames_skipped}, "
          f"hub drops {motion_drops}, viewer got {got}, loop lag max {lag_max * 1000:.0f} ms")
