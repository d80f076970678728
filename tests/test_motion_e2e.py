"""Acceptance: motion end to end through the real RTSP server.

A pre-encoded clip (static textured scene; an object crosses it from 4 s to 8 s; a
frame-index barcode on the bottom rows, masked out with a ``motion_mask`` zone) is served
looped by GStreamer's RTSP server.  A tap on the camera's hub decodes the barcode, so the
test knows the gateway-clock time of every clip frame.  camgate must open and close ONE
episode covering the motion (within 1 s at each end) with a preview JPEG; the episodes
long-poll must return it within 1 s of its opening; the row must exist before the bus
event announcing it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest

from bench.motion_scenes import BARCODE_ZONE, Mover, SceneSpec, encode, read_index
from gateway.config import Config, ServerConfig, StorageConfig, parse_stream
from gateway.media.hub import Hub
from gateway.media.packet import Packet
from gateway.sinks.motion import luma
from gateway.web.episodes import parse_time
from tests.peers.auth import login
from tests.peers.inproc import running_gateway
from tests.peers.procs import RtspServer

pytestmark = pytest.mark.timeout(180)

FPS = 15
LOOP_S = 14.0
MOVE = (4.0, 8.0)
FIRST, LAST = int(MOVE[0] * FPS), int(MOVE[1] * FPS) - 1  # first and last frame with motion


def motion_config(data: Path, url: str, **motion: Any) -> Config:
    cam = parse_stream(
        {
            "name": "cam",
            "inputs": [{"url": url}],
            "vision": {
                "detectors": [
                    {"detector_type": "motion_mask", "region_id": "barcode",
                     "region_coordinates": BARCODE_ZONE},
                ],
                "motion": {"close_after": 2.0, **motion},
            },
        },
        "s",
    )  # fmt: skip
    return Config(
        server=ServerConfig(host="127.0.0.1", port=0),
        storage=StorageConfig(path=data, reserve=1, segment_duration=2.0),
        streams=(cam,),
    )


async def tap(hub: Hub, seen: dict[int, list[float]], stop: asyncio.Event) -> None:
    """Decode the camera's packets; ``seen[frame index]`` = gateway times it was shown."""
    sub = hub.subscribe("test-tap", maxsize=100_000, video_only=True)
    dec = av.CodecContext.create("h264", "r")

    def decode(items: list[Any]) -> list[tuple[int, float]]:
        out = []
        for p in items:
            if not isinstance(p, Packet):
                continue
            pkt = av.Packet(p.data)
            pkt.pts = pkt.dts = p.pts
            for fr in dec.decode(pkt):
                out.append((read_index(luma(fr)), p.time))
        return out

    try:
        while not stop.is_set():
            items = sub.drain(10_000)
            for idx, t in await asyncio.to_thread(decode, items):
                seen.setdefault(idx, []).append(t)
            await asyncio.sleep(0.05)
    finally:
        sub.close()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "scene.h264"
    spec = SceneSpec("e2e", "object", LOOP_S, [Mover(MOVE[0], MOVE[1], (60, 90), 0.5)])
    encode(spec, path, fps=FPS)
    return path


async def test_one_episode_covers_the_motion_with_preview_and_long_poll(
    clip: Path, tmp_path: Path
) -> None:
    srv = RtspServer("--file", str(clip), "--fps", str(FPS)).start()
    try:
        async with running_gateway(motion_config(tmp_path, srv.url())) as gw:
            assert gw.deps is not None and gw.deps.bus is not None
            base = f"http://127.0.0.1:{gw.port}"
            token = await asyncio.to_thread(login, base, gw.data_dir)
            hdr = {"Authorization": f"Bearer {token}"}
            cam = gw.deps.cameras.get("cam")
            assert cam is not None and gw.deps.motion is not None
            seen: dict[int, list[float]] = {}
            stop = asyncio.Event()
            tap_task = asyncio.create_task(tap(cam.hub, seen, stop))
            events = gw.deps.bus.subscribe()
            committed_first: list[bool] = []

            async def check_events() -> None:
                async for ev in events:
                    row = await gw.deps.motion.episodes.get(ev.data["episode_id"])  # type: ignore[union-attr]
                    committed_first.append(row is not None)

            ev_task = asyncio.create_task(check_events())
            async with aiohttp.ClientSession(headers=hdr) as http:
                since = time.time()
                async with http.get(
                    f"{base}/api/v1/episodes",
                    params={"media": "cam", "updated_at_gt": str(since), "poll_timeout": "40"},
                ) as r:
                    assert r.status == 200
                    polled = await r.json()
                    got_at = time.time()
                assert polled["episodes"], polled
                first = polled["episodes"][0]
                assert first["closed_at"] is None
                # the long-poll answered within 1 s of the episode's creation
                created = parse_time(first["updated_at"])
                assert got_at - created <= 1.0, (got_at, created)
                eid = first["episode_id"]
                # wait for it to close
                deadline = time.monotonic() + 30
                ep: dict[str, Any] = first
                while ep["closed_at"] is None and time.monotonic() < deadline:
                    async with http.get(f"{base}/api/v1/episodes/{eid}") as r:
                        ep = await r.json()
                    await asyncio.sleep(0.2)
                assert ep["closed_at"] is not None, ep
                assert ep["close_reason"] == "quiet"
                opened, closed = parse_time(ep["opened_at"]), parse_time(ep["closed_at"])
                # the ground truth of that pass of the clip, in the gateway's clock
                starts = [t for t in seen.get(FIRST, []) if t <= opened + 1.5]
                assert starts, (opened, sorted(seen)[:5])
                t_first = max(starts)
                t_last = min(t for t in seen[LAST] if t > t_first)
                assert abs(opened - t_first) <= 1.0, (opened - t_first)
                assert abs(closed - t_last) <= 1.0, (closed - t_last)
                # the preview JPEG
                async with http.get(f"{base}{ep['preview']}") as r:
                    assert r.status == 200
                    assert r.headers["Content-Type"] == "image/jpeg"
                    jpeg = await r.read()
                assert jpeg[:2] == b"\xff\xd8" and len(jpeg) > 2000
                # ONE episode for that pass: nothing else opened until the next pass's motion
                next_start = t_first + LOOP_S
                await asyncio.sleep(max(0.0, next_start - 0.5 - time.time()))
                async with http.get(f"{base}/api/v1/episodes", params={"media": "cam"}) as r:
                    listing = await r.json()
                during = [
                    e for e in listing["episodes"]
                    if t_first - LOOP_S + 3 < parse_time(e["opened_at"]) < next_start - 0.5
                ]  # fmt: skip
                assert [e["episode_id"] for e in during] == [eid], listing
                stats = gw.deps.motion.public_stats("cam")
                assert stats["episodes_count"] >= 1 and stats["motion_detected_count"] >= 1
                print(
                    f"onset: opened {opened - t_first:+.2f}s, closed {closed - t_last:+.2f}s,"
                    f" long-poll {got_at - t_first:.2f}s after motion began"
                    f" ({got_at - created:.3f}s after the episode opened)"
                )
            stop.set()
            await tap_task
            ev_task.cancel()
            events.close()
            assert committed_first and all(committed_first)
    finally:
        srv.stop()
