"""``synthetic://?size=WxH&fps=N&gop=N&bitrate=4M``: a generated H.264 camera, no network."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from urllib.parse import parse_qs, urlsplit

import av
import numpy as np

from gateway.media.packet import TrackInfo
from gateway.sources.base import VIDEO_TIME_BASE, Emit
from gateway.sources.scene import Scene
from gateway.sources.tracks import TrackMapper


def _rate(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * mult)


@dataclass(frozen=True)
class SyntheticParams:
    width: int = 1280
    height: int = 720
    fps: int = 25
    gop: int = 50
    bitrate: int = 2_000_000
    moving: bool = True

    @classmethod
    def from_query(cls, q: Mapping[str, Sequence[str]]) -> SyntheticParams:
        d = cls()
        allowed = {"size", "fps", "gop", "bitrate", "motion"}
        for key in q:
            if key not in allowed:
                raise ValueError(
                    f"unknown synthetic parameter {key!r}"
                    " (allowed: size, fps, gop, bitrate, motion)"
                )
        try:
            w, h = (int(v) for v in q.get("size", [f"{d.width}x{d.height}"])[0].lower().split("x"))
            fps = int(q.get("fps", [str(d.fps)])[0])
            gop = int(q.get("gop", [str(fps * 2)])[0])
            bitrate = _rate(q.get("bitrate", [str(d.bitrate)])[0])
        except ValueError as exc:
            raise ValueError(
                "synthetic parameters: size=WxH, fps, gop integers, bitrate like 4M"
            ) from exc
        moving = q.get("motion", ["1"])[0] not in ("0", "false", "off")
        if not (16 <= w <= 3840 and 16 <= h <= 2160) or w % 2 or h % 2:
            raise ValueError("synthetic size must be even, 16x16..3840x2160")
        if not 1 <= fps <= 60 or not 1 <= gop <= 600 or not 10_000 <= bitrate <= 50_000_000:
            raise ValueError("synthetic fps 1..60, gop 1..600, bitrate 10k..50M")
        return cls(w, h, fps, gop, bitrate, moving)

    @classmethod
    def from_url(cls, url: str) -> SyntheticParams:
        return cls.from_query(parse_qs(urlsplit(url).query))


class SyntheticReader:
    """Encodes the scene in real time with libx264 (Annex-B, parameter sets on keyframes)."""

    probe_address: tuple[str, int] | None = None

    def __init__(self, url: str, *, generation: int = 0) -> None:
        self.params = SyntheticParams.from_url(url)
        self.generation = generation

    def run(self, emit: Emit, stop: threading.Event) -> None:
        p = self.params
        enc = av.CodecContext.create("libx264", "w")
        enc.width, enc.height, enc.pix_fmt = p.width, p.height, "yuv420p"
        enc.time_base = VIDEO_TIME_BASE
        enc.framerate = Fraction(p.fps, 1)
        enc.gop_size = p.gop
        enc.bit_rate = p.bitrate
        enc.thread_count = 1
        enc.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "bf": "0",
            "repeat-headers": "1",
            "keyint_min": str(p.gop),
            "sc_threshold": "0",
            "vbv-maxrate": str(p.bitrate // 1000),
            "vbv-bufsize": str(p.bitrate // 1000),
        }
        track = TrackInfo(0, "video", "h264", VIDEO_TIME_BASE, width=p.width, height=p.height)
        mapper = TrackMapper([track], self.generation)
        scene = Scene(p.width, p.height)
        chroma = np.full((p.height // 2, p.width), 128, np.uint8)
        step = 90000 // p.fps
        start = time.monotonic()
        wall0 = time.time()
        i = 0
        while not stop.is_set():
            due = start + i / p.fps
            delay = due - time.monotonic()
            if delay > 0 and stop.wait(delay):
                break
            if delay < -1.0:  # fell far behind (machine overloaded): skip frames, keep time
                i = int((time.monotonic() - start) * p.fps)
                continue
            y = scene.render(wall0 + i / p.fps, moving=p.moving)
            frame = av.VideoFrame.from_ndarray(np.vstack((y, chroma)), format="yuv420p")
            frame.pts = i * step
            frame.time_base = VIDEO_TIME_BASE
            for pkt in enc.encode(frame):
                emit(mapper.map(0, bytes(pkt), pkt.pts, pkt.dts, step, bool(pkt.is_keyframe)))
            i += 1
