"""WHEP end to end: real RTSP camera → camgate → aiortc viewers in another namespace."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.sinks.webrtc_session import RTCP_TIMEOUT
from tests.peers.netns import NetnsPair
from tests.peers.procs import RtspServer
from tests.webrtc_env import WebRtcEnv, netns_pair, webrtc_env

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


@pytest.fixture
def pair() -> Iterator[NetnsPair]:
    with netns_pair() as p:
        yield p


@pytest.fixture
def camera(pair: NetnsPair) -> Iterator[RtspServer]:
    """A live H.264 camera (2 s GOP) inside the gateway's namespace."""
    srv = RtspServer("--gop", "50", user="u", password="p").start()
    yield srv
    srv.stop()


def http(env: WebRtcEnv, method: str, path: str, body: str | None = None,
         ctype: str = "application/sdp") -> tuple[int, dict[str, str], Any]:
    req = urllib.request.Request(
        env.base + path, data=body.encode() if body is not None else None, method=method,
        headers={"Authorization": f"Bearer {env.token}", "Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            status, headers, text = r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as exc:
        status, headers, text = exc.code, dict(exc.headers), exc.read().decode()
    try:
        return status, headers, json.loads(text)
    except ValueError:
        return status, headers, text


async def session_info(env: WebRtcEnv, location: str) -> dict[str, Any]:
    status, _, body = await asyncio.to_thread(http, env, "GET", location)
    assert status == 200, body
    return dict(body)


async def wait_until(cond: Any, within: float, what: str) -> float:
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < within, what
        await asyncio.sleep(0.1)
    return time.monotonic() - t0


async def test_several_aiortc_viewers_get_decodable_h264(
    tmp_path: Path, pair: NetnsPair, camera: RtspServer
) -> None:
    async with webrtc_env(tmp_path, pair, {"cam": (camera.url(),)}) as env:
        cam = env.camera()
        base_subs = len(cam.hub.subscribers)
        proc = env.client("--viewers", "3", "--duration", "6", "--delete")
        await env.wait_ready(proc)
        assert len(cam.clients) == 3 and set(cam.clients.values()) == {"webrtc"}
        assert len(cam.hub.subscribers) == base_subs + 3
        status, _, stream = await asyncio.to_thread(http, env, "GET", "/api/v1/streams/cam")
        assert status == 200 and stream["stats"]["online_clients"] == 3
        rows = await env.results(proc)
        for r in rows:
            print(f"viewer {r['viewer']}: ttff {r['ttff'] * 1000:.0f} ms, {r['frames']} frames")
            assert r["status"] == 201 and r["error"] is None
            assert r["first_key"] is True
            assert r["frames"] >= 100  # ~6 s at 25 fps, every one decoded
            assert r["delete_status"] == 200
        # DELETE freed every subscription and client entry
        await wait_until(lambda: len(cam.hub.subscribers) == base_subs, 5, "subscriptions")
        assert cam.clients == {}


async def test_a_viewer_joining_right_after_a_keyframe_starts_from_the_gop_cache(
    tmp_path: Path, pair: NetnsPair, camera: RtspServer
) -> None:
    async with webrtc_env(tmp_path, pair, {"cam": (camera.url(),)}) as env:
        cam = env.camera()
        seen = cam.hub.stats.keyframes
        await wait_until(lambda: cam.hub.stats.keyframes > seen, 5, "a keyframe")
        await asyncio.sleep(0.2)  # just after it: the camera's next keyframe is ~1.8 s away
        proc = env.client("--duration", "3")
        await env.wait_ready(proc)
        sid = next(iter(cam.clients))
        info = await session_info(env, f"/cam/whep/{sid}")
        rows = await env.results(proc)
        print(f"ttff after a keyframe: {rows[0]['ttff'] * 1000:.0f} ms")
        first = info["starts"][0]
        assert first["reason"] == "join" and first["keyframe"] and first["cached"]
        assert rows[0]["first_key"] is True
        assert rows[0]["ttff"] < 1.2  # without the cache it is ~1.8 s + connection time


@pytest.fixture
def busy_camera(pair: NetnsPair) -> Iterator[RtspServer]:
    """A camera whose picture is noise: ~1.5 Mbit/s, more than a socket buffer holds."""
    srv = RtspServer("--gop", "50", "--pattern", "snow", "--bitrate", "1500").start()
    yield srv
    srv.stop()


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="no Debian chromium")
async def test_chromium_plays_the_status_page_tile_over_whep(
    tmp_path: Path, pair: NetnsPair, camera: RtspServer
) -> None:
    async with webrtc_env(tmp_path, pair, {"cam": (camera.url(),)}) as env:
        res = await env.browser("--mode", "page")
        print(f"chromium: time to first decoded frame {res['ttff_ms']:.0f} ms,"
              f" framesDecoded {res['frames']}")
        assert res["login"] == 200
        assert res["player"] == "webrtc", res["console"]
        assert res["frames"][1] > res["frames"][0] + 25  # ~50 in 2 s at 25 fps
        assert res["join"].get("frames", 0) >= 1 and res["ttff_ms"] < 3000, res
        await wait_until(lambda: "webrtc" not in env.camera().clients.values(), 15,
                         "browser sessions end")


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="no Debian chromium")
async def test_the_status_page_falls_back_to_hls_when_webrtc_cannot_connect(
    tmp_path: Path, pair: NetnsPair, camera: RtspServer
) -> None:
    async with webrtc_env(tmp_path, pair, {"cam": (camera.url(),)}) as env:
        res = await env.browser("--mode", "page", "--block-webrtc")
        first, second = res["playback"]
        print(f"fallback: player {res['player']}, HLS time {first['time']:.1f} ->"
              f" {second['time']:.1f} s")
        assert res["player"] == "hls", res["console"]
        assert second["time"] > first["time"] + 1.0 and second["frames"] > first["frames"]
        assert any("switching" in c or "webrtc failed" in c or "no picture" in c
                   for c in res["console"]), res["console"]
        await wait_until(lambda: "webrtc" not in env.camera().clients.values(), 15,
                         "the failed session ends")


