"""Generated motion scenes with ground truth, encoded to H.264 (Annex-B) with PyAV.

Each scene is a textured still background (smooth multi-octave noise, "buildings",
sensor noise) to which a family adds its difficulty: objects of several sizes and speeds
(a far person, a car, a cat), lighting ramps and sudden switches, an IR day/night switch,
swaying foliage, rain, camera shake, long empty stretches.  The bottom rows carry a
barcode of the frame index (to align a consumer's wall clock with the clip); detectors
must mask it out: it is the zone ``BARCODE_ZONE``.  Ground truth: the intervals (clip
seconds) during which an object moves in view.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BAR_ROWS = 12
BAR_BITS = 16
# normalized polygon covering the barcode rows and the 16-pixel macroblock row above them
# (a barcode change spills compression noise into the whole macroblock)
BARCODE_ZONE = [{"x": 0, "y": 0.92}, {"x": 1, "y": 0.92}, {"x": 1, "y": 1}, {"x": 0, "y": 1}]


@dataclass(frozen=True)
class Mover:
    start: float  # seconds
    end: float
    size: tuple[int, int]  # w, h in pixels
    y: float  # vertical centre, 0..1
    contrast: float = 90.0  # grey levels against the local background
    direction: int = 1


@dataclass
class SceneSpec:
    name: str
    family: str
    duration: float
    movers: list[Mover] = field(default_factory=list)
    noise: float = 3.0
    gain: list[tuple[float, float]] = field(default_factory=list)  # (t, gain) keyframes
    switches: list[tuple[float, float]] = field(default_factory=list)  # (t, new gain)
    ir_at: float | None = None
    foliage: bool = False
    rain: float = 0.0  # streaks per frame
    shake: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of shaking
    seed: int = 0

    @property
    def truth(self) -> list[tuple[float, float]]:
        return sorted((m.start, m.end) for m in self.movers)


def _octaves(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    img = np.zeros((h, w), np.float32)
    for cells, amp in ((4, 50), (12, 30), (40, 18), (120, 10)):
        ch, cw = max(2, cells * h // w), cells
        small = rng.normal(0, 1, (ch + 1, cw + 1)).astype(np.float32)
        ys = np.linspace(0, ch, h)
        xs = np.linspace(0, cw, w)
        y0 = np.floor(ys).astype(int).clip(0, ch - 1)
        x0 = np.floor(xs).astype(int).clip(0, cw - 1)
        fy = (ys - y0)[:, None]
        fx = (xs - x0)[None, :]
        a = small[y0][:, x0]
        b = small[y0][:, x0 + 1]
        c = small[y0 + 1][:, x0]
        d = small[y0 + 1][:, x0 + 1]
        img += amp * ((a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy)
    return img


class Renderer:
    def __init__(self, spec: SceneSpec, width: int = 640, height: int = 360, fps: int = 15):
        self.spec, self.w, self.h, self.fps = spec, width, height, fps
        rng = np.random.default_rng(spec.seed)
        self.rng = rng
        bg = 110 + _octaves(rng, width, height)
        for _ in range(6):  # buildings / fences: hard edges
            x, y = int(rng.integers(0, width - 80)), int(rng.integers(0, height // 2))
            bw, bh = int(rng.integers(30, 160)), int(rng.integers(30, 140))
            bg[y : y + bh, x : x + bw] += float(rng.normal(0, 35))
        self.bg = bg.clip(20, 230).astype(np.float32)
        # IR picture: vegetation bright, low contrast, greyer
        self.ir = (0.55 * (255 - self.bg) * 0.4 + 0.6 * self.bg * 0.9 + 30).astype(np.float32)
        self.foliage_box = (int(width * 0.55), int(height * 0.08), int(width * 0.35),
                            int(height * 0.45))  # fmt: skip
        self.obj_tex = (rng.normal(0, 12, (height, width))).astype(np.float32)

    def gain(self, t: float) -> float:
        g = 1.0
        pts = self.spec.gain
        if pts:
            ts = [p[0] for p in pts]
            g = float(np.interp(t, ts, [p[1] for p in pts]))
        for st, ng in self.spec.switches:
            if t >= st:
                g = ng * (g if pts else 1.0)
        return g

    def frame(self, i: int) -> np.ndarray:
        s, t = self.spec, i / self.fps
        night = s.ir_at is not None and t >= s.ir_at
        img = (self.ir if night else self.bg).copy()
        if s.foliage:
            x, y, fw, fh = self.foliage_box
            # periods that divide the clip's length: the loop point is seamless
            p1, p2 = s.duration / round(s.duration / 1.7), s.duration / round(s.duration / 0.7)
            shift = int(round(4 * np.sin(2 * np.pi * t / p1) + 2 * np.sin(2 * np.pi * t / p2)))
            img[y : y + fh, x : x + fw] = np.roll(self.bg[y : y + fh, x : x + fw], shift, axis=1)
        for m in s.movers:
            if m.start <= t < m.end:
                frac = (t - m.start) / (m.end - m.start)
                mw, mh = m.size
                cx = (-mw + frac * (self.w + mw)) if m.direction > 0 else (self.w - frac * self.w)
                x0, y0 = int(cx), int(m.y * self.h - mh / 2)
                xs, xe = max(0, x0), min(self.w, x0 + mw)
                ys, ye = max(0, y0), min(self.h, y0 + mh)
                if xe > xs and ye > ys:
                    patch = img[ys:ye, xs:xe]
                    sign = 1.0 if patch.mean() < 128 else -1.0
                    tex = self.obj_tex[ys:ye, xs:xe]
                    img[ys:ye, xs:xe] = patch.mean() + sign * m.contrast + tex
        img *= self.gain(t)
        if s.rain:
            n = int(s.rain)
            xs_ = self.rng.integers(0, self.w, n)
            ys_ = self.rng.integers(0, self.h - 12, n)
            for k in range(8):
                img[ys_ + k, xs_] += 45
        noise = s.noise * (2.0 if night else 1.0)
        img += self.rng.normal(0, noise, img.shape).astype(np.float32)
        if any(a <= t < b for a, b in s.shake):
            dy, dx = (int(v) for v in self.rng.integers(-2, 3, 2))
            img = np.roll(img, (dy, dx), axis=(0, 1))
        y = img.clip(16, 235).astype(np.uint8)
        self._barcode(y, i)
        return y

    def _barcode(self, y: np.ndarray, index: int) -> None:
        cw = self.w // BAR_BITS
        y[-BAR_ROWS:, :] = 16
        for b in range(BAR_BITS):
            if (index >> b) & 1:
                y[-BAR_ROWS:, b * cw : (b + 1) * cw] = 235


def read_index(y: np.ndarray) -> int:
    """The frame index from a decoded luma plane (2-D, any strides)."""
    h, w = y.shape
    cw = w // BAR_BITS
    rows = y[h - BAR_ROWS + 3 : h - 3]
    out = 0
    for b in range(BAR_BITS):
        if rows[:, b * cw + 4 : (b + 1) * cw - 4].mean() > 125:
            out |= 1 << b
    return out


def encode(
    spec: SceneSpec, path: Path, *, width: int = 640, height: int = 360, fps: int = 15,
    bitrate: int = 600_000, gop: int | None = None,
) -> int:  # fmt: skip
    """Write ``spec`` as an Annex-B H.264 file; returns the number of frames."""
    r = Renderer(spec, width, height, fps)
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = Fraction(1, fps)
    enc.framerate = Fraction(fps)
    enc.bit_rate = bitrate
    enc.thread_count = 1
    enc.options = {"preset": "veryfast", "g": str(gop or 2 * fps), "bf": "0",
                   "keyint_min": str(gop or 2 * fps),
                   "x264-params": "repeat-headers=1:scenecut=0"}  # fmt: skip
    n = int(round(spec.duration * fps))
    g = gop or 2 * fps
    # The clip is played looped: encode its last two GOPs first and drop them, so the
    # rate control is warm at the loop point (a fresh encoder's first keyframe looks
    # different enough from the warmed-up last frames to be "motion" for any detector).
    warm = min(2 * g, n // g * g)
    chroma = np.full((height // 2, width), 128, np.uint8)
    with path.open("wb") as f:
        for k, i in enumerate([*range(n - warm, n), *range(n)]):
            frame = av.VideoFrame.from_ndarray(
                np.concatenate([r.frame(i), chroma]), format="yuv420p"
            )
            frame.pts = k
            for p in enc.encode(frame):
                if p.pts is not None and p.pts >= warm:
                    f.write(bytes(p))
        for p in enc.encode(None):
            if p.pts is not None and p.pts >= warm:
                f.write(bytes(p))
    return n


def decode_luma(path: Path) -> Iterator[tuple[int, av.VideoFrame]]:
    """(index, frame) of an Annex-B file, in order."""
    dec = av.CodecContext.create("h264", "r")
    dec.thread_count = 1
    i = 0
    with path.open("rb") as f:
        data = f.read()
    for pkt in dec.parse(data):
        for fr in dec.decode(pkt):
            yield i, fr
            i += 1
    for fr in dec.decode(None):
        yield i, fr
        i += 1
