"""The processes of the motion benchmark: RTSP taps, camgate's episode feed, Debian's motion.

Every detector reads the same clips from the same GStreamer RTSP mounts.  A tap per mount
decodes the frame-index barcode so that any wall-clock time can be turned into clip time.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

import av

from bench.motion_scenes import BAR_ROWS, read_index
from gateway.sinks.motion import luma


@dataclass
class Tap:
    """Decodes one RTSP mount; ``samples`` = (wall time, frame index) of every frame."""

    url: str
    samples: list[tuple[float, int]] = field(default_factory=list)
    error: str | None = None

    def run(self, stop: threading.Event) -> None:
        """Demux only (cheap); keyframes are decoded to read their index, the frames in
        between are counted from it."""
        try:
            with av.open(self.url, options={"rtsp_transport": "tcp", "timeout": "5000000"}) as c:
                stream = c.streams.video[0]
                ctx = stream.codec_context
                ctx.thread_count = 1
                ctx.skip_frame = "NONKEY"
                index = None
                for packet in c.demux(stream):
                    arrived = time.time()
                    if packet.is_keyframe:
                        for frame in packet.decode():
                            index = read_index(luma(frame))
                    elif index is not None:
                        index += 1
                    if index is not None and packet.size:
                        self.samples.append((arrived, index))
                    if stop.is_set():
                        return
        except (av.error.FFmpegError, OSError) as exc:
            self.error = str(exc)

    def passes(self, frames: int, fps: int) -> list[float]:
        """Wall times at which the clip (re)started: every frame votes ``t - index / fps``;
        votes are clustered (a pass per cluster) and each cluster's median is taken, which
        ignores misread barcodes and the burst of the first frames."""
        votes = sorted(t - i / fps for t, i in self.samples)
        clusters: list[list[float]] = []
        for v in votes:
            if clusters and v - clusters[-1][-1] < frames / fps / 2:
                clusters[-1].append(v)
            else:
                clusters.append([v])
        return [sorted(c)[len(c) // 2] for c in clusters if len(c) > 10]

    def clip_time(self, wall: float, fps: int) -> float:
        """Clip seconds shown at ``wall`` (the frame index on screen then, plus the rest)."""
        walls = [s[0] for s in self.samples]
        k = max(0, bisect_right(walls, wall) - 1)
        t0, idx = self.samples[k]
        return idx / fps + (wall - t0)


class EpisodeFeed:
    """Follows camgate's ``/api/v1/episodes`` long-poll; ``first_seen[id]`` = wall time."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.first_seen: dict[int, float] = {}
        self.episodes: dict[int, dict[str, object]] = {}

    def _get(self, params: dict[str, str]) -> dict[str, object]:
        url = f"{self.base}/api/v1/episodes?{urllib.parse.urlencode(params)}"
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return dict(json.load(r))

    def streams_motion(self) -> list[str]:
        """Each stream's ``stats.motion_detector`` (is detection keeping up?)."""
        req = urllib.request.Request(f"{self.base}/api/v1/streams?limit=100",
                                     headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = json.load(r)
        return [f"{s['name']}: {s.get('stats', {}).get('motion_detector')}"
                for s in body["streams"]]

    def run(self, stop: threading.Event) -> None:
        since = "0"
        while not stop.is_set():
            try:
                page = self._get({"updated_at_gt": since, "poll_timeout": "2", "limit": "1000"})
            except OSError:
                time.sleep(0.2)
                continue
            now = time.time()
            eps = page["episodes"]
            assert isinstance(eps, list)
            for e in eps:
                self.first_seen.setdefault(int(e["episode_id"]), now)
                self.episodes[int(e["episode_id"])] = e
                since = str(e["updated_at"])


MOTION_MAIN = """daemon off
setup_mode off
log_level 5
log_file {dir}/motion.log
target_dir {dir}/out
picture_output off
movie_output off
webcontrol_port 0
stream_port 0
native_language off
"""

# Debian's shipped defaults (threshold 1500, despeckle EedDl, noise_tune on,
# minimum_motion_frames 1) with event_gap set to camgate's quiet period; and a "tuned"
# variant given its best shot here: a threshold low enough for a far person (300 changed
# pixels), its light-switch filter, and a 0.33 s persistence.
MOTION_VARIANTS = {
    "motion": "threshold 1500\ndespeckle_filter EedDl\nminimum_motion_frames 1\n",
    "motion-tuned": (
        "threshold 300\ndespeckle_filter EedDl\nminimum_motion_frames 5\n"
        "lightswitch_percent 40\nlightswitch_frames 5\n"
    ),
}


def write_mask(path: Path, width: int, height: int) -> None:
    """PGM mask (black = ignored) hiding the barcode rows, like camgate's mask zone."""
    keep = height - int(height * 0.08)
    body = bytes([255]) * (width * keep) + bytes([0]) * (width * (height - keep))
    path.write_bytes(f"P5\n{width} {height}\n255\n".encode() + body)
    assert height - keep >= BAR_ROWS


class MotionDaemon:
    """Debian's ``motion`` with one camera per (clip, variant); events logged by a hook."""

    def __init__(self, work: Path, event_gap: float) -> None:
        self.work = work
        self.event_gap = event_gap
        self.cams: dict[int, tuple[str, str]] = {}  # camera id -> (clip, variant)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = work / "events.log"

    def configure(self, clips: dict[str, str], width: int, height: int, fps: int) -> None:
        (self.work / "out").mkdir(parents=True, exist_ok=True)
        mask = self.work / "mask.pgm"
        write_mask(mask, width, height)
        hook = self.work / "hook.sh"
        hook.write_text(f'#!/bin/sh\necho "$1 $2 $(date +%s.%N)" >> {self.log}\n')
        hook.chmod(0o755)
        main = MOTION_MAIN.format(dir=self.work)
        cid = 0
        for clip, url in clips.items():
            for variant, extra in MOTION_VARIANTS.items():
                cid += 1
                self.cams[cid] = (clip, variant)
                conf = self.work / f"cam{cid}.conf"
                conf.write_text(
                    f"camera_id {cid}\nnetcam_url {url}\nnetcam_params rtsp_transport=tcp\n"
                    f"width {width}\nheight {height}\nframerate {fps}\n"
                    f"event_gap {int(self.event_gap)}\nmask_file {mask}\n{extra}"
                    f'on_event_start "{hook} start %t"\non_event_end "{hook} end %t"\n'
                )
                main += f"camera {conf}\n"
        (self.work / "motion.conf").write_text(main)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["motion", "-n", "-c", str(self.work / "motion.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def episodes(self) -> dict[tuple[str, str], list[tuple[float, float, float]]]:
        """(clip, variant) -> [(start wall, last motion wall, alarm wall)]."""
        out: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        open_: dict[int, float] = {}
        if not self.log.exists():
            return out
        for line in self.log.read_text().splitlines():
            kind, cid_s, wall_s = line.split()
            cid, wall = int(cid_s), float(wall_s)
            if kind == "start":
                open_[cid] = wall
            elif cid in open_:
                start = open_.pop(cid)
                end = max(start, wall - self.event_gap)
                out.setdefault(self.cams[cid], []).append((start, end, start))
        for cid, start in open_.items():
            out.setdefault(self.cams[cid], []).append((start, start, start))
        return out
