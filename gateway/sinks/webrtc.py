"""One WebRTC viewer's media: camera packets → aiortc senders, never decoded or re-encoded.

A :class:`ViewerFeed` owns the viewer's one bounded hub subscription.  aiortc's video
sender pulls from :class:`PacketTrack` objects, whose ``recv`` returns ``av.Packet``s that
aiortc only packetizes (``H264Encoder.pack``); the feed hands each video access unit over
when its turn comes and forwards the camera's audio to the audio track on the way.

Instant start: the subscription begins with the hub's cached GOP (from its keyframe).
Frames that are *behind* (read from the camera more than ``LIVE_SLACK`` ago) are paced
out at ``CATCHUP_BPS``; every frame is stamped with the time it is handed over, so the
RTP clock always equals the send clock.  The browser's jitter buffer therefore sees a
keyframe that is "on time", plays the cached GOP as a short fast-forward and is live as
soon as the backlog is sent — no frame ever looks late, none waits for its old playout
time (which would add the GOP's age as permanent latency).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass, field
from fractions import Fraction

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from gateway.media import nal
from gateway.media.hub import Hub, SourceGap, Subscription
from gateway.media.packet import Packet
from gateway.sinks.webrtc_rtp import EncodedVideo, PayloadCache

log = logging.getLogger(__name__)

VIDEO_CLOCK = 90000
VIDEO_TB = Fraction(1, VIDEO_CLOCK)
LIVE_SLACK = 0.12  # s; an older frame is part of a backlog and is paced out
CATCHUP_BPS = 40e6  # bit/s while sending a backlog (the cached GOP)
MAX_BEHIND = 3.0  # s; further behind than this, restart from the latest GOP
MIN_TS_STEP = 90  # 1 ms of RTP clock between two frames at least
AUDIO_MAX_AGE = 0.3  # s; older audio (from the cache, a backlog) is dropped
RESYNC_INTERVAL = 4.0  # s; at most one cached-GOP restart per this (a struggling viewer's
# PLIs must not turn into a GOP resent every second); otherwise the next keyframe heals it
AUDIO_QUEUE = 64


class PacketTrack(MediaStreamTrack):
    """A track whose ``recv`` yields pre-encoded ``av.Packet``s."""

    def __init__(self, kind: str, feed: ViewerFeed) -> None:
        super().__init__()
        self.kind = kind
        self.feed = feed
        self._queue: collections.deque[av.Packet] = collections.deque(maxlen=AUDIO_QUEUE)
        self._waiter: asyncio.Future[None] | None = None

    def push(self, packet: av.Packet) -> None:
        self._queue.append(packet)  # bounded: a stalled audio sender loses the oldest
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def recv(self) -> av.Packet | EncodedVideo:  # type: ignore[override]
        if self.kind == "video":
            return await self.feed.next_video()
        while not self._queue:
            if self.readyState != "live" or self.feed.ended:
                raise MediaStreamError
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._queue.popleft()

    def stop(self) -> None:
        super().stop()
        self.push_end()

    def push_end(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)


@dataclass
class Start:
    """How the viewer's picture (re)started: the first video packet of a subscription."""

    reason: str  # "join", "pli", "behind", "gap"
    keyframe: bool = False
    cached: bool = False  # it came from the GOP cache (read before the subscription)
    at: float = 0.0  # monotonic, when it was handed to the sender


@dataclass
class FeedStats:
    frames: int = 0
    bytes: int = 0
    keyframes: int = 0
    audio: int = 0
    audio_stale: int = 0
    plis: int = 0
    starts: list[Start] = field(default_factory=list)
    # hub arrival → handed to SRTP, seconds, for live frames only (not the paced backlog)
    delays: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=4096))


