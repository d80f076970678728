"""Motion sink: per camera, decode the smallest stream, detect, track episodes, store them.

The camera's substream is used when configured, else the main stream.  Packets come from a
bounded hub subscription; a batch is handed to a worker thread owned by this camera (so a
slow detector never occupies the shared default executor) which decodes it with an
explicitly single-threaded decoder and runs the detector on the luma plane of frames
sampled at the detect rate.  Frames that arrived more than ``MAX_LAG`` seconds ago are
decoded (the next frames depend on them) but not examined, and if the worker still falls
behind, the hub drops this subscription's backlog to the next keyframe: motion skips
frames, ingest and recording never wait for it.

Each episode's preview JPEG (the frame with the largest moving area) is written before the
row that names it, and the row is committed before the event is published.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np

from gateway.events.bus import Event, EventBus
from gateway.media.hub import GAP
from gateway.media.packet import Packet, StreamInfo
from gateway.motion.detector import Detector, DetectorSettings, MotionResult
from gateway.motion.episodes import Closed, EpisodeState, EpisodeTracker, Opened, Peak
from gateway.motion.zones import MotionSettings, settings_from_vision, zones_from_vision
from gateway.store.episodes import EpisodeRow, Episodes

if TYPE_CHECKING:
    from gateway.cameras import Camera

log = logging.getLogger(__name__)

MAX_LAG = 2.5  # seconds; older frames are decoded but not examined
QUEUE = 150  # packets in the hub subscription (~6 s at 25 fps)
PREVIEW_WIDTH = 640
KEEP_DAYS = 30  # episodes (rows and previews) are kept this long ...
KEEP_EPISODES = 5000  # ... and at most this many per camera

DetectorFactory = Callable[[DetectorSettings, Any], Detector]


def luma(frame: av.VideoFrame) -> np.ndarray:
    """The Y plane as a 2-D uint8 view (no copy, no colour conversion)."""
    plane = frame.planes[0]
    arr = np.frombuffer(memoryview(plane), np.uint8)
    return arr.reshape(frame.height, plane.line_size)[:, : frame.width]


def encode_jpeg(frame: av.VideoFrame, max_width: int = PREVIEW_WIDTH) -> bytes:
    w, h = frame.width, frame.height
    if w > max_width:
        w, h = max_width, max(2, int(h * max_width / w) // 2 * 2)
    img = frame.reformat(width=w, height=h, format="yuvj420p")
    enc = av.CodecContext.create("mjpeg", "w")
    enc.width, enc.height, enc.pix_fmt = w, h, "yuvj420p"
    enc.time_base = Fraction(1, 25)
    enc.thread_count = 1
    enc.options = {"qmin": "2", "qmax": "8"}
    img.pts = 0
    out = b"".join(bytes(p) for p in enc.encode(img))
    out += b"".join(bytes(p) for p in enc.encode(None))
    return out


@dataclass
class MotionStats:
    motion_detected_count: int = 0  # detector onsets (quiet → motion), before persistence
    episodes_count: int = 0
    frames_decoded: int = 0
    frames_examined: int = 0
    frames_skipped: int = 0  # sampled frames not examined because the worker was behind
    detect_ms: float = 0.0  # running mean of the detector's CPU time per frame
    active: bool = False  # an episode is open
    last_area: float = 0.0

    def public(self) -> dict[str, Any]:
        return {
            "motion_detected_count": self.motion_detected_count,
            "episodes_count": self.episodes_count,
            # is detection keeping up? (frames skipped: the worker was behind)
            "frames_examined": self.frames_examined,
            "frames_skipped": self.frames_skipped,
            "detect_ms": round(self.detect_ms, 3),
            "active": self.active,
        }


@dataclass
class Outcome:
    kind: str  # "open" | "close"
    episode: EpisodeState
    preview: str | None = None  # written preview file name (relative)
    closed_at: float | None = None
    reason: str | None = None


class MotionWorker:
    """Decoder + detector + episode tracker; every method runs in the camera's worker thread."""

    def __init__(
        self, name: str, settings: MotionSettings, detector: Detector, previews_dir: Path,
        stats: MotionStats,
    ) -> None:  # fmt: skip
        self.name = name
        self.settings = settings
        self.detector = detector
        self.previews_dir = previews_dir
        self.stats = stats
        # keyframes only: one sample per GOP, so one sample with motion must do
        open_frames = 1 if settings.decode == "keyframes" else settings.open_frames
        self.tracker = EpisodeTracker(open_frames, settings.close_after, settings.max_duration)
        self.decoder: Any = None
        self.main_stream = False  # decoding the camera's main stream (no substream)
        self.info: StreamInfo | None = None
        self.times: dict[int, tuple[float, float]] = {}  # pts -> (wall time, arrival)
        self.next_sample = 0.0
        self.was_motion = False
        self.recent: deque[tuple[float, av.VideoFrame]] = deque(maxlen=settings.open_frames + 1)
        self.peak_frame: av.VideoFrame | None = None
        self.peak_dirty = False
        self.preview_name: str | None = None

    def _open_decoder(self, info: StreamInfo) -> None:
        self.info = info
        self.decoder = None
        self.times.clear()
        self.detector.reset()
        v = info.video
        if v is None:
            return
        dec = av.CodecContext.create(v.codec, "r")
        if v.extradata:
            dec.extradata = v.extradata
        dec.thread_count = 1
        dec.thread_type = "SLICE"
        # (skip_loop_filter would save ~5-10% CPU, but without deblocking every keyframe's
        # block edges differ from the P-frames' and read as motion: measured false alarms)
        if v.width * v.height > 1280 * 720 and self.main_stream and self.settings.decode == "all":
            log.warning(
                "motion %s: decoding every frame of the %dx%d main stream (no substream);"
                " configure a substream as the second input, or vision.motion.decode ="
                ' "keyframes", to save CPU',
                self.name, v.width, v.height,
            )  # fmt: skip
        if self.settings.decode == "keyframes":
            dec.skip_frame = "NONKEY"
        self.decoder = dec

    def process(self, items: list[Any]) -> list[Outcome]:
        out: list[Outcome] = []
        for item in items:
            if item is GAP:
                out += self._apply(self.tracker.interrupt("source_lost"))
                self.info = None
                self.decoder = None
                continue
            if not isinstance(item, Packet) or not item.is_video:
                continue
            if item.info is not self.info:
                self._open_decoder(item.info)
            if self.decoder is None:
                continue
            if self.settings.decode == "keyframes" and not item.keyframe:
                continue
            pkt = av.Packet(item.data)
            pkt.pts, pkt.dts = item.pts, item.dts
            self.times[item.pts] = (item.time, item.arrival)
            if len(self.times) > 256:
                for k in sorted(self.times)[:128]:
                    del self.times[k]
            try:
                frames = self.decoder.decode(pkt)
            except av.error.InvalidDataError:
                continue
            for frame in frames:
                self.stats.frames_decoded += 1
                stamp = self.times.pop(frame.pts, None) if frame.pts is not None else None
                if stamp is not None:
                    out += self._frame(frame, *stamp)
        return out

    def _frame(self, frame: av.VideoFrame, t: float, arrival: float) -> list[Outcome]:
        period = 1.0 / self.settings.fps
        if t < self.next_sample - 0.02 and self.settings.decode != "keyframes":
            return []
        self.next_sample = self.next_sample + period if t - self.next_sample < period else t
        self.next_sample = max(self.next_sample, t + period * 0.5)
        if time.monotonic() - arrival > MAX_LAG:
            self.stats.frames_skipped += 1
            return []
        t0 = time.thread_time()  # CPU time: other threads holding the GIL do not count
        res = self.detector.process(luma(frame))
        ms = (time.thread_time() - t0) * 1000
        st = self.stats
        st.detect_ms += (ms - st.detect_ms) * 0.05
        st.frames_examined += 1
        st.last_area = res.area
        return self._result(frame, t, res)

    def _result(self, frame: av.VideoFrame, t: float, res: MotionResult) -> list[Outcome]:
        if res.motion and not self.was_motion:
            self.stats.motion_detected_count += 1
        self.was_motion = res.motion
        if self.tracker.current is None:
            self.recent.append((t, frame))
        actions = self.tracker.feed(t, res.motion, res.area, res.zones)
        for a in actions:
            if isinstance(a, Opened):
                self.peak_frame = next(
                    (f for ft, f in self.recent if ft == a.episode.peak_time), frame
                )
                self.recent.clear()
            elif isinstance(a, Peak):
                self.peak_frame = frame
                self.peak_dirty = True
        return self._apply(actions)

    def tick(self, now: float) -> list[Outcome]:
        return self._apply(self.tracker.tick(now))

    def interrupt(self, reason: str) -> list[Outcome]:
        return self._apply(self.tracker.interrupt(reason))

    def _apply(self, actions: list[Any]) -> list[Outcome]:
        out: list[Outcome] = []
        for a in actions:
            if isinstance(a, Opened):
                self.preview_name = f"{self.name}/{int(a.episode.opened_at * 1000):013d}.jpg"
                self.peak_dirty = False
                out.append(Outcome("open", a.episode, self._write_preview()))
            elif isinstance(a, Closed):
                preview = self._write_preview() if self.peak_dirty else None
                out.append(Outcome("close", a.episode, preview, a.closed_at, a.reason))
                self.peak_frame = None
                self.peak_dirty = False
        return out

    def _write_preview(self) -> str | None:
        if self.peak_frame is None or self.preview_name is None:
            return None
        try:
            data = encode_jpeg(self.peak_frame)
            path = self.previews_dir / self.preview_name
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".jpg.part")
            tmp.write_bytes(data)
            tmp.replace(path)
        except (OSError, av.error.FFmpegError) as exc:
            log.warning("motion %s: preview not written: %s", self.name, exc)
            return None
        return self.preview_name


