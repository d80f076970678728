"""Detector, zones and episode tracker on generated frames (pure, no IO)."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.config import ConfigError, parse_stream
from gateway.motion.detector import Detector, DetectorSettings
from gateway.motion.episodes import Closed, EpisodeTracker, Opened
from gateway.motion.zones import polygon_mask, zones_from_vision

H, W = 360, 640


def rect(x0: float, y0: float, x1: float, y1: float) -> list[dict[str, float]]:
    return [{"x": x0, "y": y0}, {"x": x1, "y": y0}, {"x": x1, "y": y1}, {"x": x0, "y": y1}]


class Scene:
    def __init__(self, seed: int = 0, noise: float = 3.0) -> None:
        self.rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:H, 0:W]
        self.bg = (100 + 40 * np.sin(xx / 13) * np.cos(yy / 9)
                   + self.rng.normal(0, 12, (H, W))).clip(20, 230)  # fmt: skip
        self.noise = noise

    def frame(self, obj: tuple[int, int, int, int] | None = None, gain: float = 1.0,
              curve: bool = False) -> np.ndarray:  # fmt: skip
        f = self.bg.copy()
        if curve:  # IR-like switch: a different, non-linear picture of the same scene
            f = 255 - 0.7 * f + 0.002 * (f - 128) ** 2
        f = f * gain + self.rng.normal(0, self.noise, (H, W))
        if obj:
            x, y, w, h = obj
            f[y : y + h, x : x + w] = 215
        # a padded plane like a decoder's (line_size > width)
        out = np.zeros((H, W + 64), np.uint8)
        out[:, :W] = f.clip(0, 255)
        return out[:, :W]


def run(det: Detector, frames: list[np.ndarray], fps: float = 5.0) -> list[object]:
    tracker = EpisodeTracker(open_frames=3, close_after=2.0)
    actions: list[object] = []
    for i, fr in enumerate(frames):
        r = det.process(fr)
        actions += tracker.feed(i / fps, r.motion, r.area, r.zones)
    actions += tracker.interrupt("end")
    return actions


def warm(scene: Scene, n: int = 25) -> list[np.ndarray]:
    return [scene.frame() for _ in range(n)]


def test_moving_object_is_found_in_the_right_zone() -> None:
    zones = zones_from_vision({"detectors": [
        {"detector_type": "motion", "region_id": "left", "region_coordinates": rect(0, 0, .5, 1)},
        {"detector_type": "motion", "region_id": "right", "region_coordinates": rect(.5, 0, 1, 1)},
    ]})  # fmt: skip
    det = Detector(DetectorSettings(), zones)
    s = Scene()
    for f in warm(s):
        assert not det.process(f).motion
    results = [det.process(s.frame((400 + 12 * i, 150, 16, 40))) for i in range(8)]
    assert all(r.motion for r in results)
    assert all(r.zones == ("right",) for r in results)
    box = results[-1].box
    assert box is not None and 0.6 < box[0] < 0.9 and 0.3 < box[1] < 0.5


def test_a_far_person_is_found() -> None:
    """An 8x20 pixel object (0.07% of the picture) at the default sensitivity."""
    det = Detector()
    s = Scene(seed=1)
    for f in warm(s):
        det.process(f)
    hits = [det.process(s.frame((100 + 4 * i, 200, 8, 20))).motion for i in range(10)]
    assert sum(hits) >= 8


def test_mask_out_zone_hides_motion_inside_it() -> None:
    zones = zones_from_vision({"detectors": [
        {"detector_type": "motion_mask", "region_id": "tree",
         "region_coordinates": rect(.5, 0, 1, 1)},
    ]})  # fmt: skip
    det = Detector(DetectorSettings(), zones)
    s = Scene()
    for f in warm(s):
        det.process(f)
    inside = [det.process(s.frame((400 + 12 * i, 150, 30, 60))) for i in range(10)]
    assert not any(r.motion for r in inside)
    assert run(det, [s.frame((400 + 12 * i, 150, 30, 60)) for i in range(10)]) == []
    outside = [det.process(s.frame((50 + 12 * i, 150, 30, 60))) for i in range(6)]
    assert all(r.motion for r in outside)


@pytest.mark.parametrize("kind", ["lights_on", "lights_off", "ir_switch"])
def test_sudden_global_change_does_not_open_an_episode(kind: str) -> None:
    det = Detector()
    s = Scene(seed=2)
    frames = warm(s, 30)
    after = {"lights_on": {"gain": 1.5}, "lights_off": {"gain": 0.45},
             "ir_switch": {"curve": True}}[kind]  # fmt: skip
    frames += [s.frame(**after) for _ in range(40)]  # type: ignore[arg-type]
    assert [a for a in run(det, frames) if isinstance(a, Opened)] == []


def test_motion_right_after_a_light_switch_is_seen_within_a_few_frames() -> None:
    det = Detector()
    s = Scene(seed=3)
    for f in warm(s):
        det.process(f)
    # the light switches while a person walks: at most global_frames frames are lost
    hits = [det.process(s.frame((100 + 10 * i, 150, 20, 50), gain=1.5)).motion
            for i in range(8)]  # fmt: skip
    first = hits.index(True)
    assert first <= DetectorSettings().global_frames + 1 and all(hits[first:])


def test_sensor_noise_alone_does_not_open_an_episode() -> None:
    for noise in (2.0, 6.0, 10.0):
        det = Detector()
        s = Scene(seed=4, noise=noise)
        frames = [s.frame() for _ in range(300)]
        assert run(det, frames) == [], noise


def test_slow_lighting_ramp_does_not_open_an_episode() -> None:
    det = Detector()
    s = Scene(seed=5)
    frames = [s.frame(gain=1.0 - 0.5 * i / 200) for i in range(200)]
    assert run(det, frames) == []


def test_sensitivity_trades_object_size() -> None:
    assert DetectorSettings(sensitivity=90).min_area < DetectorSettings(sensitivity=10).min_area
    assert DetectorSettings(sensitivity=90).k < DetectorSettings(sensitivity=10).k


def test_polygon_mask_is_even_odd_and_normalized() -> None:
    m = polygon_mask(((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)), 10, 4)
    assert m[:, :5].all() and not m[:, 5:].any()
    tri = polygon_mask(((0.0, 0.0), (1.0, 0.0), (0.0, 1.0)), 100, 100)
    assert 0.45 < tri.mean() < 0.55


def test_episode_tracker_opens_at_first_motion_and_closes_at_last() -> None:
    t = EpisodeTracker(open_frames=3, close_after=2.0)
    seq = [False] * 5 + [True] * 10 + [False] * 15
    acts = []
    for i, m in enumerate(seq):
        acts += [(i * 0.2, a) for a in t.feed(i * 0.2, m, 0.01 * (i % 7))]
    opened = [a for _, a in acts if isinstance(a, Opened)]
    closed = [a for _, a in acts if isinstance(a, Closed)]
    assert len(opened) == 1 and opened[0].episode.opened_at == pytest.approx(1.0)
    assert len(closed) == 1 and closed[0].closed_at == pytest.approx(2.8)
    assert closed[0].reason == "quiet"
    # a single blip does not open one
    t2 = EpisodeTracker(open_frames=3)
    assert [a for i in range(20) for a in t2.feed(i * 0.2, i == 7)] == []


def test_vision_is_validated_with_field_paths() -> None:
    with pytest.raises(ConfigError) as ei:
        parse_stream({"name": "a", "inputs": [{"url": "rtsp://h/x"}], "vision": {
            "detectors": [{"detector_type": "motion", "region_coordinates": [{"x": 2, "y": 0}]},
                          {"detector_type": "motion", "region_coordinates": rect(0, 0, 1, 1.5)}],
            "motion": {"sensitivity": 0, "fps": "fast"}}})  # fmt: skip
    paths = {e.path for e in ei.value.errors}
    assert paths == {
        "stream.vision.detectors[0].region_coordinates",
        "stream.vision.detectors[1].region_coordinates[2].y",
        "stream.vision.detectors[1].region_coordinates[3].y",
        "stream.vision.motion.sensitivity",
        "stream.vision.motion.fps",
    }
