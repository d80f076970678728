"""Motion false alarms on long nuisance-only footage (no object ever moves).

    .venv/bin/python -m bench.motion_soak [--minutes 2] [--work DIR]

Five generated scenes without any object — lights switched every 20 s, a slow ramp with an
IR day/night switch, swaying foliage, rain, camera-shake bursts every 15 s — each
``--minutes`` long (640x360, 15 fps, H.264 600 kbit/s), replayed offline through the motion
sink's own worker (decode, 5 fps sampling, detector, episode tracker; timestamps from the
frame index).  Every episode is a false alarm.  Offline and camgate-only: the side-by-side
comparison with ``motion`` over RTSP is ``bench.motion``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

from bench.motion_cost import packets
from bench.motion_scenes import BARCODE_ZONE, SceneSpec, encode
from gateway.motion.detector import Detector, DetectorSettings
from gateway.motion.zones import MotionSettings, zones_from_vision
from gateway.sinks.motion import MotionStats, MotionWorker

FPS = 15


def scenes(d: float) -> list[SceneSpec]:
    n = int(d)
    return [
        SceneSpec("switches", "lighting", d,
                  switches=[(t, 0.5 if (t // 20) % 2 else 1.25) for t in range(20, n, 20)],
                  seed=21),
        SceneSpec("ramp_ir", "lighting", d, gain=[(0, 1.2), (d, 0.5)], ir_at=d / 2, seed=22),
        SceneSpec("foliage", "nuisance", d, foliage=True, seed=23),
        SceneSpec("rain", "nuisance", d, rain=150, seed=24),
        SceneSpec("shake", "nuisance", d, shake=[(t, t + 2) for t in range(10, n, 15)],
                  seed=25),
    ]  # fmt: skip


def false_alarms(path: Path, work: Path) -> tuple[list[tuple[float, float]], int]:
    pkts = packets(path, FPS, 640, 360)
    zones = zones_from_vision(
        {"detectors": [{"detector_type": "motion_mask", "region_coordinates": BARCODE_ZONE}]}
    )
    worker = MotionWorker("soak", MotionSettings(), Detector(DetectorSettings(), zones),
                          work / "previews", MotionStats())  # fmt: skip
    eps: list[tuple[float, float]] = []
    for k in range(0, len(pkts), 3):
        now = time.monotonic()
        batch = [p.__class__(p.info, p.track, p.data, p.pts, p.dts, p.duration, p.keyframe,
                             p.time - 1e9, now) for p in pkts[k : k + 3]]  # fmt: skip
        for o in worker.process(batch):
            if o.kind == "close":
                eps.append((o.episode.opened_at, o.closed_at or o.episode.opened_at))
    for o in worker.interrupt("end"):
        eps.append((o.episode.opened_at, o.closed_at or o.episode.opened_at))
    return eps, worker.stats.frames_examined


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--work", default="")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="motion-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    specs = scenes(args.minutes * 60)
    t0 = time.monotonic()
    with multiprocessing.Pool(2) as pool:
        todo = [s for s in specs if not (work / f"{s.name}.h264").exists()]
        pool.starmap(encode, [(s, work / f"{s.name}.h264") for s in todo])
    print(f"encoded {len(specs)} clips in {time.monotonic() - t0:.0f}s ({work})", flush=True)
    total, seconds = 0, 0.0
    for s in specs:
        eps, examined = false_alarms(work / f"{s.name}.h264", work)
        total += len(eps)
        seconds += s.duration
        shown = ", ".join(f"{a:.1f}-{b:.1f}s" for a, b in eps)
        print(f"  {s.name:9s} {s.duration / 60:.0f} min, {examined} frames examined:"
              f" {len(eps)} false alarms {shown}")  # fmt: skip
    print(f"total: {total} false alarms in {seconds / 60:.0f} minutes of nuisance-only"
          f" footage = {total / seconds * 3600:.1f} per hour")  # fmt: skip


if __name__ == "__main__":
    main()
