"""Acceptance: a camera with a wrong password, one whose port refuses and one that never
answers do not disturb a good camera, which keeps recording continuous segments."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from pathlib import Path

from gateway.media.packet import Packet
from tests.peers.dvr import config, contiguous, rows, stream_toml
from tests.peers.inproc import running_gateway
from tests.peers.procs import RtspServer, free_port

RECORD_S = 16.0


async def test_bad_cameras_do_not_disturb_the_good_one(tmp_path: Path) -> None:
    srv = RtspServer("--gop", "25", "--size", "320x180", user="u", password="p").start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # completes TCP handshakes but never says a word
    data = tmp_path / "data"
    streams = (
        stream_toml("good", srv.url())
        + stream_toml("badpw", srv.url(password="wrong"))
        + stream_toml("refused", f"rtsp://u:p@127.0.0.1:{free_port()}/stream1")
        + stream_toml("silent", f"rtsp://127.0.0.1:{silent.getsockname()[1]}/stream1")
    )
    cfg = config(data, streams, "reserve = 1\nsegment_duration = 1")
    gaps: list[float] = []
    try:
        async with running_gateway(cfg) as gw:
            assert gw.deps is not None
            good = gw.deps.cameras.get("good")
            assert good is not None
            sub = good.hub.subscribe("test-gaps", maxsize=10_000)
            last = None
            loop = asyncio.get_running_loop()
            end = loop.time() + RECORD_S
            while loop.time() < end:
                await asyncio.wait_for(sub.wait(), 5)
                for item in sub.drain():
                    if isinstance(item, Packet):
                        if last is not None:
                            gaps.append(item.arrival - last)
                        last = item.arrival
            sub.close()
            states = {c.name: dataclasses.replace(c.source.state) for c in gw.deps.cameras}
            good_rec = dataclasses.replace(good.recorder.stats)
    finally:
        srv.stop()
        silent.close()
    assert states["good"].reconnects == 0 and states["good"].status == "running"
    assert good_rec.errors == 0
    assert max(gaps) < 1.0, max(gaps)  # packets kept flowing while the others failed
    rs = rows(data, "good")
    assert len(rs) >= RECORD_S - 4 and contiguous(rs, slack_ms=0), rs
    for name in ("badpw", "refused", "silent"):
        assert rows(data, name) == []
        assert states[name].status in ("retrying", "connecting"), (name, states[name])
        assert states[name].sessions == 0 and states[name].reconnects >= 1, states[name]
    assert "authentication" in (states["badpw"].last_error or ""), states["badpw"]
    assert "refused" in (states["refused"].last_error or ""), states["refused"]
    assert "timed out" in (states["silent"].last_error or ""), states["silent"]
