from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.peers.procs import RtspServer


@pytest.fixture
def rtsp_server() -> Iterator[RtspServer]:
    """A live H.264 640x360 25 fps camera with a 2 s GOP and basic auth (u/p)."""
    srv = RtspServer("--gop", "50", user="u", password="p").start()
    yield srv
    srv.stop()


@pytest.fixture
def rtsp_factory() -> Iterator[type[RtspServer]]:
    started: list[RtspServer] = []

    class Factory(RtspServer):
        def start(self, timeout: float = 15.0) -> RtspServer:
            started.append(self)
            return super().start(timeout)

    yield Factory
    for s in started:
        s.stop()
