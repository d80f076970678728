"""Peak RSS (VmHWM) of ``camgate run``: idle, and with 4 cameras recording 1080p25 4 Mbit/s.

    .venv/bin/python bench/rss.py [--cameras 4] [--seconds 40]

Uses the clip and file-fed RTSP server of bench/ingest.py (motion off, as in ingest), and
repeats the 4-camera run with MALLOC_ARENA_MAX=2 to show how much is glibc arenas.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import CACHE, encode_clip, vm_hwm_mb  # noqa: E402
from tests.peers.procs import Daemon, RtspServer  # noqa: E402


def peak(url: str | None, n: int, seconds: float, env: dict[str, str]) -> float:
    work = Path(tempfile.mkdtemp(prefix="camgate-rss-"))
    try:
        streams = "".join(
            f'[[streams]]\nname = "cam{i}"\ninputs = ["{url}"]\n'
            "vision = { motion = { enabled = false } }\n"
            for i in range(n)
        )
        d = Daemon(work / "data", f"[storage]\nreserve = 1\n{streams}", env=env)
        d.start(timeout=60)
        assert d.proc is not None
        time.sleep(seconds)
        mb = vm_hwm_mb(d.proc.pid)
        d.terminate(timeout=20)
        return mb
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=40.0)
    args = ap.parse_args()
    CACHE.mkdir(exist_ok=True)
    clip = CACHE / "clip-1080p25-4M.h264"
    if not clip.exists():
        encode_clip(clip)
    srv = RtspServer("--file", str(clip), "--fps", "25").start()
    try:
        idle = peak(None, 0, 5, {})
        print(f"idle (no cameras):                      peak RSS {idle:6.1f} MB")
        full = peak(srv.url(), args.cameras, args.seconds, {})
        print(f"{args.cameras} cameras 1080p25 4 Mbit/s, {args.seconds:.0f} s:         "
              f"peak RSS {full:6.1f} MB ({(full - idle) / args.cameras:.1f} MB per camera)")
        arenas = peak(srv.url(), args.cameras, args.seconds, {"MALLOC_ARENA_MAX": "2"})
        print(f"same with MALLOC_ARENA_MAX=2:            peak RSS {arenas:6.1f} MB "
              f"({(arenas - idle) / args.cameras:.1f} MB per camera)")
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
