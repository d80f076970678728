"""WebRTC viewer sessions: negotiation, lifecycle and cleanup (the WHEP resources' state).

A session is one ``RTCPeerConnection`` sending one camera.  ``Sessions`` owns them all:
each session's lifetime runs as a task in one TaskGroup that lives as long as the web app.
A session ends on DELETE, when ICE fails or closes, when the viewer's RTCP falls silent
for ``RTCP_TIMEOUT`` (a vanished browser), when the camera's hub closes, or at shutdown;
ending frees the hub subscription and the ``camera.clients`` entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from gateway.media.hub import Hub

# aiortc (with cryptography, SRTP and ICE) is ~20 MB of memory: it is imported on the first
# WHEP offer, not at start-up, so a gateway nobody watches over WebRTC does not carry it.
if TYPE_CHECKING:
    from aiortc import RTCIceServer, RTCPeerConnection

    from gateway.cameras import Camera
    from gateway.config import WebRtcConfig
    from gateway.sinks.webrtc import ViewerFeed
    from gateway.sinks.webrtc_rtp import PayloadCache

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 15.0  # s from the answer to a connected ICE+DTLS transport
RTCP_TIMEOUT = 10.0  # s without any RTCP from the viewer once connected
INFO_WAIT = 3.0  # s to wait for a camera that has not delivered its first packet yet
MAX_SESSIONS = 64
NACK_LOST_RESTART = 64  # a NACK this long cannot be repaired (aiortc keeps 128 packets)


class SessionError(Exception):
    """A WHEP request that cannot become a session; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str, errors: dict[str, list[str]] | None = None,
                 *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors or {}
        self.retry_after = retry_after


class Session:
    def __init__(self, sid: str, camera: Camera, hub: Hub, pc: RTCPeerConnection,
                 feed: ViewerFeed) -> None:
        self.id = sid
        self.camera = camera
        self.hub = hub
        self.pc = pc
        self.feed = feed
        self.etag = f'"{secrets.token_hex(8)}"'
        self.created = time.monotonic()
        self.connected = asyncio.Event()
        self.done = asyncio.Event()
        self.finished = asyncio.Event()  # cleaned up: subscription closed, pc closed
        self.last_rtcp = 0.0
        self.reason = ""

    @property
    def stream(self) -> str:
        return self.camera.name

    def end(self, reason: str) -> None:
        if not self.done.is_set():
            self.reason = reason
            self.done.set()

    def describe(self) -> dict[str, Any]:
        """What ``GET /{name}/whep/{session}`` shows: state, counters, how it started."""
        st = self.feed.stats
        delays = sorted(st.delays)

        def pct(q: float) -> float | None:
            return round(delays[min(len(delays) - 1, int(q * len(delays)))] * 1000, 2) \
                if delays else None

        return {
            "id": self.id,
            "stream": self.stream,
            "state": self.pc.connectionState,
            "age": round(time.monotonic() - self.created, 3),
            "frames": st.frames,
            "bytes": st.bytes,
            "keyframes": st.keyframes,
            "audio_packets": st.audio,
            "plis": st.plis,
            "drops": self.feed.subscription.drops,
            "starts": [
                {"reason": x.reason, "keyframe": x.keyframe, "cached": x.cached,
                 "at": round(x.at - self.created, 3) if x.at else None}
                for x in st.starts
            ],
            "delay_ms": {"p50": pct(0.5), "p99": pct(0.99), "count": len(delays)},
        }

    def _on_rtcp(self, packet: Any) -> None:
        from aiortc.rtp import (
            RTCP_PSFB_FIR,
            RTCP_PSFB_PLI,
            RTCP_RTPFB_NACK,
            RtcpPsfbPacket,
            RtcpRtpfbPacket,
        )

        self.last_rtcp = time.monotonic()
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            self.feed.request_keyframe()
        elif (
            isinstance(packet, RtcpRtpfbPacket)
            and packet.fmt == RTCP_RTPFB_NACK
            and len(packet.lost) >= NACK_LOST_RESTART
        ):
            self.feed.request_keyframe()  # a burst loss (stalled viewer): restart at a keyframe

    async def run(self) -> None:
        """The session's whole life; returns once it has ended and is cleaned up."""
        try:
            waits = [asyncio.ensure_future(e.wait()) for e in (self.connected, self.done)]
            try:
                await asyncio.wait(waits, timeout=CONNECT_TIMEOUT,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
            if not self.connected.is_set():
                self.end("ice timeout")
            self.last_rtcp = time.monotonic()
            sent = self.feed.stats.frames
            while not self.done.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.done.wait(), 1.0)
                now = time.monotonic()
                if self.feed.stats.frames == sent:
                    # Nothing sent (camera reconnecting): browsers stop reporting on a
                    # silent stream, so silence now says nothing about the viewer.
                    self.last_rtcp = max(self.last_rtcp, now)
                sent = self.feed.stats.frames
                if self.feed.ended:
                    self.end("stream ended")
                elif now - self.last_rtcp > RTCP_TIMEOUT:
                    self.end("viewer silent")
        finally:
            self.feed.close()
            self.camera.clients.pop(self.id, None)
            await self.pc.close()
            log.info("webrtc %s %s ended: %s", self.stream, self.id[:8], self.reason or "closed")


