"""In-process event bus: publishers never wait; each subscriber has a bounded queue.

A subscriber that falls behind loses its oldest events (counted in ``drops``), never the
publisher's time.  Everything runs on the event loop.  Publish only facts that are already
stored (the row is committed first), so a consumer that missed an event can re-read the
store.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    kind: str  # e.g. "motion.episode_opened", "motion.episode_closed"
    stream: str
    time: float = field(default_factory=time.time)
    data: dict[str, Any] = field(default_factory=dict)


class BusSubscription:
    def __init__(self, bus: EventBus, maxsize: int, accept: Callable[[Event], bool] | None):
        self.bus = bus
        self.maxsize = maxsize
        self.accept = accept
        self.drops = 0
        self.closed = False
        self._queue: deque[Event] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def _offer(self, event: Event) -> None:
        if self.accept is not None and not self.accept(event):
            return
        if len(self._queue) >= self.maxsize:
            self._queue.popleft()
            self.drops += 1
        self._queue.append(event)
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def get_nowait(self) -> Event | None:
        return self._queue.popleft() if self._queue else None

    async def get(self) -> Event:
        while not self._queue:
            if self.closed:
                raise EOFError("bus subscription closed")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._queue.popleft()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            try:
                yield await self.get()
            except EOFError:
                return

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.bus._remove(self)
            w = self._waiter
            if w is not None and not w.done():
                w.set_result(None)

    def __enter__(self) -> BusSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