class MotionService:
    """Runs a :class:`MotionSink` per camera; holds counters and the episode store."""

    def __init__(
        self, episodes: Episodes, bus: EventBus, previews_dir: Path,
        detector_factory: DetectorFactory | None = None,
    ) -> None:  # fmt: skip
        self.detector_factory: DetectorFactory = detector_factory or Detector
        self.episodes = episodes
        self.bus = bus
        self.previews_dir = previews_dir
        self.stats: dict[str, MotionStats] = {}

    async def load(self) -> None:
        await self.episodes.load()
        closed = await self.episodes.close_dangling("restart")
        if closed:
            log.info("motion: closed %d episodes left open by the last run", closed)
        for media, n in (await self.episodes.counts()).items():
            self.stats_of(media).episodes_count = n

    def stats_of(self, name: str) -> MotionStats:
        st = self.stats.get(name)
        if st is None:
            st = self.stats[name] = MotionStats()
        return st

    def public_stats(self, name: str) -> dict[str, Any]:
        """``stats.motion_detected_count`` / ``episodes_count`` for the streams API."""
        return self.stats_of(name).public()

    async def run_camera(self, camera: Camera) -> None:
        await MotionSink(self, camera).run()


class MotionSink:
    def __init__(self, service: MotionService, camera: Camera) -> None:
        self.service = service
        self.camera = camera
        self.name = camera.name
        self.open_row: EpisodeRow | None = None

    def _worker(self) -> MotionWorker:
        vision = self.camera.cfg.vision
        settings = settings_from_vision(vision)
        det = self.service.detector_factory(
            DetectorSettings(sensitivity=settings.sensitivity, fps=settings.fps),
            zones_from_vision(vision),
        )
        return MotionWorker(
            self.name, settings, det, self.service.previews_dir, self.service.stats_of(self.name)
        )

    async def run(self) -> None:
        vision = self.camera.cfg.vision
        worker = self._worker()
        if not worker.settings.enabled:
            return
        hub = self.camera.sub_hub or self.camera.hub
        worker.main_stream = self.camera.sub_hub is None
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(1, thread_name_prefix=f"motion-{self.name}")
        sub = hub.subscribe("motion", maxsize=QUEUE, video_only=True)
        try:
            while True:
                if self.camera.cfg.vision != vision:  # zones or settings edited
                    vision = self.camera.cfg.vision
                    await self._apply(await loop.run_in_executor(pool, worker.interrupt, "config"))
                    worker = self._worker()
                    worker.main_stream = self.camera.sub_hub is None
                    if not worker.settings.enabled:
                        return
                try:
                    await asyncio.wait_for(sub.wait(), 0.5)
                except TimeoutError:
                    await self._apply(await loop.run_in_executor(pool, worker.tick, time.time()))
                    continue
                except EOFError:
                    break
                items = sub.drain(512)
                await self._apply(await loop.run_in_executor(pool, worker.process, items))
        except asyncio.CancelledError:
            await self._apply(await loop.run_in_executor(pool, worker.interrupt, "shutdown"))
            raise
        finally:
            sub.close()
            pool.shutdown(wait=False)

    async def _apply(self, outcomes: list[Outcome]) -> None:
        st = self.service.stats_of(self.name)
        eps = self.service.episodes
        for o in outcomes:
            ep = o.episode
            if o.kind == "open":
                row = await eps.open(
                    self.name, ep.opened_at, zones=sorted(ep.zones), peak_area=ep.peak_area,
                    pre_roll=self.service_settings().pre_roll,
                    post_roll=self.service_settings().post_roll, preview=o.preview,
                )  # fmt: skip
                self.open_row = row
                st.episodes_count += 1
                st.active = True
                self.service.bus.publish(
                    Event("motion.episode_opened", self.name, data=episode_event(row))
                )
            elif o.kind == "close" and self.open_row is not None:
                closed = await eps.update(
                    self.open_row.id, closed_at=o.closed_at, close_reason=o.reason,
                    preview=o.preview, zones=sorted(ep.zones), peak_area=ep.peak_area,
                )  # fmt: skip
                self.open_row = None
                st.active = False
                if closed is not None:
                    self.service.bus.publish(
                        Event("motion.episode_closed", self.name, data=episode_event(closed))
                    )
                await self._prune()

    async def _prune(self) -> None:
        """Episodes older than ``KEEP_DAYS`` or beyond ``KEEP_EPISODES`` per camera go."""
        gone = await self.service.episodes.prune(
            self.name, time.time() - KEEP_DAYS * 86400, KEEP_EPISODES
        )
        if gone:
            await asyncio.to_thread(_unlink, [self.service.previews_dir / g for g in gone])

    def service_settings(self) -> MotionSettings:
        return settings_from_vision(self.camera.cfg.vision)


def _unlink(paths: list[Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def episode_event(row: EpisodeRow) -> dict[str, Any]:
    return {
        "episode_id": row.id,
        "media": row.media,
        "episode_type": row.episode_type,
        "opened_at": row.opened_at,
        "closed_at": row.closed_at,
        "close_reason": row.close_reason,
        "zones": list(row.zones),
        "preview": row.preview,
    }
