"""Live and DVR HLS over the recorder's segments, read end to end by ffprobe."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from tests.media_env import Env, extinf, gateway_env, probe_bytes, probe_url, wait_segments

pytestmark = pytest.mark.timeout(120)


async def check_segments(env: Env, stream: str, playlist: str, query: str) -> None:
    """Every segment starts with a keyframe and lasts what the playlist says (1%)."""
    maps = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', playlist)
    assert maps
    status, init, _ = await env.get(f"/{stream}/{maps[0]}")
    assert status == 200 and init[4:8] == b"ftyp"
    for duration, uri in extinf(playlist):
        status, media, headers = await env.get(f"/{stream}/{uri}")
        assert status == 200, uri
        info = await probe_bytes(
            init + media, "-select_streams", "v:0",
            "-show_entries", "packet=pts_time,duration_time,flags",
        )
        packets = info["packets"]
        assert isinstance(packets, list) and packets
        assert packets[0]["flags"].startswith("K"), (uri, packets[0])
        total = sum(float(p["duration_time"]) for p in packets)
        assert abs(total - duration) <= duration * 0.01, (uri, total, duration)


async def test_live_playlist_and_segments(tmp_path: Path) -> None:
    async with gateway_env(tmp_path / "data") as env:
        # A player arriving before the first segment closed is held, not turned away.
        status, body, headers = await env.get("/cam/index.m3u8")
        assert status == 200, body
        assert headers["Content-Type"].startswith("application/vnd.apple.mpegurl")
        await wait_segments(env, "cam", 4)
        status, body, _ = await env.get("/cam/index.m3u8")
        text = body.decode()
        version = int(re.search(r"#EXT-X-VERSION:(\d+)", text)[1])  # type: ignore[index]
        assert version >= 7
        target = int(re.search(r"#EXT-X-TARGETDURATION:(\d+)", text)[1])  # type: ignore[index]
        segs = extinf(text)
        assert len(segs) >= 3
        assert all(d <= target + 0.5 for d, _ in segs)
        assert "#EXT-X-PROGRAM-DATE-TIME:" in text and "#EXT-X-ENDLIST" not in text
        seq = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)[1])  # type: ignore[index]
        await check_segments(env, "cam", text, "")

        # Blocking reload: asking for the next sequence number waits for it.
        nxt = seq + len(segs)
        t0 = time.monotonic()
        status, body, _ = await env.get(f"/cam/index.m3u8?_HLS_msn={nxt}")
        assert status == 200
        assert time.monotonic() - t0 < 8
        later = body.decode()
        last_seq = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", later)[1]) + len(  # type: ignore[index]
            extinf(later)) - 1
        assert last_seq >= nxt

        # The viewer is counted as an online client of the camera.
        assert env.gw.deps is not None
        cam = env.gw.deps.cameras.get("cam")
        assert cam is not None and "hls" in cam.clients.values()

        # ffprobe plays the live playlist through a signed media token (no headers).
        token = await env.media_token("cam")
        info = await probe_url(
            f"{env.base}/cam/index.m3u8?token={token}", "-read_intervals", "%+3",
            "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height",
            "-show_entries", "packet=pts_time",
        )
        streams = info["streams"]
        assert isinstance(streams, list) and streams[0]["codec_name"] == "h264"
        assert streams[0]["width"] == 640
        assert len(info["packets"]) > 25  # type: ignore[arg-type]


async def test_dvr_playlist_and_errors(tmp_path: Path) -> None:
    async with gateway_env(tmp_path / "data") as env:
        await wait_segments(env, "cam", 4)
        assert env.gw.deps is not None
        segs = await env.gw.deps.recordings.latest("cam", 4)
        start = segs[-1].start_ms / 1000 + 0.5
        end = segs[0].end_ms / 1000
        duration = int(end - start)
        status, body, _ = await env.get(f"/cam/index-{start:.1f}-{duration}.m3u8")
        assert status == 200, body
        text = body.decode()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.rstrip().endswith("#EXT-X-ENDLIST")
        await check_segments(env, "cam", text, "")
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(start)))
        status, body2, _ = await env.get(f"/cam/index-{iso}-{duration}.m3u8")
        assert status == 200 and extinf(body2.decode())

        token = await env.media_token("cam")
        info = await probe_url(
            f"{env.base}/cam/index-{int(start)}-{duration}.m3u8?token={token}",
            "-show_entries", "format=duration",
        )
        got = float(info["format"]["duration"])  # type: ignore[index]
        want = sum(d for d, _ in extinf(text))
        assert abs(got - want) <= want * 0.01 + 0.05, (got, want)

        status, body, _ = await env.get("/nope/index.m3u8")
        assert status == 404 and b'"errors"' in body
        status, body, _ = await env.get("/cam/index-yesterday-60.m3u8")
        assert status == 422 and b'"from"' in body
        status, body, _ = await env.get(f"/cam/index-{int(start)}-0.m3u8")
        assert status == 422 and b'"duration"' in body


async def test_media_needs_credentials(tmp_path: Path) -> None:
    async with gateway_env(tmp_path / "data") as env:
        import aiohttp

        async with aiohttp.ClientSession() as anon:
            for path in ("/cam/index.m3u8", "/cam/preview.jpg", "/cam/recording_status.json"):
                async with anon.get(env.base + path) as r:
                    assert r.status == 401, path


async def test_hls_viewers_are_counted_and_expire(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.web import hls

    monkeypatch.setattr(hls, "SESSION_IDLE", 1.0)
    monkeypatch.setattr(hls, "SWEEP_EVERY", 0.2)
    async with gateway_env(tmp_path / "data") as env:
        await wait_segments(env, "cam", 1)
        for sid in ("a", "b"):
            status, _, _ = await env.get(f"/cam/index.m3u8?session={sid}")
            assert status == 200
        assert env.gw.deps is not None
        cam = env.gw.deps.cameras.get("cam")
        assert cam is not None
        assert {k: v for k, v in cam.clients.items() if v == "hls"} == {"a": "hls", "b": "hls"}
        status, _, _ = await env.get("/cam/index.m3u8")  # no session=: one per client
        assert sum(v == "hls" for v in cam.clients.values()) == 3
        await asyncio.sleep(2.0)
        assert not any(v == "hls" for v in cam.clients.values())