class Sessions:
    """Every live viewer session; create with :meth:`open`, end with :meth:`close`."""

    def __init__(self, config: WebRtcConfig) -> None:
        self.config = config
        self.by_id: dict[str, Session] = {}
        self._payloads: PayloadCache | None = None
        self._tg: asyncio.TaskGroup | None = None

    @property
    def payloads(self) -> PayloadCache:
        """RTP payloads shared by all viewers (made with the first session)."""
        if self._payloads is None:
            from gateway.sinks.webrtc_rtp import PayloadCache

            self._payloads = PayloadCache()
        return self._payloads

    async def run(self, ready: Callable[[], None]) -> None:
        """Owns the session tasks; cancel it to end every session."""
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                ready()
                await asyncio.Event().wait()
        finally:
            self._tg = None

    def get(self, sid: str) -> Session | None:
        return self.by_id.get(sid)

    async def close(self, sid: str) -> bool:
        s = self.by_id.get(sid)
        if s is None:
            return False
        s.end("deleted")
        await s.finished.wait()
        return True

    def _ice_servers(self) -> list[RTCIceServer]:
        from aiortc import RTCIceServer

        return [RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
                for s in self.config.ice_servers]

    async def open(self, camera: Camera, offer: str) -> tuple[Session, str]:
        """Negotiate a new session for ``camera``; returns it and the SDP answer."""
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        from gateway.sinks import webrtc_rtp
        from gateway.sinks import webrtc_sdp as wsdp
        from gateway.sinks.webrtc import PacketTrack, ViewerFeed

        if self._tg is None:
            raise SessionError(503, "the gateway is shutting down", retry_after=5)
        if len(self.by_id) >= MAX_SESSIONS:
            raise SessionError(503, f"too many viewers (at most {MAX_SESSIONS})", retry_after=10)
        hub = await _video_hub(camera)
        info = hub.info
        assert info is not None and info.video is not None
        gop = hub.gop
        try:
            video_fmt = wsdp.choose_video(
                wsdp.offered_formats(offer, "video"),
                wsdp.sps_profile_level_id(info.video, gop[0].data if gop else None),
            )
        except wsdp.OfferError as exc:
            raise SessionError(422, str(exc), {exc.field: [str(exc)]}) from exc
        audio_track = next((t for t in info.tracks if t.kind == "audio"), None)
        audio_fmt = wsdp.choose_audio(
            wsdp.offered_formats(offer, "audio"), audio_track.codec if audio_track else None
        )
        offer = wsdp.restrict_offer(offer, "video", video_fmt)
        if audio_fmt is not None:
            offer = wsdp.restrict_offer(offer, "audio", audio_fmt)

        sid = secrets.token_urlsafe(16)
        feed = ViewerFeed(hub, f"webrtc:{sid[:8]}", gop_cache=self.config.gop_cache,
                          audio_clock=audio_fmt.clock if audio_fmt else None)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice_servers()))
        session = Session(sid, camera, hub, pc, feed)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            sender = pc.addTrack(PacketTrack("video", feed))
            _watch_rtcp(sender, session._on_rtcp)
            if webrtc_rtp.install(sender):
                feed.payload_cache = self.payloads
            if audio_fmt is not None:
                feed.audio = PacketTrack("audio", feed)
                pc.addTrack(feed.audio)
            await pc.setLocalDescription(await pc.createAnswer())
        except (ValueError, RuntimeError) as exc:  # aiortc: bad or unusable SDP
            feed.close()
            await pc.close()
            raise SessionError(400, f"cannot use this offer: {exc}", {"sdp": [str(exc)]}) from exc
        answer = wsdp.fix_answer(pc.localDescription.sdp, video_fmt)
        answer = wsdp.add_advertised(answer, self.config.advertise)

        @pc.on("connectionstatechange")
        def _state() -> None:
            st = pc.connectionState
            if st == "connected":
                session.connected.set()
            elif st in ("failed", "closed"):
                session.end(f"ice {st}")

        self.by_id[sid] = session
        camera.clients[sid] = "webrtc"
        assert self._tg is not None
        self._tg.create_task(self._run(session), name=f"webrtc-{sid[:8]}")
        log.info("webrtc %s %s: %s%s", camera.name, sid[:8], video_fmt.profile_level_id,
                 f" + {audio_fmt.name}" if audio_fmt else "")
        return session, answer

    async def _run(self, session: Session) -> None:
        """Supervises one session: whatever it raises ends only that session."""
        try:
            await session.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webrtc session %s failed", session.id[:8])
        finally:
            self.by_id.pop(session.id, None)
            session.finished.set()


async def _video_hub(camera: Camera) -> Hub:
    """The hub whose H.264 a browser can play: the main input, or the H.264 substream."""
    main = await _wait_info(camera.hub)
    if main is None:
        raise SessionError(503, f"stream {camera.name!r} has no video yet (camera offline?)",
                           retry_after=5)
    if main == "h264":
        return camera.hub
    if camera.sub_hub is not None and await _wait_info(camera.sub_hub) == "h264":
        return camera.sub_hub
    reason = (
        f"stream {camera.name!r} sends {main.upper()} video, which browsers cannot decode over"
        " WebRTC; configure an H.264 substream as its second input"
        + (" (the substream is not H.264 either)" if camera.sub_hub is not None else "")
    )
    raise SessionError(422, reason, {"codec": [f"{main} is not playable over WebRTC"]})


async def _wait_info(hub: Hub) -> str | None:
    deadline = time.monotonic() + INFO_WAIT
    while hub.info is None or hub.info.video is None:
        if time.monotonic() > deadline or hub.closed:
            return None
        await asyncio.sleep(0.05)
    return hub.info.video.codec


def _watch_rtcp(sender: Any, on_rtcp: Callable[[Any], None]) -> None:
    """See the viewer's RTCP (liveness, PLI/FIR) on its way into aiortc's sender."""
    inner: Callable[[Any], Awaitable[None]] = sender._handle_rtcp_packet

    async def handle(packet: Any) -> None:
        on_rtcp(packet)
        await inner(packet)

    sender._handle_rtcp_packet = handle
