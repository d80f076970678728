"""Turning demuxed PyAV packets into hub Packets: tracks, timelines, parameter-set changes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av

from gateway.media import nal
from gateway.media.packet import AUDIO_CODECS, VIDEO_CODECS, Packet, StreamInfo, TrackInfo
from gateway.sources.timeline import Timeline

log = logging.getLogger(__name__)


def probe_dimensions(codec: str, extradata: bytes | None, keyframe: bytes) -> tuple[int, int]:
    """Decode one keyframe to learn the picture size (used once per parameter change)."""
    ctx: Any = av.CodecContext.create(codec, "r")
    if extradata:
        ctx.extradata = extradata
    ctx.thread_count = 1
    try:
        for frame in ctx.decode(av.Packet(keyframe)):
            return frame.width, frame.height
        for frame in ctx.decode(None):
            return frame.width, frame.height
    except av.FFmpegError:
        pass
    return 0, 0


class TrackMapper:
    """Owns the StreamInfo of one session and maps raw packets to hub Packets.

    A change of in-band video parameter sets (resolution, profile) makes a new StreamInfo
    generation, so recorders and muxers start afresh.
    """

    def __init__(
        self,
        tracks: list[TrackInfo],
        generation: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.info = StreamInfo(tuple(tracks), generation)
        self.timelines = [Timeline(t.time_base) for t in tracks]
        self._params: bytes | None = None
        self._clock = clock
        self._wall_offset = time.time() - clock()

    @property
    def generation(self) -> int:
        return self.info.generation

    def _video_changed(self, track: TrackInfo, data: bytes) -> None:
        params = nal.parameter_sets(track.codec, data)
        if not params:
            return
        if self._params is None:
            self._params = params
            if track.width and track.height:
                return
        elif params == self._params:
            return
        w, h = probe_dimensions(track.codec, None, data)
        self._params = params
        new_track = TrackInfo(
            index=track.index,
            kind="video",
            codec=track.codec,
            time_base=track.time_base,
            width=w or track.width,
            height=h or track.height,
            extradata=params,
        )
        if new_track == track:
            return
        log.info("video parameters changed: %sx%s -> %sx%s", track.width, track.height, w, h)
        tracks = list(self.info.tracks)
        tracks[track.index] = new_track
        self.info = StreamInfo(tuple(tracks), self.info.generation + 1)

    def map(
        self,
        index: int,
        data: bytes,
        pts: int | None,
        dts: int | None,
        duration: int,
        keyframe: bool,
    ) -> Packet:
        track = self.info.tracks[index]
        if track.kind == "video" and keyframe:
            self._video_changed(track, data)
        arrival = self._clock()
        m = self.timelines[index].map(pts, dts, duration, arrival + self._wall_offset)
        return Packet(
            info=self.info,
            track=index,
            data=data,
            pts=m.pts,
            dts=m.dts,
            duration=m.duration,
            keyframe=keyframe,
            time=m.time,
            arrival=arrival,
            discontinuity=m.discontinuity,
        )


def tracks_from_container(container: av.container.InputContainer) -> list[tuple[object, TrackInfo]]:
    """(PyAV stream, TrackInfo) for every stream we carry, video first."""
    out: list[tuple[object, TrackInfo]] = []
    video = [s for s in container.streams.video if s.codec_context.name in VIDEO_CODECS]
    audio = [s for s in container.streams.audio if s.codec_context.name in AUDIO_CODECS]
    for s in video[:1] + audio[:1]:
        cc: Any = s.codec_context
        tb = s.time_base or Fraction(1, 90000)
        if s.type == "video":
            info = TrackInfo(
                index=len(out),
                kind="video",
                codec=cc.name,
                time_base=tb,
                width=cc.width or 0,
                height=cc.height or 0,
                extradata=bytes(cc.extradata) if cc.extradata else None,
            )
        else:
            info = TrackInfo(
                index=len(out),
                kind="audio",
                codec=cc.name,
                time_base=tb,
                sample_rate=cc.sample_rate or 0,
                channels=cc.channels or 0,
                extradata=bytes(cc.extradata) if cc.extradata else None,
            )
        out.append((s, info))
    return out
