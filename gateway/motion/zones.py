"""Motion zones from a stream's ``vision`` section (Watcher's detector shape), and settings.

``vision.detectors`` is a list of ``{detector_type, region_id, region_title,
region_coordinates: [{x, y}, ...]}`` polygons in normalized 0..1 coordinates (x to the
right, y down).  For motion:

* ``detector_type = "motion"``: an include zone.  With one or more include zones, only
  motion inside them counts, and each result names the zones (``region_id``) that moved.
  Without any, the whole picture counts.
* ``detector_type = "motion_mask"`` (alias ``"mask"``): a mask-out zone.  Motion inside it
  is ignored everywhere (a tree, a road, a timestamp overlay), including inside include
  zones it overlaps.
* Other detector types belong to other detectors and are ignored here.

``vision.motion`` (optional) tunes the detector; every field is optional:
``enabled`` (default true), ``sensitivity`` 1..100 (50), ``fps`` detect rate 0.5..30 (5),
``open_frames`` frames of motion that open an episode 1..50 (3), ``close_after`` quiet
seconds that close it 0.5..600 (3), ``pre_roll`` / ``post_roll`` DVR seconds kept around
an episode 0..300 (5 / 5), ``max_duration`` seconds after which a long episode is closed and
a new one opened 10..86400 (600), ``decode`` ``"all"`` or ``"keyframes"`` (``"all"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

INCLUDE_TYPES = frozenset({"motion"})
MASK_TYPES = frozenset({"motion_mask", "mask"})

# field: (type, low, high, default)
_MOTION_FIELDS: dict[str, tuple[type, float, float, float]] = {
    "sensitivity": (int, 1, 100, 50),
    "fps": (float, 0.5, 30, 5.0),
    "open_frames": (int, 1, 50, 3),
    "close_after": (float, 0.5, 600, 3.0),
    "pre_roll": (float, 0, 300, 5.0),
    "post_roll": (float, 0, 300, 5.0),
    "max_duration": (float, 10, 86400, 600.0),
}


@dataclass(frozen=True)
class Zone:
    region_id: str
    title: str
    polygon: tuple[tuple[float, float], ...]
    mask: bool = False


@dataclass(frozen=True)
class MotionSettings:
    enabled: bool = True
    sensitivity: int = 50
    fps: float = 5.0
    open_frames: int = 3
    close_after: float = 3.0
    pre_roll: float = 5.0
    post_roll: float = 5.0
    max_duration: float = 600.0
    decode: str = "all"


def polygon_mask(poly: tuple[tuple[float, float], ...], w: int, h: int) -> np.ndarray:
    """Pixels (centres) of a w x h grid inside the normalized polygon (even-odd rule)."""
    xs = (np.arange(w, dtype=np.float64) + 0.5) / w
    ys = (np.arange(h, dtype=np.float64) + 0.5) / h
    px, py = np.meshgrid(xs, ys)
    inside = np.zeros((h, w), dtype=bool)
    n = len(poly)
    for i in range(n):
        x0, y0 = poly[i]
        x1, y1 = poly[(i + 1) % n]
        if y0 == y1:
            continue
        crosses = (y0 > py) != (y1 > py)
        xint = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (px < xint)
    return inside


@dataclass(frozen=True)
class ZoneMasks:
    zones: tuple[Zone, ...] = field(default_factory=tuple)

    @property
    def includes(self) -> tuple[Zone, ...]:
        return tuple(z for z in self.zones if not z.mask)

    def rasterize(self, w: int, h: int) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
        """(active pixels, [(region_id, include-zone pixels minus masks)]) at w x h."""
        masked = np.zeros((h, w), dtype=bool)
        for z in self.zones:
            if z.mask:
                masked |= polygon_mask(z.polygon, w, h)
        includes = [(z.region_id, polygon_mask(z.polygon, w, h) & ~masked) for z in self.includes]
        if includes:
            active = np.zeros((h, w), dtype=bool)
            for _, m in includes:
                active |= m
        else:
            active = ~masked
        return active, includes


def zones_from_vision(vision: Mapping[str, Any]) -> ZoneMasks:
    """Zones of an already validated ``vision`` section."""
    out: list[Zone] = []
    for i, d in enumerate(vision.get("detectors") or []):
        dtype = d.get("detector_type")
        if dtype not in INCLUDE_TYPES and dtype not in MASK_TYPES:
            continue
        poly = tuple((float(p["x"]), float(p["y"])) for p in d["region_coordinates"])
        out.append(
            Zone(
                region_id=str(d.get("region_id") or f"zone{i}"),
                title=str(d.get("region_title") or ""),
                polygon=poly,
                mask=dtype in MASK_TYPES,
            )
        )
    return ZoneMasks(tuple(out))


def settings_from_vision(vision: Mapping[str, Any]) -> MotionSettings:
    raw = vision.get("motion") or {}
    kw: dict[str, Any] = {}
    for key, (typ, _lo, _hi, _d) in _MOTION_FIELDS.items():
        if key in raw:
            kw[key] = typ(raw[key])
    if "enabled" in raw:
        kw["enabled"] = bool(raw["enabled"])
    if "decode" in raw:
        kw["decode"] = str(raw["decode"])
    return MotionSettings(**kw)


def validate_vision(vision: Any, path: str) -> list[tuple[str, Any, str]]:
    """Errors of a ``vision`` section as (field path, value, what is allowed)."""
    errs: list[tuple[str, Any, str]] = []
    if not isinstance(vision, Mapping):
        return [(path, vision, "must be a table/object")]
    dets = vision.get("detectors")
    if dets is not None:
        if not isinstance(dets, list):
            errs.append((f"{path}.detectors", dets, "must be a list of detector objects"))
        else:
            for i, d in enumerate(dets):
                errs += _validate_detector(d, f"{path}.detectors[{i}]")
    motion = vision.get("motion")
    if motion is not None:
        errs += _validate_motion(motion, f"{path}.motion")
    return errs


def _validate_detector(d: Any, p: str) -> list[tuple[str, Any, str]]:
    if not isinstance(d, Mapping):
        return [(p, d, "must be an object {detector_type, region_id, region_coordinates}")]
    errs: list[tuple[str, Any, str]] = []
    dtype = d.get("detector_type")
    if not isinstance(dtype, str) or not dtype:
        errs.append((f"{p}.detector_type", dtype, 'must be a string ("motion", "motion_mask")'))
    for key in ("region_id", "region_title"):
        v = d.get(key)
        if v is not None and not isinstance(v, str | int):
            errs.append((f"{p}.{key}", v, "must be a string"))
    coords = d.get("region_coordinates")
    if dtype in INCLUDE_TYPES or dtype in MASK_TYPES or coords is not None:
        if not isinstance(coords, list) or len(coords) < 3:
            errs.append(
                (f"{p}.region_coordinates", coords, "must be a list of at least 3 {x, y} points")
            )
            return errs
        for j, pt in enumerate(coords):
            pp = f"{p}.region_coordinates[{j}]"
            if not isinstance(pt, Mapping) or set(pt) - {"x", "y"} or len(pt) != 2:
                errs.append((pp, pt, "must be {x, y}"))
                continue
            for axis in ("x", "y"):
                v = pt[axis]
                if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
                    errs.append((f"{pp}.{axis}", v, "must be a number 0..1 (normalized)"))
    return errs


def _validate_motion(m: Any, p: str) -> list[tuple[str, Any, str]]:
    if not isinstance(m, Mapping):
        return [(p, m, "must be a table/object")]
    errs: list[tuple[str, Any, str]] = []
    known = {*_MOTION_FIELDS, "enabled", "decode"}
    for key, v in m.items():
        if key not in known:
            errs.append((f"{p}.{key}", v, f"unknown field (allowed: {', '.join(sorted(known))})"))
    if "enabled" in m and not isinstance(m["enabled"], bool):
        errs.append((f"{p}.enabled", m["enabled"], "must be true or false"))
    if "decode" in m and m["decode"] not in ("all", "keyframes"):
        errs.append((f"{p}.decode", m["decode"], 'must be "all" or "keyframes"'))
    for key, (typ, lo, hi, _d) in _MOTION_FIELDS.items():
        if key not in m:
            continue
        v = m[key]
        ok_type = (int,) if typ is int else (int, float)
        if isinstance(v, bool) or not isinstance(v, ok_type) or not lo <= v <= hi:
            kind = "an integer" if typ is int else "a number"
            errs.append((f"{p}.{key}", v, f"must be {kind} {lo:g}..{hi:g}"))
    return errs
