"""Keeps one input connected: a reader thread feeding the hub, reconnects with backoff.

While backing off from a camera whose port refuses connections, the runner knocks on the
port four times a second (a TCP connect, nothing more) and retries as soon as it opens:
a camera that returns records again within seconds, while one that keeps failing after
connecting (bad password, bad path) backs off exponentially to the 30 s cap.  After a
session that delivered media, a port that is still open gets a quick retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.config import InputConfig, redact_url
from gateway.media.hub import Hub
from gateway.media.packet import Packet
from gateway.sources.backoff import Backoff
from gateway.sources.base import Reader, SourceAuthError, SourceError

log = logging.getLogger(__name__)

QUICK_RETRY = 1.0  # seconds, after a session that delivered media when the port is open


def make_reader(inp: InputConfig, generation: int) -> Reader:
    scheme = urlsplit(inp.url).scheme
    if scheme == "synthetic":
        from gateway.sources.synthetic import SyntheticReader

        return SyntheticReader(inp.url, generation=generation)
    from gateway.sources.demux import DemuxReader

    return DemuxReader(inp.url, transport=inp.transport, generation=generation)


@dataclass
class SourceState:
    status: str = "starting"  # starting | connecting | running | retrying | stopped
    last_error: str | None = None
    reconnects: int = 0
    sessions: int = 0
    connected_at: float | None = None  # monotonic
    started_at: float = 0.0


async def _port_open(host: str, port: int, limit: float = 1.0) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), limit)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class SourceRunner:
    """Runs the reader for one input until cancelled."""

    def __init__(
        self,
        name: str,
        inp: InputConfig,
        hub: Hub,
        *,
        reader_factory: Callable[[InputConfig, int], Reader] = make_reader,
        backoff: Backoff | None = None,
        knock_interval: float = 0.25,
    ) -> None:
        self.name = name
        self.input = inp
        self.hub = hub
        self.reader_factory = reader_factory
        self.backoff = backoff or Backoff()
        self.knock_interval = knock_interval
        self.state = SourceState(started_at=time.monotonic())
        self._generation = 0
        self._threads: list[threading.Thread] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                reader = self.reader_factory(self.input, self._generation)
                self.state.status = "connecting"
                started = time.monotonic()
                sessions = self.state.sessions
                error = await self._session(loop, reader)
                productive = self.state.sessions > sessions  # it delivered media
                self.hub.gap()
                self.state.connected_at = None
                session = time.monotonic() - started
                self._generation += 1000  # room for parameter changes within a session
                self.state.reconnects += 1
                self.state.last_error = error
                self.state.status = "retrying"
                delay = self.backoff.next_delay(session)
                log.warning(
                    "stream %s: %s; retrying in %.1fs",
                    self.name,
                    error,
                    delay,
                    extra={"stream": self.name},
                )
                await self._wait_before_retry(reader, delay, productive)
        finally:
            self.state.status = "stopped"

    async def _session(self, loop: asyncio.AbstractEventLoop, reader: Reader) -> str:
        stop = threading.Event()
        done: asyncio.Future[str] = loop.create_future()
        first = True

        def deliver(packet: Packet) -> None:
            nonlocal first
            if first:
                first = False
                self.state.status = "running"
                self.state.sessions += 1
                self.state.connected_at = time.monotonic()
            self.hub.publish(packet)

        def emit(packet: Packet) -> None:  # reader thread
            loop.call_soon_threadsafe(deliver, packet)

        def finish(result: str) -> None:
            if not done.done():
                done.set_result(result)

        def target() -> None:
            try:
                reader.run(emit, stop)
                result = "the stream ended"
            except SourceAuthError as exc:
                result = f"authentication failed: {exc}"
            except SourceError as exc:
                result = str(exc)
            except Exception as exc:  # the reader thread's supervisor: log with traceback
                log.exception("stream %s: reader crashed", self.name)
                result = f"reader crashed: {exc!r}"
            with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
                loop.call_soon_threadsafe(finish, result)

        thread = threading.Thread(target=target, name=f"src-{self.name}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        try:
            return await done
        finally:
            stop.set()

    async def _wait_before_retry(self, reader: Reader, delay: float, productive: bool) -> None:
        deadline = time.monotonic() + delay
        addr = reader.probe_address
        if addr is None:
            await asyncio.sleep(delay)
            return
        was_open = await _port_open(*addr)
        if was_open and productive:
            # It streamed and its port is still there (it may already be back): retry
            # soon.  A camera that then fails to connect backs off as usual.
            deadline = min(deadline, time.monotonic() + QUICK_RETRY)
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(self.knock_interval, left))
            if time.monotonic() >= deadline:
                break
            is_open = await _port_open(*addr)
            if is_open and not was_open:
                log.info("stream %s: camera port open again, reconnecting", self.name)
                return
            was_open = is_open

    def join_threads(self, timeout: float) -> bool:
        """Wait for ended sessions' reader threads (they stop at their read timeout)."""
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def describe(self) -> str:
        return redact_url(self.input.url)
