"""Motion accuracy: camgate vs Debian's ``motion`` on generated scenes with ground truth.

    .venv/bin/python -m bench.motion [--duration 40] [--families car,rain] [--work DIR]

Each scene family is encoded to H.264 (640x360, 15 fps, 600 kbit/s, 2 s GOP) and served,
looped, by GStreamer's RTSP server.  camgate (``camgate run``, default motion settings plus
a mask over the barcode rows and a 3 s quiet period) and ``motion`` (two configurations,
same mask, ``event_gap 3``) read the same mounts.  The first pass of every clip is warm-up;
the second pass is scored.  An episode is a true detection when it overlaps a ground-truth
interval widened by 1 s; any other episode is a false alarm.  Onset delay: from the moment
the object appears to the moment the alarm is visible (camgate: its long-poll answers;
motion: its ``on_event_start`` hook runs), in clip time.  False alarms per hour are scaled
up from the scored minutes (labelled as such).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.motion_peers import EpisodeFeed, MotionDaemon, Tap
from bench.motion_scenes import BARCODE_ZONE, Mover, SceneSpec, encode
from gateway.web.episodes import parse_time
from tests.peers.auth import login
from tests.peers.procs import Daemon, RtspServer

FPS, W, H = 15, 640, 360
QUIET = 3.0
TOL = 1.0


def families(d: float) -> list[SceneSpec]:
    person = (10, 26)
    return [
        SceneSpec("person_far", "objects", d, [Mover(8, 28, (8, 20), 0.55, 45)], seed=1),
        SceneSpec("car", "objects", d, [Mover(6, 9, (140, 60), 0.7, 80),
                                         Mover(26, 28.5, (140, 60), 0.65, 70, -1)], seed=2),
        SceneSpec("cat", "objects", d, [Mover(10, 22, (26, 16), 0.82, 35)], seed=3),
        SceneSpec("light_ramp", "lighting", d, [Mover(14, 28, person, 0.5, 60)],
                  gain=[(0, 1.2), (d, 0.45)], seed=4),
        SceneSpec("light_switch", "lighting", d, [Mover(30, 34, (140, 60), 0.7, 80)],
                  switches=[(8, 0.5), (20, 1.3)], seed=5),
        SceneSpec("ir_switch", "lighting", d, [Mover(24, 36, person, 0.5, 60)], ir_at=15,
                  seed=6),
        SceneSpec("foliage", "nuisance", d, [Mover(15, 30, person, 0.75, 60)], foliage=True,
                  seed=7),
        SceneSpec("rain", "nuisance", d, [Mover(20, 24, (140, 60), 0.7, 80)], rain=150,
                  seed=8),
        SceneSpec("shake", "nuisance", d, [Mover(28, 36, (26, 16), 0.82, 35)],
                  shake=[(6, 8), (18, 20)], seed=9),
        SceneSpec("empty", "empty", d, [], noise=4.0, seed=10),
    ]  # fmt: skip


@dataclass
class Score:
    events: int = 0
    detected: int = 0
    episodes: int = 0
    false_alarms: int = 0
    onsets: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, o: Score) -> None:
        self.events += o.events
        self.detected += o.detected
        self.episodes += o.episodes
        self.false_alarms += o.false_alarms
        self.onsets += o.onsets
        self.seconds += o.seconds

    @property
    def precision(self) -> float:
        return (self.episodes - self.false_alarms) / self.episodes if self.episodes else 1.0

    @property
    def recall(self) -> float:
        return self.detected / self.events if self.events else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def fa_per_hour(self) -> float:
        return self.false_alarms / self.seconds * 3600 if self.seconds else 0.0

    def row(self) -> str:
        onset = f"{statistics.mean(self.onsets):5.2f}" if self.onsets else "  -  "
        return (
            f"P {self.precision:4.2f} R {self.recall:4.2f} F1 {self.f1:4.2f} "
            f"onset {onset}s FA {self.false_alarms:2d} ({self.fa_per_hour:5.0f}/h*)"
        )


def score(spec: SceneSpec, eps: list[tuple[float, float, float]]) -> Score:
    """``eps``: (start, end, alarm) in clip seconds of the scored pass."""
    s = Score(events=len(spec.truth), episodes=len(eps), seconds=spec.duration)
    for a, b, _ in eps:
        if not any(a <= e + TOL and b >= st - TOL for st, e in spec.truth):
            s.false_alarms += 1
    for st, e in spec.truth:
        hits = [al for a, b, al in eps if a <= e + TOL and b >= st - TOL]
        if hits:
            s.detected += 1
            s.onsets.append(max(0.0, min(hits) - st))
    return s


def to_clip(tap: Tap, start: float, end: float, alarm: float, p1: float, p2: float,
            dur: float) -> tuple[float, float, float] | None:  # fmt: skip
    """Wall times → clip seconds of the scored pass (wall ``p1`` to ``p2``), through the
    tap's frame indices (playback on a busy machine can run slower than real time)."""
    if end < p1 or start >= p2:
        return None

    def clip(w: float) -> float:
        if w < p1:
            return w - p1
        if w >= p2:
            return dur + (w - p2)
        return tap.clip_time(w, FPS)

    return (max(0.0, clip(start)), min(dur, clip(end)), clip(alarm))


