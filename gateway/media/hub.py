"""Per-camera fan-out: one publisher, many bounded subscribers, and a last-GOP cache.

Modeled on MediaMTX's per-reader ring buffers and go2rtc's bounded senders rather than
aiortc's unbounded MediaRelay: ``publish`` never waits; a subscriber whose queue is full
loses its backlog and resumes at the next video keyframe, and the loss is counted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from gateway.mailbox import Mailbox
from gateway.media.packet import Packet, StreamInfo


class SourceGap:
    """Queue marker: the source stopped (disconnect, shutdown); what follows is a new run."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "GAP"


GAP = SourceGap()
Item = Packet | SourceGap


@dataclass
class HubStats:
    packets: int = 0
    bytes: int = 0
    keyframes: int = 0
    gaps: int = 0
    drops_closed: int = 0  # drops of subscriptions that have ended
    last_packet_at: float = 0.0  # monotonic
    last_time: float = 0.0  # wall clock of the last packet's dts


class Subscription(Mailbox[Item]):
    """A bounded queue of hub items for one consumer; iterate it or call :meth:`get`.

    ``drops`` counts packets lost because this consumer fell behind.
    """

    def __init__(self, hub: Hub, name: str, maxsize: int, video_only: bool) -> None:
        super().__init__(name, maxsize)
        self.hub = hub
        self.video_only = video_only
        self.skipped = 0  # packets before the first keyframe (at start, after a gap)
        self.overflows = 0
        # A new subscriber (or one that overflowed) waits for a keyframe before it
        # takes anything: decoders and muxers need one to start.
        self._need_keyframe = True
        self._behind = False  # skipping to a keyframe after an overflow

    # -- publisher side (runs on the loop, never awaits) --------------------------------
    def _offer(self, item: Item) -> None:
        if isinstance(item, Packet):
            is_video = item.is_video
            if self.video_only and not is_video:
                return
            if self._need_keyframe:
                if not (is_video and item.keyframe) and item.info.video is not None:
                    if self._behind:
                        self.drops += 1
                    else:
                        self.skipped += 1
                    return
                self._need_keyframe = False
                self._behind = False
            if len(self._queue) >= self.maxsize:
                self.drops += len(self._queue) + 1
                self.overflows += 1
                self._queue.clear()
                self._need_keyframe = True
                self._behind = True
                if is_video and item.keyframe:
                    self._need_keyframe = False
                    self._behind = False
                else:
                    self._wake()
                    return
        else:
            self._need_keyframe = True
            self._behind = False
        self._put(item)

    def _detach(self) -> None:
        self.hub._remove(self)


class Hub:
    """Fan-out point of one camera.  Every method runs on the event loop."""

    def __init__(self, name: str, *, default_queue: int = 512) -> None:
        self.name = name
        self.default_queue = default_queue
        self.info: StreamInfo | None = None
        self.stats = HubStats()
        self._subs: list[Subscription] = []
        self._gop: list[Packet] = []
        self.closed = False

    # -- publishing --------------------------------------------------------------------
    def publish(self, packet: Packet) -> None:
        st = self.stats
        st.packets += 1
        st.bytes += len(packet.data)
        st.last_packet_at = time.monotonic()
        st.last_time = packet.time
        if packet.info is not self.info:
            self.info = packet.info
            self._gop = []
        if packet.is_video and packet.keyframe:
            st.keyframes += 1
            self._gop = [packet]
        elif self._gop:
            self._gop.append(packet)
            if len(self._gop) > 2000:  # a camera with absurd GOPs: keep memory bounded
                self._gop = []
        for sub in self._subs:
            sub._offer(packet)

    def publish_many(self, packets: list[Packet]) -> None:
        for p in packets:
            self.publish(p)

    def gap(self) -> None:
        """The source stopped: forget the GOP and tell every subscriber."""
        self.stats.gaps += 1
        self._gop = []
        for sub in self._subs:
            sub._offer(GAP)

    # -- subscribing -------------------------------------------------------------------
    def subscribe(
        self,
        name: str,
        *,
        maxsize: int | None = None,
        from_gop: bool = True,
        video_only: bool = False,
    ) -> Subscription:
        """A new subscription; with ``from_gop`` it starts with the cached last GOP."""
        sub = Subscription(self, name, maxsize or self.default_queue, video_only)
        if from_gop:
            for p in self._gop[-sub.maxsize :]:
                sub._offer(p)
        self._subs.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        try:
            self._subs.remove(sub)
        except ValueError:
            return
        self.stats.drops_closed += sub.drops

    @property
    def subscribers(self) -> list[Subscription]:
        return list(self._subs)

    @property
    def gop(self) -> list[Packet]:
        """The packets from the latest video keyframe on (a copy)."""
        return list(self._gop)

    @property
    def drops(self) -> int:
        return self.stats.drops_closed + sum(s.drops for s in self._subs)

    def close(self) -> None:
        self.closed = True
        for sub in list(self._subs):
            sub.close()
