"""Acceptance: recording a real RTSP camera (GStreamer's RTSP server, H.264/H.265, auth).

Segments must be whole files that ffprobe decodes without error, and their index
durations must add up to the wall time recorded within 2%.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from gateway.media.hub import Hub
from gateway.media.packet import Packet
from tests.peers.dvr import config, contiguous, files, rows, stream_toml
from tests.peers.inproc import running_gateway
from tests.peers.procs import RtspServer, ffprobe

RECORD_S = 20.0


async def _arrivals(hub: Hub, out: list[tuple[float, float]], stop: asyncio.Event) -> None:
    """(packet wall time, local arrival monotonic) of every video packet the hub carries."""
    sub = hub.subscribe("test-probe", maxsize=100_000)
    try:
        while not stop.is_set():
            for item in sub.drain(10_000):
                if isinstance(item, Packet) and item.is_video:
                    out.append((item.time, item.arrival))
            await asyncio.sleep(0.05)
    finally:
        sub.close()


def _probe_frames(path: Path) -> int:
    r = ffprobe(path, "-count_frames", "-select_streams", "v:0",
                "-show_entries", "stream=codec_name,nb_read_frames", "-of", "json")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return int(json.loads(r.stdout)["streams"][0]["nb_read_frames"])


async def record(url: str, data: Path, transport: str | None = None, seconds: float = RECORD_S
                 ) -> tuple[list[tuple[float, float]], float]:
    cfg = config(data, stream_toml("cam", url, transport=transport),
                 'storage_limit = "1GB"\nreserve = 1\nsegment_duration = 2')
    seen: list[tuple[float, float]] = []
    stop = asyncio.Event()
    async with running_gateway(cfg) as gw:
        assert gw.deps is not None
        cam = gw.deps.cameras.get("cam")
        assert cam is not None
        probe = asyncio.create_task(_arrivals(cam.hub, seen, stop))
        await asyncio.sleep(seconds)
        stop.set()
        await probe
        assert cam.source.state.reconnects == 0, cam.source.state
        assert cam.hub.drops == 0
    return seen, time.monotonic()


@pytest.mark.parametrize("codec", ["h264", "h265"])
async def test_records_real_rtsp_camera(tmp_path: Path, codec: str) -> None:
    srv = RtspServer("--codec", codec, "--gop", "25", "--fps", "25", "--size", "320x180",
                     user="admin", password="s3cret").start()
    try:
        seen, _ = await record(srv.url(), tmp_path / "data")
    finally:
        srv.stop()
    rs = rows(tmp_path / "data")
    whole, parts = files(tmp_path / "data")
    assert parts == {}
    assert {r.path for r in rs} == set(whole)
    assert len(rs) >= RECORD_S / 2 - 2
    assert contiguous(rs)
    total_frames = 0
    for r in rs:
        assert whole[r.path] == r.bytes
        total_frames += _probe_frames(tmp_path / "data" / "segments" / r.path)
    indexed_ms = sum(r.duration_ms for r in rs)
    # The wall time recorded, by our own clock: from the arrival of the first recorded
    # packet (the first segment's keyframe) to the arrival of the last one, plus a frame.
    start = rs[0].start_ms / 1000
    arrivals = [a for t, a in seen if t >= start - 0.0005]
    assert arrivals, "probe saw no packets"
    wall_ms = (arrivals[-1] - arrivals[0] + 0.04) * 1000
    print(f"{codec}: {len(rs)} segments, index {indexed_ms} ms, wall {wall_ms:.0f} ms "
          f"({(indexed_ms - wall_ms) / wall_ms:+.2%})")
    assert abs(indexed_ms - wall_ms) <= 0.02 * wall_ms, (indexed_ms, wall_ms)
    # (an H.265 segment that starts at a CRA keyframe may skip its leading pictures)
    assert abs(total_frames - len(arrivals)) <= 0.02 * len(arrivals), (total_frames, len(arrivals))
    assert abs(total_frames * 40 - indexed_ms) <= 0.02 * indexed_ms
    codecs = {json.loads(x)[0]["codec"] for x in [_codecs(tmp_path / "data")]}
    assert codecs == {"h264" if codec == "h264" else "hevc"}


def _codecs(data: Path) -> str:
    import sqlite3

    conn = sqlite3.connect(data / "camgate.db")
    try:
        return str(conn.execute("SELECT codecs FROM segments LIMIT 1").fetchone()[0])
    finally:
        conn.close()


async def test_udp_transport(tmp_path: Path) -> None:
    srv = RtspServer("--gop", "25", user="u", password="p").start()
    try:
        seen, _ = await record(srv.url(), tmp_path / "data", transport="udp", seconds=8)
    finally:
        srv.stop()
    rs = rows(tmp_path / "data")
    assert len(rs) >= 2 and contiguous(rs)
    for r in rs:
        _probe_frames(tmp_path / "data" / "segments" / r.path)
