"""Time to first frame of a WebRTC viewer, GOP cache on and off, aiortc and Chromium.

    sudo .venv/bin/python -m bench.webrtc_ttff [--joins 50] [--gap-max 2.0]

One 1080p25 ~4 Mbit/s camera with a 2 s GOP (a pre-encoded clip replayed by the RTSP
server).  Each viewer joins at a random moment (a uniform 0..2 s pause before each join,
so joins land anywhere in the GOP), waits for its first frame, and leaves (DELETE).
aiortc: from the POST of the offer to the first *decoded* frame.  Chromium (Debian's,
headless, via the status page's camgate.whep): from createOffer to the first frame shown
(requestVideoFrameCallback).  Both include the HTTP exchange, ICE and DTLS.  Anchors:
go2rtc and MediaMTX wait for the camera's next keyframe (the "cache off" column).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from bench.webrtc_setup import camera, make_clip, pct
from gateway.config import WebRtcConfig
from tests.webrtc_env import netns_pair, webrtc_env


async def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="webrtc-ttff-"))
    clip = make_clip(Path(args.clip) if args.clip else work / "clip1080.h264")
    table: dict[tuple[str, bool], list[float]] = {}
    errors: dict[tuple[str, bool], int] = {}
    with netns_pair(args.netns) as pair:
        srv = camera(clip)
        try:
            for cache in (True, False):
                data = work / f"data-{int(cache)}"
                async with webrtc_env(data, pair, {"cam": (srv.url("/stream1"),)},
                                      WebRtcConfig(gop_cache=cache)) as env:
                    await asyncio.sleep(2)
                    proc = env.client("--joins", str(args.joins), "--gap-max",
                                      str(args.gap_max))
                    out, _ = await asyncio.to_thread(proc.communicate)
                    rows = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
                    table[("aiortc", cache)] = [r["ttff"] * 1000 for r in rows if r["ttff"]]
                    errors[("aiortc", cache)] = sum(1 for r in rows if not r["ttff"])
                    if not args.no_chromium:
                        res = await env.browser("--mode", "joins", "--count", str(args.joins),
                                                "--gap-max", str(args.gap_max), within=900)
                        joins = res["joins"]
                        table[("chromium", cache)] = [j["ttff"] for j in joins if "ttff" in j]
                        errors[("chromium", cache)] = sum(1 for j in joins if "ttff" not in j)
                    for key in table:
                        if key[1] == cache:
                            _row(key, table[key], errors[key])
        finally:
            srv.stop()
    print("\nclient    GOP cache   joins   p50 ms   p95 ms   max ms   failed")
    for key, ms in table.items():
        _row(key, ms, errors[key])


def _row(key: tuple[str, bool], ms: list[float], failed: int) -> None:
    client, cache = key
    print(f"{client:9s} {'on' if cache else 'off':9s} {len(ms):7d} {pct(ms, 0.5):8.0f}"
          f" {pct(ms, 0.95):8.0f} {max(ms or [float('nan')]):8.0f} {failed:8d}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--joins", type=int, default=50)
    ap.add_argument("--gap-max", type=float, default=2.0)
    ap.add_argument("--clip")
    ap.add_argument("--netns", type=int, default=None)
    ap.add_argument("--no-chromium", action="store_true")
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
