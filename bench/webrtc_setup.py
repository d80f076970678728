"""Shared set-up of the WebRTC benchmarks: a 1080p25 ~4 Mbit/s camera and the namespaces.

The camera is GStreamer's RTSP server replaying a pre-encoded clip (no encoding while the
benchmark runs, so the encoder does not compete for the CPU being measured); the gateway
runs in this process inside the gateway namespace, viewers in the viewer namespace.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.peers.procs import RtspServer


def make_clip(path: Path, *, size: str = "1920x1080", fps: int = 25, gop: int = 50,
              bitrate: str = "4M", seconds: int = 20) -> Path:
    """An Annex-B H.264 clip (High profile, no B-frames, fixed GOP) like an IP camera's."""
    if path.exists():
        return path
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"testsrc2=size={size}:rate={fps}", "-t", str(seconds), "-c:v", "libx264",
         "-preset", "veryfast", "-bf", "0", "-b:v", bitrate, "-maxrate", bitrate,
         "-bufsize", bitrate, "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
         "-pix_fmt", "yuv420p", "-bsf:v", "h264_mp4toannexb", "-f", "h264", str(path)],
        check=True, timeout=600,
    )
    return path


def camera(clip: Path, fps: int = 25) -> RtspServer:
    """Start inside the current thread's namespace (the gateway's)."""
    return RtspServer("--file", str(clip), "--fps", str(fps)).start()


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")
