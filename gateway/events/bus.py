"""In-process event bus: publishers never wait; each subscriber has a bounded queue.

A subscriber that falls behind loses its oldest events (counted in ``drops``), never the
publisher's time.  Everything runs on the event loop.  Publish only facts that are already
stored (the row is committed first), so a consumer that missed an event can re-read the
store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.mailbox import Mailbox


@dataclass(frozen=True)
class Event:
    kind: str  # e.g. "motion.episode_opened", "motion.episode_closed"
    stream: str
    time: float = field(default_factory=time.time)
    data: dict[str, Any] = field(default_factory=dict)


class BusSubscription(Mailbox[Event]):
    def __init__(self, bus: EventBus, maxsize: int, accept: Callable[[Event], bool] | None):
        super().__init__("bus subscription", maxsize)
        self.bus = bus
        self.accept = accept

    def _offer(self, event: Event) -> None:
        if self.accept is not None and not self.accept(event):
            return
        if len(self._queue) >= self.maxsize:
            self._queue.popleft()
            self.drops += 1
        self._put(event)

    def _detach(self) -> None:
        self.bus._remove(self)


class EventBus:
    def __init__(self, default_queue: int = 256) -> None:
        self.default_queue = default_queue
        self._subs: list[BusSubscription] = []
        self.published = 0
        self.drops_closed = 0

    def publish(self, event: Event) -> None:
        self.published += 1
        for sub in self._subs:
            sub._offer(event)

    def subscribe(
        self, maxsize: int | None = None, accept: Callable[[Event], bool] | None = None
    ) -> BusSubscription:
        sub = BusSubscription(self, maxsize or self.default_queue, accept)
        self._subs.append(sub)
        return sub

    def _remove(self, sub: BusSubscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            self.drops_closed += sub.drops

    @property
    def drops(self) -> int:
        return self.drops_closed + sum(s.drops for s in self._subs)
