"""Pure timestamp normalisation for one track.

Cameras send timestamps that jump (clock steps, RTP wrap, encoder restarts) or run
backwards.  Downstream every consumer wants per-track decode timestamps that only grow,
and a wall-clock time for each packet (which grows too, except that it may step back to
the arrival time at a discontinuity caused by a camera clock running fast).  A jump is
turned into a continuous timeline plus a ``discontinuity`` flag, so recorders start a new
segment but never write a negative or absurd duration.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True, slots=True)
class Mapped:
    pts: int
    dts: int
    duration: int
    time: float  # wall clock of dts (unix seconds)
    discontinuity: bool


class Timeline:
    """Maps raw (pts, dts) of one track to monotonically growing output timestamps."""

    def __init__(self, time_base: Fraction, *, max_jump: float = 5.0, max_drift: float = 5.0):
        self.time_base = time_base
        self._tb = float(time_base)
        self.max_jump_ticks = max(1, int(max_jump / self._tb))
        self.max_drift = max_drift
        self._raw_origin: int | None = None  # raw dts that maps to out_origin
        self._out_origin = 0
        self._wall_origin = 0.0  # wall clock of out_origin
        self._last_raw: int | None = None
        self._last_out = -1
        self._last_dur = 0

    def map(self, pts: int | None, dts: int | None, duration: int, arrival_wall: float) -> Mapped:
        raw = dts if dts is not None else pts
        if raw is None:  # no timestamp at all: continue from the previous one
            raw = (self._last_raw or 0) + max(self._last_dur, 1)
        cts = 0 if pts is None or dts is None else pts - dts
        disc = False
        if self._raw_origin is None:
            self._raw_origin = raw
            self._wall_origin = arrival_wall
        else:
            assert self._last_raw is not None
            step = raw - self._last_raw
            out_guess = self._out_origin + (raw - self._raw_origin)
            wall_guess = self._wall_origin + (out_guess - self._out_origin) * self._tb
            jumped = step <= 0 or step > self.max_jump_ticks
            if jumped or abs(wall_guess - arrival_wall) > self.max_drift:
                # Jump, reversal or drift: continue the output timeline one frame on.
                next_out = self._last_out + max(self._last_dur, 1)
                last_wall = self._wall_origin + (self._last_out - self._out_origin) * self._tb
                self._raw_origin = raw
                self._out_origin = next_out
                if jumped:
                    self._wall_origin = max(
                        arrival_wall, last_wall + max(self._last_dur, 1) * self._tb
                    )
                else:
                    # The camera's clock ran away from ours (a fast clock, or a burst after
                    # a stall): re-anchor on the arrival time, even when that steps the wall
                    # clock back, or every later packet would be flagged again.
                    self._wall_origin = arrival_wall
                disc = True
        out = self._out_origin + (raw - self._raw_origin)
        if out <= self._last_out:  # equal dts (e.g. B-frame oddities): nudge forward
            out = self._last_out + 1
        self._last_raw = raw
        if duration > 0:
            self._last_dur = duration
        elif self._last_out >= 0:
            self._last_dur = max(1, out - self._last_out)
        self._last_out = out
        wall = self._wall_origin + (out - self._out_origin) * self._tb
        return Mapped(
            pts=out + max(cts, 0),
            dts=out,
            duration=duration if duration > 0 else self._last_dur,
            time=wall,
            discontinuity=disc,
        )
