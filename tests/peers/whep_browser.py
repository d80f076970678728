"""Headless Chromium as a WHEP viewer, run as a process in the viewer's namespace.

    python -m tests.peers.whep_browser BASE --stream cam [--mode page|joins] [--count N]
        [--gap-max S]

Debian's chromium through python playwright (``executable_path=/usr/bin/chromium``, never
a browser download).  It logs in with the test password (``POST /api/v1/login`` from the
page, which sets the session cookie) and then:

- ``page``: opens the status page, waits until the camera tile plays with the WebRTC player
  and samples ``framesDecoded`` from ``getStats()`` twice, two seconds apart;
- ``joins``: on a blank same-origin page, joins ``--count`` times with ``camgate.whep``
  (gateway/web/static/whep.js), waiting a random 0..gap-max s between joins, and measures
  each join's time to the first shown frame.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import Any

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-features=WebRtcHideLocalIpsWithMdns",  # plain host candidates, no mDNS
]
PASSWORD = "test-password-0123456789"

LOGIN = """async (password) => {
  const r = await fetch('/api/v1/login', {method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({login: 'admin', password})});
  return r.status;
}"""

STATS = """async (name) => {
  const t = window.camgate.tiles[name];
  if (!t.whep) return {player: t.player, frames: null};
  let frames = 0;
  (await t.whep.pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded;
  });
  return {player: t.player, frames};
}"""

BLOCK_WEBRTC = """(() => {
  const Orig = window.RTCPeerConnection;
  window.RTCPeerConnection = function (cfg) {
    return new Orig(Object.assign({}, cfg || {}, {iceTransportPolicy: 'relay'}));
  };
  window.RTCPeerConnection.prototype = Orig.prototype;
})();"""

PLAYBACK = """(name) => {
  const v = window.camgate.tiles[name].video;
  return {time: v.currentTime, frames: v.getVideoPlaybackQuality().totalVideoFrames};
}"""

JOINS = """async ([stream, count, gapMax]) => {
  const out = [];
  for (let i = 0; i < count; i++) {
    await new Promise((r) => setTimeout(r, Math.random() * gapMax * 1000));
    const video = document.createElement('video');
    video.muted = true; video.autoplay = true; video.playsInline = true;
    document.body.appendChild(video);
    const t0 = performance.now();
    try {
      const s = await camgate.whep(video, '/' + stream + '/whep', {timeout: 8000});
      const ttff = performance.now() - t0;
      let frames = 0;
      (await s.pc.getStats()).forEach((x) => {
        if (x.type === 'inbound-rtp' && x.kind === 'video') frames = x.framesDecoded;
      });
      const m = s.marks, rel = (k) => (m[k] === undefined ? null : m[k] - m.start);
      out.push({ttff, frames, offered: rel('offered'), local: rel('local'),
                gathered: rel('gathered'), answered: rel('answered'),
                connected: rel('connected'), frame: rel('frame')});
      s.stop();
    } catch (e) {
      out.push({error: String(e)});
    }
    video.remove();
  }
  return out;
}"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("--stream", default="cam")
    ap.add_argument("--mode", choices=["page", "joins"], default="page")
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--gap-max", type=float, default=2.0)
    ap.add_argument("--block-webrtc", action="store_true",
                    help="relay-only ICE without relays: WebRTC cannot connect (as behind a"
                    " firewall that drops UDP); the page must fall back to HLS")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page()
            if args.block_webrtc:
                page.add_init_script(BLOCK_WEBRTC)
            console: list[str] = []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.goto(args.base + "/healthz")
            result["login"] = page.evaluate(LOGIN, PASSWORD)
            if args.mode == "page":
                page.goto(args.base + "/")
                page.wait_for_function(
                    f"() => window.camgate && camgate.tiles && camgate.tiles['{args.stream}']"
                    " && camgate.tiles['" + args.stream + "'].player !== null", timeout=30_000)
                if args.block_webrtc:
                    page.wait_for_function(
                        "(n) => camgate.tiles[n].player === 'hls' &&"
                        " camgate.tiles[n].video.currentTime > 0.5", arg=args.stream,
                        timeout=60_000)
                    first = page.evaluate(PLAYBACK, args.stream)
                    page.wait_for_timeout(2000)
                    second = page.evaluate(PLAYBACK, args.stream)
                    result.update(player=page.evaluate(STATS, args.stream)["player"],
                                  playback=[first, second])
                    result["console"] = console[-20:]
                    print(json.dumps(result), flush=True)
                    return 0
                first = page.evaluate(STATS, args.stream)
                page.wait_for_timeout(2000)
                second = page.evaluate(STATS, args.stream)
                result.update(player=second["player"], frames=[first["frames"],
                                                                 second["frames"]])
                # one more join on the same page, timed from the offer to the first frame
                joins = page.evaluate(JOINS, [args.stream, 1, 0.0])
                result["ttff_ms"] = joins[0].get("ttff")
                result["join"] = joins[0]
            else:
                page.set_content("<!doctype html><body></body>")
                page.add_script_tag(url=args.base + "/static/player.js")
                page.add_script_tag(url=args.base + "/static/whep.js")
                result["joins"] = page.evaluate(JOINS, [args.stream, args.count, args.gap_max])
            result["console"] = [c for c in console if not c.startswith("debug")][-20:]
        finally:
            browser.close()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
