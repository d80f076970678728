"""SourceRunner with scripted readers: backoff, quick retry after a productive session,
reader threads that end, and the hub told about every gap."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from gateway.config import InputConfig
from gateway.media.hub import Hub
from gateway.sources.backoff import Backoff
from gateway.sources.base import Emit, SourceAuthError, SourceEnded
from gateway.sources.runner import SourceRunner
from tests.peers.clips import encode, packets, video_info


@pytest.fixture
def listening() -> Iterator[tuple[str, int]]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield ("127.0.0.1", s.getsockname()[1])
    s.close()


class Streams:
    """Delivers a few packets, then the server 'ends the stream'."""

    def __init__(self, addr: tuple[str, int] | None, *, fail: bool = False) -> None:
        self.probe_address = addr
        self.fail = fail
        self.pk = packets(encode(5, gop=5), video_info())

    def run(self, emit: Emit, stop: threading.Event) -> None:
        if self.fail:
            raise SourceAuthError("401")
        for p in self.pk:
            emit(p)
        raise SourceEnded("the server ended the stream")


async def run_for(runner: SourceRunner, seconds: float) -> None:
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_productive_sessions_reconnect_quickly_while_port_is_open(
    listening: tuple[str, int],
) -> None:
    hub = Hub("cam")
    runner = SourceRunner("cam", InputConfig("rtsp://x/"), hub,
                          reader_factory=lambda inp, gen: Streams(listening),
                          backoff=Backoff(base=2.0))
    await run_for(runner, 6.0)
    # Backoff alone would wait 1-2, 2-4, 4-8 s (3 sessions); the quick retry ~1 s each.
    assert runner.state.sessions >= 5, runner.state
    assert hub.stats.gaps == runner.state.reconnects
    assert runner.state.status == "stopped"


async def test_failing_camera_backs_off(listening: tuple[str, int]) -> None:
    hub = Hub("cam")
    runner = SourceRunner("cam", InputConfig("rtsp://x/"), hub,
                          reader_factory=lambda inp, gen: Streams(listening, fail=True),
                          backoff=Backoff(base=0.5))
    await run_for(runner, 4.0)
    assert runner.state.sessions == 0
    assert 2 <= runner.state.reconnects <= 4, runner.state  # 0.25-0.5, 0.5-1, 1-2 s ...
    assert "authentication failed" in (runner.state.last_error or "")


async def test_generations_grow_and_threads_end() -> None:
    hub = Hub("cam")
    gens: list[int] = []

    def factory(inp: InputConfig, gen: int) -> Streams:
        gens.append(gen)
        return Streams(None)

    before = threading.active_count()
    runner = SourceRunner("cam", InputConfig("synthetic://"), hub, reader_factory=factory,
                          backoff=Backoff(base=0.1, cap=0.2))
    await run_for(runner, 1.5)
    assert len(gens) >= 3 and gens == sorted(set(gens))
    for _ in range(60):  # reader threads end once their session is over
        if threading.active_count() <= before:
            break
        await asyncio.sleep(0.05)
    assert threading.active_count() <= before
