"""The consumer end shared by the hub's and the event bus's subscriptions.

A bounded queue filled from the event loop without ever waiting; the owner decides what
to drop when it is full (the hub skips to the next keyframe, the bus drops the oldest
event).  One consumer awaits it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Generic, Self, TypeVar

T = TypeVar("T")


class Mailbox(Generic[T]):
    def __init__(self, name: str, maxsize: int) -> None:
        self.name = name
        self.maxsize = maxsize
        self.drops = 0
        self.closed = False
        self._queue: deque[T] = deque()
        self._waiter: asyncio.Future[None] | None = None

    # -- producer side (subclasses call these from their _offer) -----------------------
    def _put(self, item: T) -> None:
        self._queue.append(item)
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _detach(self) -> None:
        """Called once on close: unregister from the owner."""

    # -- consumer side ------------------------------------------------------------------
    def qsize(self) -> int:
        return len(self._queue)

    def get_nowait(self) -> T | None:
        return self._queue.popleft() if self._queue else None

    def drain(self, limit: int = 256) -> list[T]:
        """Everything queued now (up to ``limit``), without waiting."""
        out: list[T] = []
        q = self._queue
        while q and len(out) < limit:
            out.append(q.popleft())
        return out

    async def wait(self) -> None:
        """Wait until at least one item is queued; EOFError once closed and empty."""
        while not self._queue:
            if self.closed:
                raise EOFError(self.name)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def get(self) -> T:
        await self.wait()
        return self._queue.popleft()

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        while True:
            try:
                yield await self.get()
            except EOFError:
                return

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._detach()
            self._wake()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
