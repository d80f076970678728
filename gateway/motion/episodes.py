"""Motion episodes: pure state machine from per-frame detector results to open/close.

An episode opens when at least ``open_frames`` of the last ``open_frames + 1`` detector
samples saw motion; its ``opened_at`` is the time of the first of those frames (not the
moment it was confirmed), so onset is reported where it happened.  It closes once no
motion was seen for ``close_after`` seconds; ``closed_at`` is the time of the last frame
with motion.  An episode longer than ``max_duration`` is closed (``max_duration``) and the
next frame with motion may open a new one.  A lost source closes it (``source_lost``).
The peak frame (largest moving area) is remembered for the preview picture.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class EpisodeState:
    opened_at: float
    last_motion: float
    peak_area: float
    peak_time: float
    zones: set[str] = field(default_factory=set)
    frames: int = 0


@dataclass(frozen=True)
class Opened:
    episode: EpisodeState


@dataclass(frozen=True)
class Peak:
    """The open episode has a new peak frame (the caller keeps that frame's picture)."""

    episode: EpisodeState


@dataclass(frozen=True)
class Closed:
    episode: EpisodeState
    closed_at: float
    reason: str  # "quiet", "max_duration", "source_lost", "shutdown"


Action = Opened | Peak | Closed


class EpisodeTracker:
    def __init__(
        self, open_frames: int = 3, close_after: float = 3.0, max_duration: float = 600.0
    ) -> None:
        self.open_frames = max(1, open_frames)
        self.close_after = close_after
        self.max_duration = max_duration
        self.recent: deque[tuple[float, bool, float]] = deque(maxlen=self.open_frames + 1)
        self.current: EpisodeState | None = None

    def feed(
        self, t: float, motion: bool, area: float = 0.0, zones: tuple[str, ...] = ()
    ) -> list[Action]:
        out: list[Action] = []
        ep = self.current
        if ep is not None:
            if motion:
                if t - ep.opened_at >= self.max_duration:
                    out.append(Closed(ep, ep.last_motion, "max_duration"))
                    self.current = ep = None
                    self.recent.clear()
                else:
                    ep.last_motion = t
                    ep.frames += 1
                    ep.zones.update(zones)
                    if area > ep.peak_area:
                        ep.peak_area, ep.peak_time = area, t
                        out.append(Peak(ep))
                    return out
            elif t - ep.last_motion >= self.close_after:
                out.append(Closed(ep, ep.last_motion, "quiet"))
                self.current = None
                self.recent.clear()
                return out
            else:
                return out
        self.recent.append((t, motion, area))
        hits = [r for r in self.recent if r[1]]
        if motion and len(hits) >= self.open_frames:
            first = hits[0]
            peak = max(hits, key=lambda r: r[2])
            ep = EpisodeState(
                opened_at=first[0],
                last_motion=t,
                peak_area=peak[2],
                peak_time=peak[0],
                zones=set(zones),
                frames=len(hits),
            )
            self.current = ep
            self.recent.clear()
            out.append(Opened(ep))
        return out

    def tick(self, t: float) -> list[Action]:
        """Time passed without a frame (no frames arrive): close a quiet episode."""
        ep = self.current
        if ep is not None and t - ep.last_motion >= self.close_after:
            self.current = None
            self.recent.clear()
            return [Closed(ep, ep.last_motion, "quiet")]
        return []

    def interrupt(self, reason: str) -> list[Action]:
        """The source stopped or the gateway stops: close what is open now."""
        self.recent.clear()
        ep, self.current = self.current, None
        return [Closed(ep, ep.last_motion, reason)] if ep is not None else []
