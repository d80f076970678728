"""HLS time-to-first-frame and glass-to-glass latency in headless Chromium with hls.js:
camgate's live HLS beside ``ffmpeg -c copy -f hls`` served as static files, same camera.

    .venv/bin/python -m bench.hls_latency [--runs 5] [--seconds 12]

Prints per-run figures and medians.  TTFF: from ``hls.loadSource`` to the first video
frame presented (requestVideoFrameCallback).  Latency: page wall clock minus the time
drawn into the displayed frame (barcode read from a canvas grab), sampled every 250 ms.
Both players use hls.js defaults (camgate's playlist carries its own HOLD-BACK).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Route, sync_playwright

from bench.hls_rig import CHROMIUM_ARGS, HLS_JS, BarcodeCamera, page
from tests.peers.auth import login
from tests.peers.procs import Daemon, free_port


def _quiet_handler(directory: str) -> type[http.server.SimpleHTTPRequestHandler]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=directory, **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

        def end_headers(self) -> None:
            self.send_header("Cache-Control", "no-cache")
            super().end_headers()

    return Handler


def measure(browser: object, origin: str, src: str, seconds: float) -> dict[str, object]:
    ctx = browser.new_context()  # type: ignore[attr-defined]
    pg = ctx.new_page()

    def route(r: Route) -> None:
        if r.request.url.endswith("hls.min.js"):
            r.fulfill(path=str(HLS_JS), content_type="application/javascript")
        else:
            r.fulfill(body=page(src).replace("__BENCH__", "/__bench"), content_type="text/html")

    pg.route("**/__bench/**", route)
    pg.goto(f"{origin}/__bench/page.html")
    deadline = time.monotonic() + 30
    while pg.evaluate("window.result.ttff") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(seconds)
    res = dict(pg.evaluate("window.result"))
    ctx.close()
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--bitrate", type=int, default=4_000_000)
    ap.add_argument("--segment", type=float, default=2.0,
                    help="camgate storage.segment_duration and ffmpeg -hls_time (s)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hls-bench-"))
    cam = BarcodeCamera(args.size, bitrate=args.bitrate).start()
    daemon = Daemon(
        tmp / "data",
        f"[storage]\nsegment_duration = {args.segment}\n"
        f'[[streams]]\nname = "cam"\ninputs = [{{ url = "{cam.url()}" }}]\n',
    )
    ff_dir = tmp / "ffmpeg"
    ff_dir.mkdir()
    ff = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", cam.url(), "-c", "copy",
         "-f", "hls", "-hls_time", f"{args.segment:g}", "-hls_list_size", "6",
         "-hls_segment_type", "fmp4",
         "-hls_flags", "delete_segments+independent_segments", str(ff_dir / "index.m3u8")],
        stdin=subprocess.DEVNULL,
    )
    ff_port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", ff_port), _quiet_handler(str(ff_dir)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        daemon.start()
        token = login(daemon.base, daemon.data)
        req = urllib.request.Request(f"{daemon.base}/api/v1/media-token?stream=cam&ttl=3600",
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req) as r:
            media = json.load(r)["token"]
        time.sleep(10)  # a full live window on both sides
        targets = {
            "camgate": (daemon.base, f"/cam/index.m3u8?token={media}"),
            "camgate-ll": (daemon.base, f"/cam/ll/index.m3u8?token={media}"),
            "ffmpeg": (f"http://127.0.0.1:{ff_port}", "/index.m3u8"),
        }
        results: dict[str, list[dict[str, object]]] = {k: [] for k in targets}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                        args=CHROMIUM_ARGS)
            for i in range(args.runs):
                for name, (origin, src) in targets.items():
                    res = measure(browser, origin, src, args.seconds)
                    lat = [float(x) for x in res["lat"]]  # type: ignore[union-attr]
                    res["lat_median"] = statistics.median(lat) if lat else None
                    results[name].append(res)
                    print([round(x, 2) for x in lat][::4])
                    print(f"run {i + 1} {name:10s} ttff={res['ttff']} "
                          f"latency median={res['lat_median']} samples={len(lat)} "
                          f"errors={res['errors']}", flush=True)
            browser.close()
        print(f"\n{args.size} 25 fps, 1 s GOP, {args.bitrate / 1e6:g} Mbit/s, "
              f"{args.segment:g} s segments; {args.runs} runs x {args.seconds:g} s")
        summary: dict[str, tuple[float, float]] = {}
        for name, runs in results.items():
            ttff = statistics.median(float(r["ttff"]) for r in runs if r["ttff"] is not None)  # type: ignore[arg-type]
            lat = statistics.median(float(r["lat_median"]) for r in runs  # type: ignore[arg-type]
                                    if r["lat_median"] is not None)
            summary[name] = (ttff, lat)
            print(f"{name:10s} TTFF median {ttff:.2f} s   glass-to-glass median {lat:.2f} s")
        b = summary["ffmpeg"]
        for name in ("camgate", "camgate-ll"):
            a = summary[name]
            print(f"{name}/ffmpeg: TTFF x{a[0] / b[0]:.2f}, latency x{a[1] / b[1]:.2f}")
    finally:
        server.shutdown()
        ff.terminate()
        ff.wait(10)
        if daemon.proc is not None:
            daemon.terminate()
        cam.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    functools.partial(main)()