async def test_a_stalled_viewer_does_not_delay_others_and_restarts_at_a_keyframe(
    tmp_path: Path, pair: NetnsPair, busy_camera: RtspServer
) -> None:
    async with webrtc_env(tmp_path, pair, {"cam": (busy_camera.url(),)}) as env:
        cam = env.camera()
        steady = env.client("--duration", "15")
        await env.wait_ready(steady)
        stalled = env.client("--duration", "14")
        await env.wait_ready(stalled)
        sid = next(s for s in cam.clients if cam.clients[s] == "webrtc"
                   and s not in {next(iter(cam.clients))})
        await asyncio.sleep(2.0)  # past the restart rate limit (RESYNC_INTERVAL) of the join
        stop_at = time.time()
        os.kill(stalled.pid, signal.SIGSTOP)  # its receive loop (the whole process) pauses
        await asyncio.sleep(4.0)
        os.kill(stalled.pid, signal.SIGCONT)
        resumed_at = time.time()
        await asyncio.sleep(1.0)
        info = await session_info(env, f"/cam/whep/{sid}")
        steady_row = (await env.results(steady))[0]
        stalled_row = (await env.results(stalled))[0]
        times = steady_row["times"]
        during = [b - a for a, b in zip(times, times[1:], strict=False)
                  if stop_at <= a <= resumed_at]
        print(f"steady viewer during the stall: {len(during)} frames, max gap "
              f"{max(during) * 1000:.0f} ms; stalled viewer restarts: {info['starts']}")
        assert len(during) >= 4 * 25 * 0.8
        assert max(during) < 1.0  # the stall lasts 4 s; slack for a loaded machine
        restarts = [s for s in info["starts"][1:] if s["reason"] in ("pli", "behind")]
        assert restarts and all(s["keyframe"] for s in restarts)
        after = [i for i, t in enumerate(stalled_row["times"]) if t > resumed_at + 0.5]
        assert len(after) > 50  # it plays again


async def test_a_vanished_viewer_is_cleaned_up(
    tmp_path: Path, pair: NetnsPair, camera: RtspServer
) -> None:
    async with webrtc_env(tmp_path, pair, {"cam": (camera.url(),)}) as env:
        cam = env.camera()
        base_subs = len(cam.hub.subscribers)
        proc = env.client("--duration", "30")
        await env.wait_ready(proc)
        assert len(cam.hub.subscribers) == base_subs + 1 and len(cam.clients) == 1
        proc.kill()  # no DELETE, no RTCP BYE, no ICE close
        proc.communicate()
        took = await wait_until(lambda: not cam.clients, RTCP_TIMEOUT + 8, "session cleanup")
        print(f"vanished viewer cleaned up after {took:.1f} s")
        assert len(cam.hub.subscribers) == base_subs


async def test_a_session_outlives_a_camera_outage_longer_than_the_silence_timeout(
    tmp_path: Path, pair: NetnsPair, camera: RtspServer
) -> None:
    async with webrtc_env(tmp_path, pair, {"cam": (camera.url(),)}) as env:
        cam = env.camera()
        proc = env.client("--duration", "45")
        await env.wait_ready(proc)
        sid = next(iter(cam.clients))
        camera.stop()
        down_at = time.time()
        await asyncio.sleep(RTCP_TIMEOUT + 3)  # no media, so the viewer reports nothing
        assert sid in cam.clients
        camera.start()
        keyframes = cam.hub.stats.keyframes
        await wait_until(lambda: cam.hub.stats.keyframes > keyframes, 30, "camera back")
        back_at = time.time()
        await asyncio.sleep(4)
        assert sid in cam.clients
        proc.terminate()
        row = (await env.results(proc))[0]
        after = [t for t in row["times"] if t > back_at]
        print(f"outage {back_at - down_at:.1f} s; {len(after)} frames after the camera returned")
        assert len(after) > 50  # ~4 s at 25 fps: the same session plays the new camera run


