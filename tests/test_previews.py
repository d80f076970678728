"""preview.jpg (live, from the GOP cache) and {from}-preview.jpg (recorded) show the right
moment: the synthetic camera writes each frame's wall-clock time into it as a barcode."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import av
import pytest

from gateway.sources.scene import read_timestamp
from tests.media_env import gateway_env, wait_segments

pytestmark = pytest.mark.timeout(120)

SYNTH = "synthetic://?size=640x360&fps=25&gop=50&bitrate=1M"


def jpeg_time(data: bytes) -> float | None:
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    with av.open(io.BytesIO(data), format="mjpeg") as c:
        frame = next(c.decode(video=0))
    plane = frame.planes[0]
    import numpy as np

    y = np.frombuffer(bytes(plane), np.uint8).reshape(frame.height, plane.line_size)
    return read_timestamp(y[:, : frame.width])


async def test_live_and_recorded_previews(tmp_path: Path) -> None:
    async with gateway_env(tmp_path / "data", {"cam": SYNTH}) as env:
        await wait_segments(env, "cam", 3)
        asked = time.time()
        status, body, headers = await env.get("/cam/preview.jpg")
        assert status == 200 and headers["Content-Type"] == "image/jpeg"
        t = jpeg_time(body)
        assert t is not None
        # The newest frame of the GOP cache: at most a frame interval plus the
        # source's latency old (slack for a loaded machine).
        assert asked - 1.5 <= t <= asked + 0.1, (t, asked)
        # Cached briefly: an immediate second request is the same picture.
        t_again = time.monotonic()
        status, body2, _ = await env.get("/cam/preview.jpg")
        if time.monotonic() - t_again < 0.5:  # (a very loaded machine may take longer)
            assert body2 == body
        await asyncio.sleep(1.2)
        status, body3, _ = await env.get("/cam/preview.jpg")
        t3 = jpeg_time(body3)
        assert t3 is not None and t3 > t

        assert env.gw.deps is not None
        segs = await env.gw.deps.recordings.latest("cam", 3)
        seg = segs[1]
        for want in (seg.start + 0.02, seg.start + 1.37, seg.end - 0.05):
            status, body, headers = await env.get(f"/cam/{want:.3f}-preview.jpg")
            assert status == 200, body
            got = jpeg_time(body)
            frame_time = float(headers["X-Frame-Time"])  # the frame's time in the index
            assert abs(frame_time - want) <= 0.021, (frame_time, want)  # the nearest frame
            # ...and the picture is that frame: its barcode differs from the index time
            # only by the source's capture-to-timestamp offset.
            assert got is not None and abs(got - frame_time) <= 0.04, (got, frame_time)
            assert abs(got - want) <= 0.06, (got, want)
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seg.start + 1)) + ".500Z"
        status, body, _ = await env.get(f"/cam/{iso}-preview.jpg")
        got = jpeg_time(body)
        assert status == 200 and got is not None
        assert abs(got - (int(seg.start + 1) + 0.5)) <= 0.06

        status, body, _ = await env.get("/cam/noon-preview.jpg")
        assert status == 422 and b'"from"' in body
        status, body, _ = await env.get(f"/cam/{seg.start - 3600:.0f}-preview.jpg")
        assert status == 404 and b'"message"' in body
        status, body, _ = await env.get("/other/preview.jpg")
        assert status == 404
