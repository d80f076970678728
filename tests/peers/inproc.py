"""The gateway run inside the test's own event loop (for tests that need its objects)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from gateway.app import Gateway
from gateway.config import Config


@contextlib.asynccontextmanager
async def running_gateway(
    config: Config, timeout: float = 20.0  # noqa: ASYNC109 - a start-up limit
) -> AsyncIterator[Gateway]:
    """Start ``Gateway(config)``; yields it once it listens; stops it on exit."""
    gw = Gateway(config)
    ready = asyncio.Event()
    task = asyncio.create_task(gw.run(on_ready=lambda _gw: ready.set()))
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait({task, waiter}, timeout=timeout,
                                 return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        task.result()  # raises what stopped it
        raise RuntimeError("gateway stopped before it was ready")
    if waiter not in done:
        waiter.cancel()
        task.cancel()
        raise TimeoutError("gateway did not become ready")
    try:
        yield gw
    finally:
        gw.stop()
        await asyncio.wait_for(task, 15)
