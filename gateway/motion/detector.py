"""Motion detector: pure numpy, one luma frame in, one :class:`MotionResult` out, no IO.

The picture is averaged down to about 90 rows (``work_height``), which removes much of
the sensor noise and makes every later step cheap.  Against a background model (a running
average that adapts to slow change) the detector keeps, per pixel, a running mean of the
absolute difference (its own noise level), so the threshold follows the noise: grainy
night pictures, swaying foliage and rain raise the threshold where they happen and only
there.  When the overall brightness moved a little (auto-exposure, clouds, lighting
ramps), the background is first tone-mapped to the current picture's histogram.  A
changed pixel is then measured against the range of background values at that pixel and
its four neighbours, which absorbs camera shake of up to a (downscaled) pixel.  Isolated
changed pixels (rain drops, noise) are removed by a 3x3 density filter.  A sudden change
of the whole picture (lights switched, IR day/night switch: a brightness jump of
``global_gain`` or more, or ``global_share`` of the pixels changed) re-learns the
background at once instead of reporting motion; if such a change lasts more than
``global_frames`` frames it is reported as motion after all (an object filling the view),
so real motion is never suppressed for longer than that.

``sensitivity`` (1..100, default 50) is the one knob users need: higher finds smaller and
fainter objects; 50 finds an object covering 0.05% of the view that differs from the
background by about 10 grey levels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gateway.motion.zones import ZoneMasks


@dataclass(frozen=True)
class DetectorSettings:
    sensitivity: int = 50  # 1..100
    work_height: int = 90  # rows of the downscaled picture
    learn_seconds: float = 4.0  # time constant of the background
    warmup_frames: int = 10  # frames used to learn background and noise before reporting
    global_share: float = 0.35  # share of changed pixels that means "the whole view changed"
    global_frames: int = 3  # a global change lasting longer is reported as motion
    global_gain: float = 0.12  # a brightness jump of 12% between frames is a global change
    fps: float = 5.0  # rate the detector is fed at (for the adaptation rates)

    @property
    def k(self) -> float:
        """Threshold in units of each pixel's noise level."""
        return 7.0 - 4.5 * self.sensitivity / 100.0

    @property
    def min_threshold(self) -> float:
        """Smallest grey-level difference that can count as change."""
        return 3.0 + 10.0 * (100 - self.sensitivity) / 100.0

    @property
    def min_area(self) -> float:
        """Smallest moving area, as a share of the picture (0.5% at 0 .. 0.005% at 100)."""
        return float(10.0 ** (-2.3 - 2.0 * self.sensitivity / 100.0))


@dataclass
class MotionResult:
    motion: bool
    area: float  # share of the (unmasked) picture that moved, 0..1
    zones: tuple[str, ...] = ()  # region_ids of include zones that saw motion
    global_change: bool = False
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 normalized
    noise: float = 0.0  # median per-pixel noise level (grey levels)
    warming_up: bool = False
    mask: np.ndarray | None = field(default=None, repr=False)


def downscale(y: np.ndarray, factor: int, max_taps: int = 2) -> np.ndarray:
    """Average of ``max_taps`` x ``max_taps`` evenly spaced samples per block, as float32.

    Two taps per axis average 4 of the 16 pixels of a 4x4 block: a quarter of the cost of
    a full box filter for half its noise reduction, and no object 2 pixels wide slips
    between the taps.
    """
    h = y.shape[0] // factor * factor
    w = y.shape[1] // factor * factor
    n = min(factor, max_taps)
    taps = sorted({int(i * factor / n) for i in range(n)})
    acc = y[taps[0] : h : factor, :w].astype(np.uint16)
    for t in taps[1:]:
        acc += y[t:h:factor, :w]
    cols = acc[:, taps[0] :: factor].copy()  # uint16: 16 x 255 still fits
    for t in taps[1:]:
        cols += acc[:, t::factor]
    out = cols.astype(np.float32)
    out *= 1.0 / (len(taps) * len(taps))
    return out


