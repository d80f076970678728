"""Low-Latency HLS parts: a muxer fed from the hub while someone watches (worker thread).

PyAV's MP4 muxer cuts a fragment at every keyframe and every ``part_target`` seconds;
each fragment (moof+mdat) is one ``EXT-X-PART``; a segment is the run of parts from a
keyframe until it lasts ``segment_target``.  Timestamps are rebased to the first packet,
and each part remembers the wall-clock time of its start for PROGRAM-DATE-TIME.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import av

from gateway.media.mp4 import top_level_boxes
from gateway.media.packet import Packet, StreamInfo

MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"


@dataclass
class Part:
    data: bytes
    start: float  # wall clock (unix s)
    duration: float
    independent: bool


@dataclass
class LiveSegment:
    msn: int
    parts: list[Part] = field(default_factory=list)
    complete: bool = False

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.parts)

    @property
    def start(self) -> float:
        return self.parts[0].start if self.parts else 0.0

    def data(self) -> bytes:
        return b"".join(p.data for p in self.parts)


class _Sink:
    def __init__(self) -> None:
        self.buf = bytearray()

    def write(self, data: bytes | memoryview) -> int:
        self.buf += data
        return len(data)


class PartMuxer:
    """Not thread-safe: one worker thread feeds it; results are handed to the loop."""

    def __init__(self, info: StreamInfo, part_target: float) -> None:
        track = info.video
        assert track is not None
        self.info = info
        self.sink = _Sink()
        self.container = av.open(
            self.sink, "w", format="mp4",
            options={"movflags": MOVFLAGS, "frag_duration": str(int(part_target * 1e6)),
                     "flush_packets": "1"},
        )
        self.stream = self.container.add_mux_stream(
            track.codec, width=track.width, height=track.height, time_base=track.time_base
        )
        self.init: bytes | None = None
        self.first_dts: int | None = None
        self.first_time = 0.0
        self.tb = float(track.time_base)
        self.pending: list[Packet] = []  # packets in the fragment being built

    def feed(self, packets: list[Packet]) -> list[Part]:
        """Mux ``packets``; returns the parts they completed."""
        out: list[Part] = []
        for p in packets:
            if self.first_dts is None:
                self.first_dts, self.first_time = p.dts, p.time
            pkt = av.Packet(p.data)
            pkt.pts = p.pts - self.first_dts
            pkt.dts = p.dts - self.first_dts
            pkt.duration = p.duration
            pkt.time_base = p.time_base
            pkt.is_keyframe = p.keyframe
            pkt.stream = self.stream
            self.container.mux(pkt)
            out += self._collect(p)
            self.pending.append(p)
        return out

    def _collect(self, crossing: Packet) -> list[Part]:
        """Complete boxes now in the sink: the init once, then whole moof+mdat pairs."""
        parts: list[Part] = []
        consumed = 0
        moof: tuple[int, int] | None = None
        for kind, off, size in top_level_boxes(memoryview(self.sink.buf)):
            if kind == "moov" and self.init is None:
                self.init = bytes(self.sink.buf[: off + size])
                consumed = off + size
            elif kind == "moof":
                moof = (off, size)
            elif kind == "mdat" and moof is not None:
                data = bytes(self.sink.buf[moof[0] : off + size])
                consumed = off + size
                moof = None
                frag = self.pending
                self.pending = []
                if frag:
                    duration = (crossing.dts - frag[0].dts) * self.tb
                    parts.append(Part(data, frag[0].time, max(0.001, duration), frag[0].keyframe))
        if consumed:
            del self.sink.buf[:consumed]
        return parts

    def close(self) -> None:
        try:
            self.container.close()
        except (OSError, av.FFmpegError):
            pass
