"""A lean RTP send loop for passthrough video, installed into aiortc's RTCRtpSender.

aiortc's own loop builds an ``RtpPacket`` object, reads the clock twice and serializes
header extensions for every packet, and packetizes every frame once per viewer.  With a
4 Mbit/s camera that is ~400 packets/s per viewer, the main cost of a viewer.  Here:

- a frame is split into RTP payloads (aiortc's own H.264 packetizer) once, and the
  payloads are shared by every viewer (:class:`PayloadCache`);
- per frame, aiortc serializes one header with its extensions (mid, abs-send-time);
  the frame's other packets reuse it with their sequence number and marker patched in;
- the loop keeps aiortc's SRTP path (``RTCDtlsTransport._send_rtp``), its RTCP sender
  reports (the counters are kept up to date per frame) and answers NACKs from a history
  of raw packets (as RTX when negotiated).

It relies on aiortc 1.x sender internals (``_run_rtp``, ``_retransmit`` and a few private
attributes); :func:`install` checks them and leaves aiortc's loop in place if they moved.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aioice.ice import StunProtocol
from aiortc import clock
from aiortc.codecs.h264 import H264Encoder
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpsender import RTCRtpSender, random_sequence_number
from aiortc.rtp import RtpPacket
from aiortc.utils import random32, uint16_add

from gateway.media.packet import Packet

log = logging.getLogger(__name__)

HISTORY = 512  # packets kept for NACK (aiortc keeps 128)
_P = "_RTCRtpSender__"  # name-mangling prefix of RTCRtpSender's private attributes
_NEEDED = ("rtp_started", "rtp_exited", "rtp_header_extensions_map", "mid",
           "rtx_payload_type", "ntp_timestamp", "rtp_timestamp", "octet_count", "packet_count")


@dataclass(frozen=True, slots=True)
class EncodedVideo:
    """One access unit ready to send: its RTP payloads and its 90 kHz timestamp."""

    payloads: list[bytes]
    timestamp: int


class PayloadCache:
    """RTP payloads per hub packet, shared by every viewer of the gateway (bounded)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: collections.OrderedDict[int, tuple[Packet, list[bytes]]] = (
            collections.OrderedDict())
        self.hits = 0
        self.misses = 0

    def payloads(self, packet: Packet, data: Callable[[], bytes]) -> list[bytes]:
        """The payloads of ``packet`` whose bytes to send are ``data()`` (called on a miss)."""
        key = id(packet)
        hit = self._items.get(key)
        if hit is not None and hit[0] is packet:
            self.hits += 1
            return hit[1]
        self.misses += 1
        out = H264Encoder._packetize(H264Encoder._split_bitstream(data()))
        self._items[key] = (packet, out)
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return out


def supported(sender: Any) -> bool:
    return all(hasattr(sender, _P + name) for name in _NEEDED) and hasattr(sender, "_run_rtp")


def install(sender: RTCRtpSender) -> bool:
    """Replace the sender's RTP loop and retransmission by the lean ones."""
    if not supported(sender):
        log.warning("aiortc internals changed; using its own (slower) RTP loop")
        return False
    loop = LeanLoop(sender)
    sender._run_rtp = loop.run  # type: ignore[method-assign]
    sender._retransmit = loop.retransmit  # type: ignore[method-assign]
    return True


class LeanLoop:
    def __init__(self, sender: RTCRtpSender) -> None:
        self.sender = sender
        self.history: dict[int, tuple[bytes, bytes]] = {}  # seq % HISTORY -> header, payload
        self.rtx_seq = random_sequence_number()

    def _get(self, name: str) -> Any:
        return getattr(self.sender, _P + name)

    def _set(self, name: str, value: Any) -> None:
        setattr(self.sender, _P + name, value)

    def _direct(self) -> Callable[[bytes], bool] | None:
        """SRTP-protect and hand to the UDP socket without aiortc/aioice's coroutine chain
        (host and server-reflexive pairs; a TURN relay takes aiortc's path)."""
        dtls = self.sender.transport
        conn = getattr(dtls.transport, "_connection", None)
        if conn is None or not hasattr(dtls, "_tx_srtp") or not hasattr(conn, "_nominated"):
            return None
        connected = DtlsState.CONNECTED

        def send(data: bytes) -> bool:
            if dtls._state is not connected:
                raise ConnectionError("DTLS transport is not connected")
            pair = conn._nominated.get(1)
            if pair is None or type(pair.protocol) is not StunProtocol:
                return False
            pair.protocol.transport.sendto(dtls._tx_srtp.protect(data), pair.remote_addr)
            return True

        return send

    async def run(self, codec: Any) -> None:
        s = self.sender
        self._get("rtp_started").set()
        send: Callable[[bytes], Awaitable[None]] = s.transport._send_rtp
        direct = self._direct()
        ext_map = self._get("rtp_header_extensions_map")
        mid = self._get("mid")
        pt = codec.payloadType
        seq = random_sequence_number()
        origin = random32()
        history = self.history
        try:
            while True:
                track = s.track
                if track is None:
                    await asyncio.sleep(0.02)
                    continue
                frame = await track.recv()
                if not isinstance(frame, EncodedVideo) or not frame.payloads:
                    continue
                ts = (origin + frame.timestamp) & 0xFFFFFFFF
                payloads = frame.payloads
                first = RtpPacket(payload_type=pt, sequence_number=seq, timestamp=ts)
                first.ssrc = s._ssrc
                first.extensions.abs_send_time = (clock.current_ntp_time() >> 14) & 0x00FFFFFF
                first.extensions.mid = mid
                header = bytearray(first.serialize(ext_map))  # header + extensions, no payload
                last = len(payloads) - 1
                octets = 0
                for i, payload in enumerate(payloads):
                    header[1] = (0x80 if i == last else 0) | pt
                    struct.pack_into("!H", header, 2, seq)
                    head = bytes(header)
                    history[seq % HISTORY] = (head, payload)
                    if direct is None or not direct(head + payload):
                        await send(head + payload)
                    octets += len(payload)
                    seq = uint16_add(seq, 1)
                self._set("ntp_timestamp", clock.current_ntp_time())
                self._set("rtp_timestamp", ts)
                self._set("octet_count", self._get("octet_count") + octets)
                self._set("packet_count", self._get("packet_count") + len(payloads))
        except (asyncio.CancelledError, ConnectionError, MediaStreamError):
            pass
        finally:
            if s.track is not None:
                s.track.stop()
            self._get("rtp_exited").set()

    async def retransmit(self, sequence_number: int) -> None:
        item = self.history.get(sequence_number % HISTORY)
        if item is None:
            return
        head, payload = item
        if struct.unpack_from("!H", head, 2)[0] != sequence_number:
            return  # overwritten by a newer packet
        rtx_pt = self._get("rtx_payload_type")
        if rtx_pt is not None:
            h = bytearray(head)
            h[1] = (h[1] & 0x80) | rtx_pt
            struct.pack_into("!HII", h, 2, self.rtx_seq, struct.unpack_from("!I", head, 4)[0],
                             self.sender._rtx_ssrc)
            self.rtx_seq = uint16_add(self.rtx_seq, 1)
            data = bytes(h) + struct.pack("!H", sequence_number) + payload
        else:
            data = head + payload
        await self.sender.transport._send_rtp(data)