def camgate_toml(clips: dict[str, str]) -> str:
    zone = ", ".join(f"{{x = {p['x']}, y = {p['y']}}}" for p in BARCODE_ZONE)
    out = '[storage]\nstorage_limit = "2GB"\nreserve = 1\n'
    for name, url in clips.items():
        out += (
            f'[[streams]]\nname = "{name.replace("_", "-")}"\ninputs = [{{url = "{url}"}}]\n'
            f'vision = {{detectors = [{{detector_type = "motion_mask", region_id = "barcode",'
            f" region_coordinates = [{zone}]}}], motion = {{close_after = {QUIET}}}}}\n"
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=40.0)
    ap.add_argument("--families", default="")
    ap.add_argument("--work", default="")
    ap.add_argument("--rescore", action="store_true", help="score the saved run in --work")
    ap.add_argument("--parallel", type=int, default=5, help="clips played at once")
    args = ap.parse_args()
    specs = families(args.duration)
    if args.families:
        specs = [s for s in specs if s.name in args.families.split(",")]
    work = Path(args.work or tempfile.mkdtemp(prefix="motion-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.rescore:
        saved = json.loads((work / "run.json").read_text())
    else:
        t0 = time.monotonic()
        with multiprocessing.Pool(2) as pool:
            todo = [s for s in specs if not (work / f"{s.name}.h264").exists()]  # reuse clips
            pool.starmap(encode, [(s, work / f"{s.name}.h264") for s in todo])
        print(f"encoded {len(specs)} clips in {time.monotonic() - t0:.0f}s ({work})", flush=True)
        saved = {"taps": {}, "eps": {}}
        for k in range(0, len(specs), args.parallel):
            group = specs[k : k + args.parallel]
            taps, eps = run_group(group, work / f"group{k // args.parallel}", work, args.duration)
            saved["taps"].update({n: t.samples for n, t in taps.items()})
            saved["eps"].update(eps)
            print(f"ran {', '.join(s.name for s in group)}", flush=True)
        (work / "run.json").write_text(json.dumps(saved))
    taps = {n: Tap("", [(float(a), int(b)) for a, b in v]) for n, v in saved["taps"].items()}
    report(specs, taps, saved["eps"], args.duration, work)


Eps = dict[str, dict[str, list[tuple[float, float, float]]]]  # clip -> detector -> wall eps


def run_group(specs: list[SceneSpec], gdir: Path, work: Path, dur: float
              ) -> tuple[dict[str, Tap], Eps]:  # fmt: skip
    gdir.mkdir(parents=True, exist_ok=True)
    servers = {s.name: RtspServer("--file", str(work / f"{s.name}.h264"), "--fps", str(FPS))
               for s in specs}  # fmt: skip
    stop = threading.Event()
    cg = Daemon(gdir / "camgate", camgate_toml({n: srv.url() for n, srv in servers.items()}))
    md = MotionDaemon(gdir / "motion", QUIET)
    taps = {n: Tap(srv.url()) for n, srv in servers.items()}
    try:
        for srv in servers.values():
            srv.start()
        for tap in taps.values():
            threading.Thread(target=tap.run, args=(stop,), daemon=True).start()
        time.sleep(1.0)
        cg.data.mkdir(parents=True, exist_ok=True)
        cg.start()
        feed = EpisodeFeed(cg.base, login(cg.base, cg.data))
        threading.Thread(target=feed.run, args=(stop,), daemon=True).start()
        md.configure({n: srv.url() for n, srv in servers.items()}, W, H, FPS)
        md.start()
        time.sleep(2 * dur + QUIET + 3)
        for st in feed.streams_motion():
            print(f"  camgate {st}", flush=True)
    finally:
        stop.set()
        md.stop()
        if cg.proc:
            cg.terminate()
        for srv in servers.values():
            srv.stop()
    out: Eps = {s.name: {} for s in specs}
    for eid, e in feed.episodes.items():
        name = str(e["media"]).replace("-", "_")
        start = parse_time(str(e["opened_at"]))
        end = parse_time(str(e["closed_at"])) if e["closed_at"] else start
        out[name].setdefault("camgate", []).append((start, end, feed.first_seen[eid]))
    for (clip, variant), lst in md.episodes().items():
        out[clip].setdefault(variant, []).extend(lst)
    return taps, out


def report(specs: list[SceneSpec], taps: dict[str, Tap], eps: Eps, dur: float, work: Path
           ) -> None:  # fmt: skip
    detectors = ["camgate", *md_variants()]
    lags = pipeline_lags(specs, taps, eps, detectors)
    print("pipeline lag removed before matching (best constant shift 0..6 s; onset delays"
          " below are NOT shifted): " + ", ".join(f"{d} {v:.1f} s" for d, v in lags.items()))
    totals = {d: Score() for d in detectors}
    by_family: dict[str, dict[str, Score]] = {}
    results: dict[str, dict[str, object]] = {}
    for spec in specs:
        tap = taps[spec.name]
        passes = tap.passes(int(spec.duration * FPS), FPS)
        if len(passes) < 2:
            print(f"{spec.name}: tap saw {len(passes)} passes, {len(tap.samples)} frames"
                  f" ({tap.error}); skipped")
            continue
        p1 = passes[1]
        p2 = passes[2] if len(passes) > 2 else p1 + spec.duration * 1.2
        line = f"{spec.name:13s}"
        for d in detectors:
            per = [c for ep in eps.get(spec.name, {}).get(d, [])
                   if (c := to_clip(tap, *ep, p1, p2, dur))]  # fmt: skip
            shift = lags.get(d, 0.0)
            sc = score(spec, [(a - shift, b - shift, al) for a, b, al in per])
            totals[d].add(sc)
            by_family.setdefault(spec.family, {}).setdefault(d, Score()).add(sc)
            line += f" | {d}: ep {len(per):2d} det {sc.detected}/{sc.events}"
            line += f" FA {sc.false_alarms}"
            results.setdefault(spec.name, {})[d] = {
                "episodes": [[round(x, 2) for x in ep] for ep in per],
                "detected": sc.detected, "events": sc.events, "false_alarms": sc.false_alarms,
            }  # fmt: skip
        print(line)
    print(f"\nper family (* false alarms per hour scaled up from {dur:.0f} s scored per clip)")
    for fam, scores in by_family.items():
        for d, sc in scores.items():
            print(f"  {fam:9s} {d:13s} {sc.row()}")
    print("\ntotal")
    for d, sc in totals.items():
        print(f"  {d:13s} {sc.row()}  ({sc.detected}/{sc.events} events, "
              f"{sc.episodes} episodes, {sc.seconds / 60:.1f} scored minutes)")  # fmt: skip
    (work / "results.json").write_text(json.dumps(results, indent=1))


def pipeline_lags(specs: list[SceneSpec], taps: dict[str, Tap], eps: Eps,
                  detectors: list[str]) -> dict[str, float]:  # fmt: skip
    """Per detector, the constant delay of its whole pipeline (RTSP client buffering,
    decoding, event hooks): the shift 0..6 s that maximises its F1 over all clips.  Scoring
    accuracy after removing it keeps a slow-but-right detector from being counted as
    wrong twice (a miss and a false alarm); its slowness shows in the onset delay."""
    out: dict[str, float] = {}
    for d in detectors:
        best = (-1.0, 0.0)
        for shift in np.arange(0.0, 6.01, 0.25):
            total = Score()
            for spec in specs:
                tap = taps[spec.name]
                passes = tap.passes(int(spec.duration * FPS), FPS)
                if len(passes) < 2:
                    continue
                p2 = passes[2] if len(passes) > 2 else passes[1] + spec.duration * 1.2
                per = [c for ep in eps.get(spec.name, {}).get(d, [])
                       if (c := to_clip(tap, *ep, passes[1], p2, spec.duration))]  # fmt: skip
                total.add(score(spec, [(a - shift, b - shift, al) for a, b, al in per]))
            if total.f1 > best[0] + 1e-9:
                best = (total.f1, float(shift))
        out[d] = best[1]
    return out


def md_variants() -> list[str]:
    from bench.motion_peers import MOTION_VARIANTS

    return list(MOTION_VARIANTS)


if __name__ == "__main__":
    main()