async def test_h265_camera_uses_its_h264_substream_or_gets_a_clear_422(
    tmp_path: Path, pair: NetnsPair
) -> None:
    h265 = ("( videotestsrc is-live=true ! video/x-raw,width=320,height=180,framerate=25/1 ! "
            "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=50 bitrate=300 ! "
            "video/x-h265,profile=main ! rtph265pay name=pay0 pt=96 config-interval=1 )")
    srv = RtspServer("--launch", h265, "--mount2", "/stream2", "--size2", "320x180").start()
    try:
        streams = {"only265": (srv.url("/stream1"),),
                   "withsub": (srv.url("/stream1"), srv.url("/stream2"))}
        async with webrtc_env(tmp_path, pair, streams) as env:
            assert env.camera("only265").hub.info.video.codec == "hevc"  # type: ignore[union-attr]
            offer = _offer_for_tests()
            status, _, body = await asyncio.to_thread(http, env, "POST", "/only265/whep", offer)
            assert status == 422, body
            assert "H265" in body["message"] or "HEVC" in body["message"]
            assert "substream" in body["message"] and "codec" in body["errors"]
            proc = env.client("--duration", "3", name="withsub")
            await env.wait_ready(proc)
            row = (await env.results(proc))[0]
            assert row["status"] == 201 and row["frames"] > 30 and row["first_key"]
    finally:
        srv.stop()


async def test_pcma_audio_passes_through_with_the_video(
    tmp_path: Path, pair: NetnsPair
) -> None:
    launch = ("( videotestsrc is-live=true ! video/x-raw,width=320,height=180,framerate=25/1 ! "
              "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=50 bitrate=300 "
              "threads=1 ! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 "
              "pt=96 config-interval=1 audiotestsrc is-live=true wave=sine ! "
              "audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay1 pt=8 )")
    srv = RtspServer("--launch", launch).start()
    try:
        async with webrtc_env(tmp_path, pair, {"cam": (srv.url(),)}) as env:
            info = env.camera().hub.info
            assert info is not None and [t.codec for t in info.tracks] == ["h264", "pcm_alaw"]
            proc = env.client("--duration", "4")
            await env.wait_ready(proc)
            row = (await env.results(proc))[0]
            print(f"audio: {row.get('audio_frames')} PCMA frames, video {row['frames']} frames")
            # audiotestsrc sends 1024-sample (128 ms) packets: ~8 a second
            assert row["frames"] > 50 and row.get("audio_frames", 0) > 15
    finally:
        srv.stop()


async def test_whep_protocol_details(tmp_path: Path, pair: NetnsPair) -> None:
    synth = "synthetic://?size=320x180&fps=25&gop=50&bitrate=300k"
    async with webrtc_env(tmp_path, pair, {"cam": (synth,)}) as env:
        offer = _offer_for_tests()
        status, _, body = await asyncio.to_thread(http, env, "POST", "/nope/whep", offer)
        assert status == 404 and set(body) == {"message", "errors"}
        anonymous = WebRtcEnv(env.pair, env.gw, env.base, token="")
        status, _, _ = await asyncio.to_thread(http, anonymous, "POST", "/cam/whep", offer)
        assert status == 401  # media routes need credentials like every other route
        status, _, body = await asyncio.to_thread(http, env, "POST", "/cam/whep", offer,
                                                  "text/plain")
        assert status == 415
        vp8 = offer.replace("H264/90000", "VP9/90000")
        status, _, body = await asyncio.to_thread(http, env, "POST", "/cam/whep", vp8)
        assert status == 422 and "H.264" in body["message"]
        status, headers, _ = await asyncio.to_thread(http, env, "OPTIONS", "/cam/whep")
        assert status == 204 and headers["Accept-Post"] == "application/sdp"
        status, headers, answer = await asyncio.to_thread(http, env, "POST", "/cam/whep", offer)
        assert status == 201 and answer.startswith("v=0")
        assert headers["Content-Type"].startswith("application/sdp")
        location, etag = headers["Location"], headers["ETag"]
        assert location.startswith("/cam/whep/") and etag.startswith('"')
        assert "a=candidate:" in answer and pair.gw_ip in answer
        status, headers, _ = await asyncio.to_thread(http, env, "PATCH", location, "a=x",
                                                     "application/trickle-ice-sdpfrag")
        assert status == 405 and "DELETE" in headers["Allow"]
        assert len(env.camera().clients) == 1
        status, _, _ = await asyncio.to_thread(http, env, "DELETE", location)
        assert status == 200 and env.camera().clients == {}
        status, _, _ = await asyncio.to_thread(http, env, "DELETE", location)
        assert status == 404


def _offer_for_tests() -> str:
    """A browser-like recvonly offer (ICE credentials and fingerprint are placeholders)."""
    return "\r\n".join([
        "v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0",
        "a=msid-semantic: WMS", "m=video 9 UDP/TLS/RTP/SAVPF 102 103", "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0", "a=ice-ufrag:abcd", "a=ice-pwd:abcdefghijklmnopqrstuvwx",
        "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=setup:actpass", "a=mid:0",
        "a=recvonly", "a=rtcp-mux", "a=rtpmap:102 H264/90000", "a=rtcp-fb:102 nack pli",
        "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        "a=rtpmap:103 rtx/90000", "a=fmtp:103 apt=102",
    ]) + "\r\n"
