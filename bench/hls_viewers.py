"""Serving N concurrent HLS viewers of one 4 Mbit/s stream: camgate's CPU and RSS.

    .venv/bin/python -m bench.hls_viewers [--viewers 20] [--seconds 60]

The camera is the barcode camera over real RTSP (1280x720, 25 fps, 4 Mbit/s); camgate
runs as ``camgate run``.  First the daemon is measured with no viewer (ingest and
recording only), then with N players that behave like hls.js: blocking playlist reloads
(``_HLS_msn``), init once, every new segment.  CPU is the daemon's user+system time over
the window (% of one core); RSS is sampled every second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.hls_rig import BarcodeCamera
from tests.peers.auth import login
from tests.peers.procs import Daemon

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def recorded_rate(data: Path) -> float:
    conn = sqlite3.connect(f"file:{data / 'camgate.db'}?mode=ro", uri=True)
    try:
        total, first, last = conn.execute(
            "SELECT SUM(bytes), MIN(start_ms), MAX(end_ms) FROM segments"
        ).fetchone()
    finally:
        conn.close()
    return float(total) * 8 / ((last - first) / 1000) / 1e6


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def viewer(session: aiohttp.ClientSession, base: str, n: int, stop: asyncio.Event,
                 stats: dict[str, float]) -> None:
    url = f"{base}/cam/index.m3u8"
    sid = f"bench-{n}"
    have: set[str] = set()
    init_done = False
    msn: int | None = None
    while not stop.is_set():
        q = f"?session={sid}" + (f"&_HLS_msn={msn}" if msn is not None else "")
        async with session.get(url + q) as r:
            text = await r.text()
        seq = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)[1])  # type: ignore[index]
        uris = re.findall(r"^(seg-\S+)$", text, re.M)
        if not init_done:
            init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text)[1]  # type: ignore[index]
            async with session.get(f"{base}/cam/{init}") as r:
                n = len(await r.read())  # (read before adding: viewers run concurrently)
            stats["bytes"] += n
            init_done = True
            have.update(uris[:-1])  # start at the live edge, like a player
        for uri in uris:
            if uri in have:
                continue
            have.add(uri)
            async with session.get(f"{base}/cam/{uri}") as r:
                n = len(await r.read())
            stats["bytes"] += n
            stats["segments"] += 1
        msn = seq + len(re.findall(r"^seg-", text, re.M))


async def window(pid: int, seconds: float) -> tuple[float, float, float]:
    """(CPU % of one core, mean RSS MB, max RSS MB) over ``seconds``."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    rss: list[float] = []
    while time.monotonic() - t0 < seconds:
        await asyncio.sleep(1.0)
        rss.append(rss_mb(pid))
    cpu = (cpu_seconds(pid) - c0) / (time.monotonic() - t0) * 100
    return cpu, sum(rss) / len(rss), max(rss)


async def run(viewers: int, seconds: float, daemon: Daemon, token: str) -> None:
    assert daemon.proc is not None
    pid = daemon.proc.pid
    base_cpu, base_rss, base_max = await window(pid, seconds / 2)
    print(f"0 viewers:  CPU {base_cpu:5.1f}% of a core, RSS mean {base_rss:.0f} MB "
          f"(max {base_max:.0f})", flush=True)
    stop = asyncio.Event()
    stats = {"bytes": 0.0, "segments": 0.0}
    headers = {"Authorization": f"Bearer {token}"}
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(headers=headers, connector=conn) as session:
        tasks = [asyncio.create_task(viewer(session, daemon.base, i, stop, stats))
                 for i in range(viewers)]
        await asyncio.sleep(5)  # everyone is in
        b0, s0, t0 = stats["bytes"], stats["segments"], time.monotonic()
        cpu, rss, rss_max = await window(pid, seconds)
        took = time.monotonic() - t0
        rate = (stats["bytes"] - b0) * 8 / took / 1e6
        served = stats["segments"] - s0
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(f"{viewers} viewers: CPU {cpu:5.1f}% of a core, RSS mean {rss:.0f} MB "
          f"(max {rss_max:.0f}); egress {rate:.1f} Mbit/s "
          f"({rate / viewers:.2f} per viewer), {int(served)} segments served in {took:.0f} s")
    print(f"added by {viewers} viewers: CPU +{cpu - base_cpu:.1f}% of a core "
          f"({(cpu - base_cpu) / viewers:.2f}% per viewer), RSS +{rss - base_rss:.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--viewers", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hls-viewers-"))
    cam = BarcodeCamera("1280x720", bitrate=4_000_000).start()
    daemon = Daemon(
        tmp / "data", f'[[streams]]\nname = "cam"\ninputs = [{{ url = "{cam.url()}" }}]\n'
    )
    try:
        daemon.start()
        token = login(daemon.base, daemon.data)
        time.sleep(8)
        asyncio.run(run(args.viewers, args.seconds, daemon, token))
        print(f"stream as recorded: {recorded_rate(daemon.data):.2f} Mbit/s")
    finally:
        if daemon.proc is not None:
            daemon.terminate()
        cam.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