def _shift_min_absdiff(cur: np.ndarray, ref: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """|cur - ref|, where above ``thr`` minimised over ref shifted by one pixel each way.

    Only the (usually few) pixels over the threshold are re-examined, so camera shake is
    absorbed at almost no cost on a quiet picture.
    """
    d = np.abs(cur - ref)
    over = d > thr
    n = int(np.count_nonzero(over))
    if n > d.size // 32:  # many candidates: the dense form is cheaper than gathering
        padded = np.pad(ref, 1, mode="edge")
        lo = ref.copy()
        hi = ref.copy()
        h, w = ref.shape
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            v = padded[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]
            np.minimum(lo, v, out=lo)
            np.maximum(hi, v, out=hi)
        ranged = np.maximum(np.maximum(cur - hi, lo - cur), 0.0)
        return np.where(over, ranged, d)
    rows, cols = np.nonzero(over)
    if rows.size:
        padded = np.pad(ref, 1, mode="edge")
        c = cur[rows, cols]
        lo = ref[rows, cols].copy()
        hi = lo.copy()
        rows += 1
        cols += 1
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            v = padded[rows + dr, cols + dc]
            np.minimum(lo, v, out=lo)
            np.maximum(hi, v, out=hi)
        # distance to the range the neighbourhood spans: a sub-pixel shift of the view
        # produces values between neighbours, never outside them
        d[rows - 1, cols - 1] = np.maximum(np.maximum(c - hi, lo - c), 0.0)
    return d


def _density(mask: np.ndarray) -> np.ndarray:
    """Number of set pixels in each 3x3 neighbourhood (uint8)."""
    m = mask.view(np.uint8)
    rows = m.copy()
    rows[1:] += m[:-1]
    rows[:-1] += m[1:]
    out = rows.copy()
    out[:, 1:] += rows[:, :-1]
    out[:, :-1] += rows[:, 1:]
    return out


class Detector:
    """Stateful per camera; feed it luma planes of one size (a new size starts afresh)."""

    def __init__(self, settings: DetectorSettings | None = None, zones: ZoneMasks | None = None):
        self.settings = settings or DetectorSettings()
        self.zones = zones or ZoneMasks()
        self.bg: np.ndarray | None = None
        self.dev: np.ndarray | None = None
        self.frames = 0
        self.global_run = 0
        self._shape: tuple[int, int] | None = None
        self._factor = 1
        self._active: np.ndarray | None = None  # pixels that count (include zones minus masks)
        self._active_n = 1
        self._zone_masks: list[tuple[str, np.ndarray]] = []
        self._noise = 0.0

    def reset(self) -> None:
        self.bg = None
        self.dev = None
        self.frames = 0
        self.global_run = 0
        self._shape = None

    def _setup(self, y: np.ndarray) -> None:
        s = self.settings
        self._factor = max(1, y.shape[0] // s.work_height)
        h, w = y.shape[0] // self._factor, y.shape[1] // self._factor
        self._shape = y.shape[:2]
        active, zone_masks = self.zones.rasterize(w, h)
        self._active = active
        self._active_n = max(1, int(active.sum()))
        self._zone_masks = zone_masks
        self.frames = 0
        self.global_run = 0

    def process(self, y: np.ndarray) -> MotionResult:
        """``y``: a 2-D uint8 luma plane (any strides)."""
        s = self.settings
        if self._shape != y.shape[:2]:
            self._setup(y)
        cur = downscale(y, self._factor)
        self.frames += 1
        if self.bg is None or self.dev is None:
            self.bg = cur
            self.dev = np.full_like(cur, 1.5)
            return MotionResult(False, 0.0, warming_up=True)
        bg, dev = self.bg, self.dev
        assert self._active is not None
        warming = self.frames <= s.warmup_frames
        # Global brightness ratio (means over a sparse grid): auto-exposure, clouds, lighting
        # ramps, lamps.  Small changes scale the background; larger ones (where clipping
        # and gamma matter) tone-map it; changes under 2% and 1.5 grey levels are noise.
        m_bg = float(bg[1::3, 1::3].mean())
        m_cur = float(cur[1::3, 1::3].mean())
        gain = m_cur / m_bg if m_bg > 1.0 else 1.0
        gain = min(max(gain, 0.25), 4.0)
        scaled = abs(gain - 1.0) > 0.02 and abs(m_cur - m_bg) > 1.5
        if scaled:
            ref = _tone_map(bg, cur) if abs(gain - 1.0) > 0.06 else bg * gain
        else:
            ref = bg
        thr = dev * s.k
        np.maximum(thr, s.min_threshold, out=thr)
        diff = _shift_min_absdiff(cur, ref, thr)
        changed = diff > thr
        share = float(np.count_nonzero(changed)) / changed.size
        alpha = 1.0 / max(1.0, s.learn_seconds * s.fps)
        if self.frames % 16 == 0 or self._noise == 0.0:
            self._noise = _median(dev)
        sudden = abs(gain - 1.0) >= s.global_gain
        if (share >= s.global_share or sudden) and not warming:
            self.global_run += 1
            if self.global_run <= s.global_frames:
                # The whole view changed at once: re-learn instead of reporting motion.
                self.bg = cur
                return MotionResult(False, share, global_change=True, noise=self._noise)
        else:
            self.global_run = 0
        # Noise level follows |diff| everywhere (slowly), so foliage and rain learn their own.
        beta = 0.25 if warming else alpha * 0.5
        np.minimum(diff, dev * 4.0 + 4.0, out=diff)
        diff -= dev
        diff *= beta
        dev += diff
        np.maximum(dev, 0.5, out=dev)
        dense = (_density(changed) >= 4) & changed
        dense &= self._active
        n = int(np.count_nonzero(dense))
        # Background: fast where still, slow where moving (a parked car joins it in time).
        if scaled:  # follow the exposure change
            bg += min(1.0, 10 * alpha) * (ref - bg)
        delta = cur - bg
        if n:
            delta[dense] *= 0.1
        delta *= 0.5 if warming else alpha
        bg += delta
        area = n / self._active_n
        if warming:
            return MotionResult(False, area, warming_up=True, noise=self._noise)
        min_px = max(3.0, s.min_area * changed.size)
        motion = n >= min_px
        zones: tuple[str, ...] = ()
        box = None
        if motion:
            hit = []
            for rid, zm in self._zone_masks:
                if np.count_nonzero(dense & zm) >= min(min_px, 0.5 * max(1, zm.sum())):
                    hit.append(rid)
            zones = tuple(hit)
            if self._zone_masks and not zones:
                motion = False
            else:
                box = _bbox(dense)
        return MotionResult(motion, area, zones, box=box, noise=self._noise, mask=dense)


_QUANTILES = np.linspace(0.5, 99.5, 24)


def _tone_map(bg: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """The background as the current exposure would show it: quantile (histogram) mapping.

    Follows gain, offset, gamma and clipping at once (a brightened picture saturates), and
    any other monotone change of the tone curve.  Used only when the brightness changed.
    """
    qb = np.percentile(bg[::2, ::2], _QUANTILES)
    qc = np.percentile(cur[::2, ::2], _QUANTILES)
    qb = np.maximum.accumulate(qb + np.arange(qb.size) * 1e-3)
    return np.interp(bg, qb, qc).astype(np.float32)


def _median(a: np.ndarray) -> float:
    flat = a.ravel()
    k = flat.size // 2
    return float(np.partition(flat, k)[k])


def _bbox(mask: np.ndarray) -> tuple[float, float, float, float]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (
        float(cols[0] / w),
        float(rows[0] / h),
        float((cols[-1] + 1) / w),
        float((rows[-1] + 1) / h),
    )
