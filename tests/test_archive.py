"""DVR range → one MP4: over HTTP (streamed), as export jobs, and by ``camgate export``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.media_env import gateway_env, probe_bytes, wait_segments
from tests.peers.procs import RtspServer

pytestmark = pytest.mark.timeout(180)


async def test_archive_across_an_outage_and_export_jobs(
    tmp_path: Path, rtsp_factory: type[RtspServer]
) -> None:
    srv = rtsp_factory("--gop", "25", user="u", password="p")
    srv.start()
    data = tmp_path / "data"
    async with gateway_env(data, {"door": srv.url()}) as env:
        await wait_segments(env, "door", 3)
        assert env.gw.deps is not None
        rec = env.gw.deps.recordings
        srv.stop()  # the camera goes away for a few seconds mid-range
        outage_start = time.time()
        await asyncio.sleep(4)
        srv.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 40
        while True:
            after = [s for s in await rec.latest("door", 20) if s.start_ms > outage_start * 1000]
            if len(after) >= 3:
                break
            assert loop.time() < deadline, "no recording after the outage"
            await asyncio.sleep(0.3)
        segs = list(reversed(await rec.latest("door", 40)))
        start = segs[0].start_ms / 1000 + 0.3
        end = segs[-1].end_ms / 1000
        gaps = [b.start_ms - a.end_ms for a, b in zip(segs, segs[1:], strict=False)]
        assert max(gaps) > 2500, gaps  # the outage is a hole in the recording

        # The DVR playlist marks the hole.
        status, body, _ = await env.get(f"/door/index-{start:.3f}-{end - start:.3f}.m3u8")
        assert status == 200 and b"#EXT-X-DISCONTINUITY" in body

        # recording_status.json shows two ranges.
        status, body, _ = await env.get(
            f"/door/recording_status.json?from={int(start) - 10}&to={int(end) + 10}")
        assert status == 200
        import json

        ranges = json.loads(body)[0]["ranges"]
        assert json.loads(body)[0]["stream"] == "door" and len(ranges) == 2, ranges

        # One MP4 of the range, streamed: it plays and lasts the range (time kept, gap
        # and all), starting at the keyframe at or before ``from``.
        status, mp4, headers = await env.get(f"/door/archive-{start:.3f}-{end - start:.3f}.mp4")
        assert status == 200, mp4[:200]
        assert headers.get("Transfer-Encoding") == "chunked"
        info = await probe_bytes(
            mp4, "-count_frames", "-show_entries",
            "format=duration:stream=codec_name,nb_read_frames", seekable=True,
        )
        dur = float(info["format"]["duration"])  # type: ignore[index]
        want = end - start
        assert want - 0.1 <= dur <= want + 1.1, (dur, want)
        frames = int(info["streams"][0]["nb_read_frames"])  # type: ignore[index]
        assert frames < dur * 25 * 0.85  # the outage holds no frames

        # The export job API: queued/running → completed → download → finished.
        status, job = await env.json("POST", "/api/v1/exports", {
            "stream": "door", "from": start, "to": time.strftime(
                "%Y-%m-%dT%H:%M:%S", time.gmtime(end)) + f".{int(end * 1000) % 1000:03d}Z"})
        assert status == 201, job
        assert isinstance(job, dict) and job["status"] in ("queued", "running")
        seen = {job["status"]}
        deadline = loop.time() + 60
        while job["status"] not in ("completed", "failed"):
            assert loop.time() < deadline
            await asyncio.sleep(0.1)
            status, job = await env.json("GET", f"/api/v1/exports/{job['id']}")
            assert status == 200 and isinstance(job, dict)
            assert 0 <= job["progress"] <= 100
            seen.add(job["status"])
        assert job["status"] == "completed", job
        assert job["progress"] == 100 and job["bytes"] > 0
        status, listing = await env.json("GET", "/api/v1/exports")
        assert status == 200 and isinstance(listing, dict)
        assert [j["id"] for j in listing["exports"]] == [job["id"]]
        status, clip, _ = await env.get(job["download"])
        assert status == 200 and len(clip) == job["bytes"]
        info = await probe_bytes(clip, "-show_entries", "format=duration", seekable=True)
        assert abs(float(info["format"]["duration"]) - dur) < 0.2  # type: ignore[index]
        status, _ = await env.json("DELETE", f"/api/v1/exports/{job['id']}")
        assert status == 204
        status, _ = await env.json("GET", f"/api/v1/exports/{job['id']}")
        assert status == 404
        assert not list((data / "exports").glob("*.mp4"))

        # Bad requests name the field.
        status, err = await env.json("POST", "/api/v1/exports",
                                     {"stream": "door", "from": "soon", "duration": 5})
        assert status == 422 and isinstance(err, dict) and "from" in err["errors"]
        status, err = await env.json("POST", "/api/v1/exports",
                                     {"stream": "nope", "from": start, "duration": 5})
        assert status == 422 and isinstance(err, dict) and "stream" in err["errors"]

        # A job left alone expires (its file too).
        status, job = await env.json("POST", "/api/v1/exports",
                                     {"stream": "door", "from": start, "duration": 3, "ttl": 1})
        assert status == 201 and isinstance(job, dict)
        deadline = loop.time() + 30
        while True:
            status, listing = await env.json("GET", "/api/v1/exports")
            assert isinstance(listing, dict)
            if not listing["exports"]:
                break
            assert loop.time() < deadline, listing
            await asyncio.sleep(0.3)
        assert not list((data / "exports").glob("*"))

    # `camgate export` works on the data dir (daemon stopped here; it may also run).
    out = tmp_path / "clip.mp4"
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(start)))
    r = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "gateway", "export", "door", iso, f"{end:.3f}", "-o", str(out),
         "--data", str(data)],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "100%" in r.stderr
    info = await probe_bytes(out.read_bytes(), "-show_entries", "format=duration",
                             seekable=True)
    assert abs(float(info["format"]["duration"]) - (end - int(start))) < 1.2  # type: ignore[index]
