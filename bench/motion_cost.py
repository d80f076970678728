"""Motion cost: detector ms/frame at 640x360, and decode+detect CPU per camera at 5 fps.

    .venv/bin/python -m bench.motion_cost [--seconds 12]

1. Detector: luma planes of a generated scene (a car and a person crossing, sensor noise,
   H.264 at 600 kbit/s), decoded once, then fed to ``Detector.process`` at 5 fps; mean and
   p99 wall ms per call.  Frigate's figure (0.55 ms/frame at 640x360 on a 2-core x86 VM) is
   quoted from the issue, not measured here (it needs OpenCV).
2. Per camera: the motion sink's worker (``MotionWorker.process``: decode with one
   thread, sample at 5 fps, detect, track episodes) over the packets of a clip, timed by
   the worker thread's CPU clock; CPU seconds per second of video = share of one core.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from bench.motion_scenes import Mover, SceneSpec, decode_luma, encode
from gateway.media.packet import Packet, StreamInfo, TrackInfo
from gateway.motion.detector import Detector, DetectorSettings
from gateway.motion.zones import MotionSettings
from gateway.sinks.motion import MotionStats, MotionWorker, luma


def scene(seconds: float) -> SceneSpec:
    return SceneSpec("cost", "objects", seconds,
                     [Mover(1, seconds * 0.6, (140, 60), 0.7, 80),
                      Mover(seconds * 0.4, seconds, (10, 26), 0.5, 60)], seed=11)  # fmt: skip


def detector_cost(clip: Path, fps: int) -> dict[str, float]:
    """Wall and thread-CPU ms per call (CPU time leaves out preemption by other processes
    on a shared machine; both are reported)."""
    planes = [luma(fr).copy() for i, fr in decode_luma(clip) if i % (fps // 5) == 0]
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(5):
        det = Detector(DetectorSettings())
        for y in planes:
            c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
            det.process(y)
            wall.append((time.perf_counter_ns() - t0) / 1e6)
            cpu.append((time.thread_time_ns() - c0) / 1e6)
    w = np.array(wall[len(planes) :])  # the first round warms caches up
    c = np.array(cpu[len(planes) :])
    return {"n": float(len(w)), "mean": float(w.mean()), "p50": float(np.median(w)),
            "p99": float(np.percentile(w, 99)), "cpu_mean": float(c.mean()),
            "cpu_p99": float(np.percentile(c, 99))}  # fmt: skip


def packets(clip: Path, fps: int, w: int, h: int) -> list[Packet]:
    info = StreamInfo((TrackInfo(0, "video", "h264", Fraction(1, fps), w, h),))
    dec = av.CodecContext.create("h264", "r")
    out: list[Packet] = []
    for i, p in enumerate(dec.parse(clip.read_bytes())):
        out.append(Packet(info, 0, bytes(p), i, i, 1, bool(p.is_keyframe), 1e9 + i / fps, 0.0))
    return out


def worker_cpu(pkts: list[Packet], fps: int, decode: str, previews: Path) -> tuple[float, int]:
    settings = MotionSettings(decode=decode)
    stats = MotionStats()
    worker = MotionWorker("bench", settings, Detector(DetectorSettings()), previews, stats)
    batch = max(1, fps // 5)  # the sink hands over what arrived meanwhile
    cpu = 0.0
    for k in range(0, len(pkts), batch):
        now = time.monotonic()
        items = [Packet(p.info, p.track, p.data, p.pts, p.dts, p.duration, p.keyframe, p.time,
                        now) for p in pkts[k : k + batch]]  # fmt: skip
        t0 = time.thread_time()
        worker.process(items)
        cpu += time.thread_time() - t0
    seconds = len(pkts) / fps
    return cpu / seconds * 100, stats.frames_examined


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=12.0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="motion-cost-"))
    spec = scene(args.seconds)
    cases = [("640x360", 640, 360, 5, 300_000), ("640x360", 640, 360, 15, 600_000),  # fmt: skip
             ("640x360", 640, 360, 25, 800_000), ("1920x1080", 1920, 1080, 25, 4_000_000)]
    clips = {}
    for label, w, h, fps, rate in cases:
        path = work / f"{label}-{fps}.h264"
        encode(spec, path, width=w, height=h, fps=fps, bitrate=rate, gop=2 * fps)
        clips[(label, fps)] = (path, w, h)
    quiet = work / "quiet.h264"
    encode(SceneSpec("quiet", "empty", args.seconds, [], noise=4.0, seed=12), quiet,
           fps=25, bitrate=800_000)  # fmt: skip
    for label, clip in (("busy (a car crossing most of the time)", clips[("640x360", 25)][0]),
                        ("quiet (noise only)", quiet)):  # fmt: skip
        d = detector_cost(clip, 25)
        print(f"detector at 640x360, {label}, {d['n']:.0f} frames: wall mean {d['mean']:.3f}"
              f" ms, p50 {d['p50']:.3f}, p99 {d['p99']:.3f}; thread CPU mean"
              f" {d['cpu_mean']:.3f} ms, p99 {d['cpu_p99']:.3f}")  # fmt: skip
    print("  (goal <= 0.4 ms mean; Frigate 0.55 ms: quoted from the issue, not measured here)")
    print("decode+detect per camera, detect at 5 fps, one decoder thread (% of one core):")
    for (label, fps), (path, w, h) in clips.items():
        pkts = packets(path, fps, w, h)
        modes = ["all", "keyframes"] if label == "1920x1080" else ["all"]
        for mode in modes:
            pct, examined = worker_cpu(pkts, fps, mode, work / "previews")
            print(f"  {label} @ {fps} fps, decode {mode:9s}: {pct:5.2f}% of a core"
                  f" ({examined} frames examined in {len(pkts) / fps:.0f} s)")


if __name__ == "__main__":
    main()
