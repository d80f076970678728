"""Failed-login throttling, per client address and per login name (pure, clock passed in).

Every failure adds to two counters (the address and the login name, whether or not that
user exists, so the limiter never tells who exists).  After ``free`` failures a key must
wait ``base * 2**(n - free)`` seconds (capped) before the next attempt is even checked;
counters fade after ``forget`` seconds without failures.  A success clears both keys.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Entry:
    failures: int
    last: float


class LoginLimiter:
    def __init__(
        self,
        free: int = 5,
        base: float = 1.0,
        cap: float = 60.0,
        forget: float = 900.0,
        max_keys: int = 10_000,
    ) -> None:
        self.free = free
        self.base = base
        self.cap = cap
        self.forget = forget
        self.max_keys = max_keys
        self._entries: dict[str, _Entry] = {}

    def _delay(self, e: _Entry) -> float:
        if e.failures < self.free:
            return 0.0
        return min(self.cap, self.base * 2 ** (e.failures - self.free))

    def retry_after(self, keys: list[str], now: float) -> float:
        """Seconds the caller must still wait before an attempt for these keys; 0 = go."""
        wait = 0.0
        for k in keys:
            e = self._entries.get(k)
            if e is None:
                continue
            if now - e.last > self.forget:
                del self._entries[k]
                continue
            wait = max(wait, e.last + self._delay(e) - now)
        return max(0.0, wait)

    def failure(self, keys: list[str], now: float) -> None:
        if len(self._entries) >= self.max_keys:
            self._prune(now)
        for k in keys:
            e = self._entries.get(k)
            if e is None or now - e.last > self.forget:
                self._entries[k] = _Entry(1, now)
            else:
                e.failures += 1
                e.last = now

    def success(self, keys: list[str]) -> None:
        for k in keys:
            self._entries.pop(k, None)

    def _prune(self, now: float) -> None:
        for k in [k for k, e in self._entries.items() if now - e.last > self.forget]:
            del self._entries[k]
        while len(self._entries) >= self.max_keys:  # still full: drop the oldest
            oldest = min(self._entries, key=lambda k: self._entries[k].last)
            del self._entries[oldest]
