"""Immutable media values passed from sources through the hub to every sink."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

VIDEO_CODECS = frozenset({"h264", "hevc"})
AUDIO_CODECS = frozenset({"aac", "pcm_alaw", "pcm_mulaw", "opus"})


@dataclass(frozen=True, slots=True)
class TrackInfo:
    index: int
    kind: str  # "video" | "audio"
    codec: str  # ffmpeg codec name: h264, hevc, aac, pcm_alaw, pcm_mulaw, opus
    time_base: Fraction
    width: int = 0
    height: int = 0
    sample_rate: int = 0
    channels: int = 0
    extradata: bytes | None = None

    def describe(self) -> dict[str, object]:
        d: dict[str, object] = {"content": self.kind, "codec": self.codec}
        if self.kind == "video":
            d.update(width=self.width, height=self.height)
        else:
            d.update(sample_rate=self.sample_rate, channels=self.channels)
        return d


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """The tracks of one uninterrupted run of a source.

    ``generation`` grows every time the source reconnects or its codec parameters change;
    a consumer that sees a new StreamInfo object starts afresh (new segment, new muxer).
    """

    tracks: tuple[TrackInfo, ...]
    generation: int = 0

    @property
    def video(self) -> TrackInfo | None:
        for t in self.tracks:
            if t.kind == "video":
                return t
        return None

    @property
    def video_index(self) -> int | None:
        v = self.video
        return v.index if v else None


@dataclass(frozen=True, slots=True)
class Packet:
    """One encoded access unit.

    ``pts``/``dts`` are in the track's ``time_base`` and never go backwards within one
    StreamInfo generation (the source rebases after clock jumps).  ``time`` is the wall
    clock (unix seconds) of ``dts``; ``arrival`` is when the gateway read it (monotonic).
    ``discontinuity`` marks the first packet after a timestamp jump: consumers that cut
    files start a new one.
    """

    info: StreamInfo
    track: int
    data: bytes
    pts: int
    dts: int
    duration: int
    keyframe: bool
    time: float
    arrival: float
    discontinuity: bool = False

    @property
    def is_video(self) -> bool:
        return self.track == self.info.video_index

    @property
    def time_base(self) -> Fraction:
        return self.info.tracks[self.track].time_base
