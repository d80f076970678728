"""CPU of camgate ingest+record per 1080p25 ~4 Mbit/s H.264 stream, versus ffmpeg -c copy.

    .venv/bin/python bench/ingest.py [--streams 1,4,16] [--seconds 30]

A clip is encoded once (PyAV libx264, Annex-B, cached in $TMPDIR/camgate-bench), then
served by the real RTSP server from the file, without live encoding, so the encoder does
not compete for the cores.  For each stream count N the same URL is opened N times by

* ``camgate run`` (N cameras, recording fMP4 segments, motion off: ingest+record only), and
* N × ``ffmpeg -rtsp_transport tcp -i URL -c copy -f hls`` (the peer),

one after the other in the same run; the figure is process CPU time (utime+stime from
/proc) over the measuring window, as % of one core.  It also prints camgate's peak RSS
(VmHWM).  Prints one line per N and the ratio camgate/ffmpeg.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.peers.procs import Daemon, RtspServer  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
CACHE = Path(tempfile.gettempdir()) / "camgate-bench"


def encode_clip(path: Path, seconds: int = 12, bitrate: int = 4_000_000) -> None:
    """1080p25 H.264 at ~4 Mbit/s CBR, GOP 2 s, no B-frames (what IP cameras send)."""
    import av
    import numpy as np

    from gateway.sources.scene import Scene

    w, h, fps = 1920, 1080, 25
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
    enc.time_base = Fraction(1, fps)
    enc.framerate = Fraction(fps, 1)
    enc.bit_rate = bitrate
    enc.gop_size = 2 * fps
    enc.options = {
        "preset": "ultrafast",
        "bf": "0",
        "x264-params": (
            f"keyint={2 * fps}:min-keyint={2 * fps}:scenecut=0:repeat-headers=1:"
            f"vbv-maxrate={bitrate // 1000}:vbv-bufsize={bitrate // 1000}:nal-hrd=cbr"
        ),
    }
    scene = Scene(w, h)
    rng = np.random.default_rng(1)
    chroma = np.full((h // 2, w), 128, np.uint8)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        for i in range(seconds * fps):
            y = scene.render(1_700_000_000 + i / fps)
            noise = rng.integers(0, 12, size=(h, w), dtype=np.uint8)  # sensor noise
            frame = av.VideoFrame.from_ndarray(np.vstack((y + noise, chroma)), format="yuv420p")
            frame.pts = i
            for p in enc.encode(frame):
                f.write(bytes(p))
        for p in enc.encode(None):
            f.write(bytes(p))
    tmp.rename(path)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def vm_hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure(pids: list[int], warmup: float, seconds: float) -> float:
    """% of one core used by ``pids`` together over ``seconds`` after ``warmup``."""
    time.sleep(warmup)
    c0 = sum(cpu_seconds(p) for p in pids)
    t0 = time.monotonic()
    time.sleep(seconds)
    c1 = sum(cpu_seconds(p) for p in pids)
    return (c1 - c0) / (time.monotonic() - t0) * 100


def run_camgate(url: str, n: int, work: Path, warmup: float, seconds: float
                ) -> tuple[float, float, int]:
    data = work / f"camgate-{n}"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    streams = "".join(
        f'[[streams]]\nname = "cam{i}"\ninputs = ["{url}"]\n'
        "vision = { motion = { enabled = false } }\n"
        for i in range(n)
    )
    d = Daemon(data, f'[storage]\nstorage_limit = "50GB"\nreserve = 1\n{streams}')
    d.start(timeout=60)
    assert d.proc is not None
    try:
        cpu = measure([d.proc.pid], warmup, seconds)
        rss = vm_hwm_mb(d.proc.pid)
    finally:
        d.terminate(timeout=20)
    conn = sqlite3.connect(data / "camgate.db")
    segs = int(conn.execute("SELECT COUNT(*) FROM segments").fetchone()[0])
    conn.close()
    shutil.rmtree(data, ignore_errors=True)
    return cpu, rss, segs


def run_ffmpeg(url: str, n: int, work: Path, warmup: float, seconds: float) -> float:
    out = work / f"ffmpeg-{n}"
    shutil.rmtree(out, ignore_errors=True)
    procs = []
    for i in range(n):
        d = out / str(i)
        d.mkdir(parents=True)
        procs.append(subprocess.Popen(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url,
             "-c", "copy", "-f", "hls", "-hls_time", "2", "-hls_list_size", "5",
             "-hls_flags", "delete_segments", str(d / "index.m3u8")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
    try:
        cpu = measure([p.pid for p in procs], warmup, seconds)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
    shutil.rmtree(out, ignore_errors=True)
    return cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--streams", default="1,4,16")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    args = ap.parse_args()
    CACHE.mkdir(exist_ok=True)
    clip = CACHE / "clip-1080p25-4M.h264"
    if not clip.exists():
        t = time.monotonic()
        encode_clip(clip)
        print(f"encoded {clip} in {time.monotonic() - t:.0f}s", flush=True)
    kbps = clip.stat().st_size * 8 / 12 / 1000
    print(f"clip: 1920x1080 25 fps H.264, {kbps:.0f} kbit/s, GOP 50, served from file")
    srv = RtspServer("--file", str(clip), "--fps", "25").start()
    work = Path(tempfile.mkdtemp(prefix="camgate-ingest-"))
    print(f"{'streams':>7} {'camgate %core':>14} {'per stream':>11} {'ffmpeg %core':>13} "
          f"{'per stream':>11} {'ratio':>6} {'camgate RSS MB':>15} {'camgate segments':>17}")
    try:
        for n in (int(x) for x in args.streams.split(",")):
            secs = args.seconds if n < 16 else max(10.0, args.seconds / 2)
            c_cpu, rss, c_segs = run_camgate(srv.url(), n, work, args.warmup, secs)
            f_cpu = run_ffmpeg(srv.url(), n, work, args.warmup, secs)
            print(f"{n:>7} {c_cpu:>14.1f} {c_cpu / n:>11.2f} {f_cpu:>13.1f} {f_cpu / n:>11.2f} "
                  f"{c_cpu / f_cpu:>6.2f} {rss:>15.1f} {c_segs:>17}", flush=True)
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
