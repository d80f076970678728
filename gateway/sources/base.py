"""What every source is: a blocking reader run in its own thread, and its named failures."""

from __future__ import annotations

import threading
from collections.abc import Callable
from fractions import Fraction
from typing import Protocol

from gateway.media.packet import Packet


class SourceError(Exception):
    """A source stopped; the runner reconnects with backoff."""


class SourceAuthError(SourceError):
    """The camera refused our credentials."""


class SourceUnreachable(SourceError):
    """No connection could be made or kept (refused, timed out, DNS)."""


class SourceEnded(SourceError):
    """The stream ended (the server closed it)."""


class SourceFormatError(SourceError):
    """The stream has nothing we can carry (no H.264/H.265 video)."""


Emit = Callable[[Packet], None]


class Reader(Protocol):
    """A blocking packet reader; ``run`` returns or raises when the session ends."""

    # (host, port) to probe cheaply while backing off, or None when not networked.
    probe_address: tuple[str, int] | None

    def run(self, emit: Emit, stop: threading.Event) -> None: ...


VIDEO_TIME_BASE = Fraction(1, 90000)
