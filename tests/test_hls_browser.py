"""hls.js in headless Chromium plays camgate's live HLS and its LL-HLS (partial segments),
and ffprobe reads the LL-HLS playlist too."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from playwright.async_api import Route, async_playwright

from bench.hls_rig import CHROMIUM_ARGS, HLS_JS, page
from tests.media_env import gateway_env, probe_url

pytestmark = pytest.mark.timeout(150)

STATE = """(() => { const v = document.getElementById('v');
  const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
  return {t: v.currentTime, frames: q, errors: window.result.errors,
          lat: window.result.lat.slice(-1)[0] ?? null}; })()"""


async def play(base: str, src: str, artifact: Path) -> dict[str, object]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                          args=CHROMIUM_ARGS)
        try:
            pg = await browser.new_page()

            async def route(r: Route) -> None:
                if r.request.url.endswith("hls.min.js"):
                    await r.fulfill(path=str(HLS_JS), content_type="application/javascript")
                else:
                    await r.fulfill(body=page(src).replace("__BENCH__", "/__bench"),
                                    content_type="text/html")

            await pg.route("**/__bench/**", route)
            await pg.goto(f"{base}/__bench/player.html")
            first: dict[str, object] = {}
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while True:
                state = dict(await pg.evaluate(STATE))
                if not first and float(state["t"]) > 0:  # type: ignore[arg-type]
                    first = state
                if first and float(state["t"]) > float(first["t"]) + 3:  # type: ignore[arg-type]
                    break
                assert loop.time() < deadline, state
                await asyncio.sleep(0.25)
            await pg.screenshot(path=str(artifact))
            return state
        finally:
            await browser.close()


async def test_hlsjs_plays_live_and_low_latency_hls(tmp_path: Path) -> None:
    async with gateway_env(tmp_path / "data") as env:
        token = await env.media_token("cam")
        for path, name in (("index.m3u8", "live"), ("ll/index.m3u8", "ll")):
            state = await play(env.base, f"/cam/{path}?token={token}", tmp_path / f"{name}.png")
            assert int(state["frames"]) > 50, state  # type: ignore[call-overload]
            assert not state["errors"], state
            assert state["lat"] is not None  # the picture shows the camera's barcode
        status, body, _ = await env.get("/cam/ll/index.m3u8")
        text = body.decode()
        assert "#EXT-X-PART-INF:PART-TARGET=" in text and "#EXT-X-PRELOAD-HINT" in text
        assert re.search(r"#EXT-X-PART:DURATION=[\d.]+,URI=\"part-\d+-0\.m4s[^\"]*\","
                         r"INDEPENDENT=YES", text)
        info = await probe_url(
            f"{env.base}/cam/ll/index.m3u8?token={token}", "-read_intervals", "%+2",
            "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags",
        )
        packets = info["packets"]
        assert isinstance(packets, list) and len(packets) > 25
        assert packets[0]["flags"].startswith("K")
