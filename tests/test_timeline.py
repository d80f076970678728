"""Timestamp normalisation and the reconnect backoff policy (pure)."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from gateway.sources.backoff import Backoff
from gateway.sources.timeline import Mapped, Timeline

TB = Fraction(1, 90000)
STEP = 3600  # 25 fps


def feed(tl: Timeline, raws: list[int], wall0: float = 1000.0) -> list[Mapped]:
    return [tl.map(r, r, STEP, wall0 + i / 25) for i, r in enumerate(raws)]


def assert_monotonic(out: list[Mapped]) -> None:
    for a, b in zip(out, out[1:], strict=False):
        assert b.dts > a.dts
        assert b.time > a.time
        assert b.duration > 0


def test_steady_stream_keeps_its_timestamps_and_wall_clock() -> None:
    tl = Timeline(TB)
    out = feed(tl, [5_000_000 + i * STEP for i in range(100)])
    assert [m.dts for m in out] == [i * STEP for i in range(100)]
    assert not any(m.discontinuity for m in out)
    assert out[-1].time == pytest.approx(1000.0 + 99 / 25)


def test_clock_jump_forward_is_a_discontinuity_without_a_hole() -> None:
    tl = Timeline(TB)
    raws = [i * STEP for i in range(50)] + [10**9 + i * STEP for i in range(50)]
    out = feed(tl, raws)
    assert_monotonic(out)
    assert [i for i, m in enumerate(out) if m.discontinuity] == [50]
    assert out[50].dts == out[49].dts + STEP  # continues one frame on, no absurd gap
    assert out[50].time - out[49].time < 0.2


@pytest.mark.parametrize("back", [STEP, 90000 * 30, 10**9])
def test_backwards_timestamps_become_a_discontinuity(back: int) -> None:
    tl = Timeline(TB)
    raws = [10**9 + i * STEP for i in range(50)]
    raws += [raws[-1] - back + i * STEP for i in range(50)]
    out = feed(tl, raws)
    assert_monotonic(out)
    assert out[50].discontinuity


def test_repeated_timestamps_are_nudged_forward() -> None:
    tl = Timeline(TB)
    out = feed(tl, [0, STEP, STEP, STEP, 2 * STEP])
    assert_monotonic(out)


def test_drift_from_wall_clock_is_a_discontinuity() -> None:
    # Timestamps advance at half speed: after > max_drift seconds apart, rebase.
    tl = Timeline(TB, max_drift=2.0)
    out = [tl.map(i * STEP // 2, i * STEP // 2, STEP // 2, 1000.0 + i / 25) for i in range(200)]
    assert_monotonic(out)
    assert any(m.discontinuity for m in out)
    # wall times never run more than max_drift away from arrival
    assert abs(out[-1].time - (1000.0 + 199 / 25)) <= 2.5


def test_fast_camera_clock_is_corrected_rarely_not_on_every_packet() -> None:
    """A camera clock 5% fast: a few re-anchors over 400 s, each stepping back to arrival."""
    tl = Timeline(TB)
    n = 400 * 25
    out = [tl.map(int(i * STEP * 1.05), int(i * STEP * 1.05), STEP, 1000.0 + i / 25)
           for i in range(n)]
    discs = [i for i, m in enumerate(out) if m.discontinuity]
    assert 1 <= len(discs) <= 6, len(discs)
    assert all(b.dts > a.dts for a, b in zip(out, out[1:], strict=False))
    assert all(abs(m.time - (1000.0 + i / 25)) <= 5.1 for i, m in enumerate(out))
    assert all(out[i].time < out[i - 1].time for i in discs)  # stepped back to arrival


def test_burst_after_a_stall_reanchors_once() -> None:
    tl = Timeline(TB)
    wall = [1000.0 + i / 25 for i in range(50)] + [1010.0 + i / 1000 for i in range(50)]
    out = [tl.map(i * STEP, i * STEP, STEP, w) for i, w in enumerate(wall)]
    assert [i for i, m in enumerate(out) if m.discontinuity] == [50]
    assert_monotonic(out)


def test_missing_timestamps_continue() -> None:
    tl = Timeline(TB)
    a = tl.map(0, 0, STEP, 1.0)
    b = tl.map(None, None, 0, 1.04)
    assert b.dts > a.dts and b.duration == STEP


def test_pts_keeps_composition_offset() -> None:
    tl = Timeline(TB)
    m = tl.map(7200 + 100, 100, STEP, 1.0)
    assert m.pts - m.dts == 7200


# -- backoff -----------------------------------------------------------------------------


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    b = Backoff()
    delays = [b.next_delay(0.1, rng) for _ in range(30)]
    assert all(0 < d <= 30.0 for d in delays)
    assert delays[0] <= 0.5
    assert max(delays) > 14  # reached the cap region
    assert all(d >= 15.0 for d in delays[10:])  # equal jitter: half the cap at least
    # jitter: not the same value every time
    assert len({round(d, 6) for d in delays[10:]}) > 5


def test_backoff_resets_after_a_healthy_minute() -> None:
    rng = random.Random(2)
    b = Backoff()
    for _ in range(10):
        b.next_delay(1.0, rng)
    assert b.next_delay(59.0, rng) >= 15.0  # less than a healthy minute: still backing off
    assert b.next_delay(60.0, rng) <= 0.5  # a healthy minute: start again from the base
