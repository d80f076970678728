"""Pure reconnect policy: exponential backoff with jitter, capped, reset after health."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Backoff:
    base: float = 0.5
    cap: float = 30.0
    healthy_after: float = 60.0
    attempt: int = 0

    def next_delay(self, session_seconds: float, rng: random.Random | None = None) -> float:
        """Delay before the next attempt, given how long the last session ran."""
        if session_seconds >= self.healthy_after:
            self.attempt = 0
        ceiling = min(self.cap, self.base * (2**self.attempt))
        self.attempt = min(self.attempt + 1, 16)
        r = (rng or random).uniform(0.5, 1.0)  # "equal jitter": never 0, never above cap
        return ceiling * r
