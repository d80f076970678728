"""camgate CPU per WebRTC viewer, and the delay camgate adds to each packet.

    sudo .venv/bin/python -m bench.webrtc_cpu [--viewers 1,4,8,16] [--window 10]

One 1080p25 ~4 Mbit/s H.264 camera (a pre-encoded clip replayed by the RTSP server); N
aiortc viewers in another network namespace that receive and reassemble every frame but
do not decode (their CPU is not camgate's).  camgate runs in this process; its CPU is
this process's user+system time over a window with N viewers playing, minus nothing: the
0-viewer row is the ingest + recorder baseline.  The per-viewer figure is the slope
between the smallest and largest N.  Delay: for every live frame, hub arrival (the
RTSP reader has the packet) → its last RTP packet handed to SRTP/UDP, from the sessions'
own counters.  Anchor: MediaMTX spends 1.5-2 % of a core per viewer.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

from bench.webrtc_setup import camera, make_clip, pct
from gateway.sinks.webrtc_session import Session
from tests.webrtc_env import WebRtcEnv, netns_pair, webrtc_env


def cpu_seconds() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


async def measure(args: argparse.Namespace) -> None:
    counts = [int(x) for x in args.viewers.split(",")]
    work = Path(tempfile.mkdtemp(prefix="webrtc-bench-"))
    clip = make_clip(Path(args.clip) if args.clip else work / "clip1080.h264")
    with netns_pair(args.netns) as pair:
        srv = camera(clip)
        try:
            async with webrtc_env(work / "data", pair, {"cam": (srv.url("/stream1"),)}) as env:
                await asyncio.sleep(3)  # ingest and recorder settle
                rows: list[tuple[int, float]] = []
                delays: list[float] = []
                for n in [0, *counts]:
                    proc = None
                    if n:
                        proc = env.client("--viewers", str(n), "--duration", "600",
                                          "--no-decode")
                        await env.wait_ready(proc, within=60)
                        await asyncio.sleep(2)  # past the GOP catch-up
                        for s in _sessions(env):
                            s.feed.stats.delays.clear()
                    (u0, s0), t0 = cpu_seconds(), time.monotonic()
                    await asyncio.sleep(args.window)
                    (u1, s1), dt = cpu_seconds(), time.monotonic() - t0
                    cpu = (u1 - u0 + s1 - s0) / dt * 100
                    split = f"(user {(u1 - u0) / dt * 100:.1f}, sys {(s1 - s0) / dt * 100:.1f})"
                    if n:
                        for s in _sessions(env):
                            delays.extend(s.feed.stats.delays)
                        frames = [s.feed.stats.frames for s in _sessions(env)]
                        if len(frames) != n:
                            print(f"  !! only {len(frames)} of {n} sessions lived through the"
                                  " window", flush=True)
                        assert proc is not None
                        proc.terminate()
                        got = await env.results(proc)
                        recv = sum(r["frames"] for r in got)
                        print(f"  {n:2d} viewers: camgate {cpu:5.1f} % of a core {split}; sent"
                              f" {sum(frames)} frames, received {recv}", flush=True)
                        await asyncio.sleep(2)
                    else:
                        print(f"   0 viewers: camgate {cpu:5.1f} % of a core {split} (ingest"
                              " + recorder)", flush=True)
                    rows.append((n, cpu))
        finally:
            srv.stop()
    lo, hi = rows[1], rows[-1]
    per = (hi[1] - lo[1]) / (hi[0] - lo[0]) if hi[0] != lo[0] else float("nan")
    print(f"per extra viewer ({lo[0]}→{hi[0]}): {per:.2f} % of a core"
          f"  (MediaMTX 1.5-2 %: ratio {per / 1.75:.2f}; goal <= 1 %)")
    ms = [d * 1000 for d in delays] or [float("nan")]
    print(f"added delay, hub arrival → SRTP, {len(ms)} live frames: p50 {pct(ms, 0.5):.2f} ms,"
          f" p99 {pct(ms, 0.99):.2f} ms, max {max(ms):.1f} ms (goal p99 <= 20 ms)")


def _sessions(env: WebRtcEnv) -> list[Session]:
    """The gateway's live WebRTC sessions."""
    assert env.gw.deps is not None
    reg = env.gw.deps.webrtc
    return list(reg.by_id.values()) if reg is not None else []


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--viewers", default="1,4,8,16")
    ap.add_argument("--window", type=float, default=10.0)
    ap.add_argument("--clip", help="reuse an Annex-B clip instead of encoding one")
    ap.add_argument("--netns", type=int, default=None)
    asyncio.run(measure(ap.parse_args()))


if __name__ == "__main__":
    main()