class ViewerFeed:
    """The camera side of one viewer: its subscription, pacing and timestamp rewriting."""

    def __init__(self, hub: Hub, name: str, *, gop_cache: bool = True,
                 audio_clock: int | None = None, queue: int | None = None) -> None:
        self.hub = hub
        self.name = name
        self.gop_cache = gop_cache
        self.audio_clock = audio_clock
        self.queue = queue
        self.audio: PacketTrack | None = None
        # set when the lean RTP loop is installed: frames go out as shared RTP payloads
        self.payload_cache: PayloadCache | None = None
        self.stats = FeedStats()
        self.ended = False
        self._t0 = time.monotonic()
        self._last_dts = -MIN_TS_STEP
        self._next_slot = 0.0
        self._audio_anchor: tuple[int, Fraction, int] | None = None  # (src pts, tb, out pts)
        self._resync_at = 0.0
        self._resync: str | None = None
        self.resync_interval = RESYNC_INTERVAL
        self._sub = self._subscribe("join")

    @property
    def subscription(self) -> Subscription:
        return self._sub

    def _subscribe(self, reason: str) -> Subscription:
        self._started = time.monotonic()
        self._resync_at = self._started
        self.stats.starts.append(Start(reason))
        self._audio_anchor = None
        return self.hub.subscribe(self.name, maxsize=self.queue, from_gop=self.gop_cache)

    def request_keyframe(self) -> None:
        """The viewer lost picture (PLI/FIR): restart it from the cached keyframe."""
        self.stats.plis += 1
        if self.gop_cache and time.monotonic() - self._resync_at >= self.resync_interval:
            self._resync = "pli"

    def close(self) -> None:
        self.ended = True
        self._sub.close()
        if self.audio is not None:
            self.audio.push_end()

    # -- the video sender's pull ------------------------------------------------------
    async def next_video(self) -> av.Packet | EncodedVideo:
        while True:
            if self._resync is not None:
                reason, self._resync = self._resync, None
                self._sub.close()
                self._sub = self._subscribe(reason)
            try:
                item = self._sub.get_nowait() or await self._sub.get()
            except EOFError:
                item = None
            if item is None or self.ended:
                self.close()
                raise MediaStreamError
            if isinstance(item, SourceGap):
                self.stats.starts.append(Start("gap"))
                self._audio_anchor = None
                continue
            if not item.is_video:
                self._forward_audio(item)
                continue
            now = time.monotonic()
            age = now - item.arrival
            start = self.stats.starts[-1]
            if age > MAX_BEHIND and item.arrival >= self._started and self.gop_cache:
                self._resync = "behind"  # fell far behind live: jump to the newest GOP
                continue
            if age > LIVE_SLACK:
                if self._next_slot > now:
                    await asyncio.sleep(self._next_slot - now)
                    now = time.monotonic()
                self._next_slot = max(now, self._next_slot) + len(item.data) * 8 / CATCHUP_BPS
            return self._handover(item, now, age <= LIVE_SLACK, start)

    def _handover(self, item: Packet, now: float, live: bool, start: Start
                  ) -> av.Packet | EncodedVideo:
        if item.keyframe:
            self.stats.keyframes += 1
        if not start.at:
            start.at = now
            start.keyframe = item.keyframe
            start.cached = item.arrival < self._started
        dts = max(self._last_dts + MIN_TS_STEP, round((now - self._t0) * VIDEO_CLOCK))
        self._last_dts = dts
        pts = dts + round((item.pts - item.dts) * item.time_base * VIDEO_CLOCK)
        self.stats.frames += 1
        self.stats.bytes += len(item.data)
        if live:
            # Runs once the sender task yields, i.e. after the frame's RTP packets went out.
            asyncio.get_running_loop().call_soon(self._sent, item.arrival)
        if self.payload_cache is not None:
            return EncodedVideo(self.payload_cache.payloads(item, lambda: _sendable(item)), pts)
        out = av.Packet(_sendable(item))
        out.pts = pts
        out.time_base = VIDEO_TB
        return out

    def _sent(self, arrival: float) -> None:
        self.stats.delays.append(time.monotonic() - arrival)

    def _forward_audio(self, item: Packet) -> None:
        track, clock = self.audio, self.audio_clock
        if track is None or clock is None:
            return
        now = time.monotonic()
        if now - item.arrival > AUDIO_MAX_AGE:
            self.stats.audio_stale += 1
            self._audio_anchor = None
            return
        tb = item.time_base
        anchor = self._audio_anchor
        if anchor is None or anchor[1] != tb or item.discontinuity:
            anchor = (item.pts, tb, round((now - self._t0) * clock))
            self._audio_anchor = anchor
        out = av.Packet(item.data)
        out.pts = anchor[2] + round((item.pts - anchor[0]) * tb * clock)
        out.time_base = Fraction(1, clock)
        self.stats.audio += 1
        track.push(out)


def _sendable(item: Packet) -> bytes:
    """The access unit as sent: keyframes get SPS/PPS in front when the camera left them
    out of the stream (cameras that only announce them in their SDP)."""
    data = item.data
    if not item.keyframe:
        return data
    head = data[:64]
    for unit in nal.split_annexb(head):
        if nal.nal_type("h264", unit) == 7:
            return data
    video = item.info.video
    ext = video.extradata if video else None
    if ext and nal.is_annexb(ext) and not nal.parameter_sets("h264", data):
        return nal.parameter_sets("h264", ext) + data
    return data
