"""Still pictures: decode the fewest frames needed, encode one JPEG (worker threads only).

The live picture comes from the hub's last GOP (keyframe first); a recorded one from the
segment containing the wanted time, decoded from the last keyframe at or before it up to
the frame nearest that time.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av

from gateway.media.packet import Packet, TrackInfo


class NoPicture(Exception):
    """Nothing could be decoded."""


def encode_jpeg(frame: av.VideoFrame, quality: int = 4) -> bytes:
    """JPEG of ``frame`` by FFmpeg's mjpeg encoder (``quality``: qscale 2 best .. 31)."""
    ctx = av.CodecContext.create("mjpeg", "w")
    ctx.width = frame.width
    ctx.height = frame.height
    ctx.pix_fmt = "yuvj420p"
    ctx.time_base = Fraction(1, 25)
    ctx.options = {"qmin": str(quality), "qmax": str(quality)}
    img = frame.reformat(format="yuvj420p")
    img.pts = 0
    data = b"".join(bytes(p) for p in ctx.encode(img))
    data += b"".join(bytes(p) for p in ctx.encode(None))
    if not data:
        raise NoPicture("the JPEG encoder produced nothing")
    return data


def live_jpeg(gop: Sequence[Packet], track: TrackInfo) -> tuple[bytes, float]:
    """(JPEG, wall-clock time) of the newest frame of ``gop`` (which starts at a keyframe)."""
    ctx: av.VideoCodecContext = av.CodecContext.create(track.codec, "r")  # type: ignore[assignment]
    if track.extradata:
        ctx.extradata = track.extradata
    last: av.VideoFrame | None = None
    last_time = 0.0
    times = {p.pts: p.time + (p.pts - p.dts) * float(p.time_base) for p in gop}
    try:
        for p in gop:
            if p.track != track.index:
                continue
            pkt = av.Packet(p.data)
            pkt.pts, pkt.dts = p.pts, p.dts
            for f in ctx.decode(pkt):
                last, last_time = f, times.get(f.pts or 0, p.time)
        for f in ctx.decode(None):
            last, last_time = f, times.get(f.pts or 0, last_time)
    except av.FFmpegError as exc:
        if last is None:
            raise NoPicture(str(exc)) from exc
    if last is None:
        raise NoPicture("no frame decoded")
    return encode_jpeg(last), last_time


def recorded_jpeg(path: Path, start_ms: int, t_ms: int) -> tuple[bytes, float]:
    """(JPEG, wall-clock time) of the frame of segment ``path`` nearest ``t_ms``."""
    try:
        with av.open(str(path)) as inp:
            st = inp.streams.video[0]
            tb = float(st.time_base or 0) or 1 / 90000
            packets = [p for p in inp.demux(st) if p.size and p.pts is not None]
            if not packets:
                raise NoPicture("empty segment")

            def wall(p: av.Packet) -> float:
                return start_ms + (p.pts or 0) * tb * 1000

            target = min(packets, key=lambda p: abs(wall(p) - t_ms))
            idx = packets.index(target)
            key = max((i for i in range(idx + 1) if packets[i].is_keyframe), default=0)
            ctx = st.codec_context
            for p in packets[key:]:
                for f in ctx.decode(p):
                    if f.pts == target.pts:
                        return encode_jpeg(f), wall(target) / 1000
            for f in ctx.decode(None):
                if f.pts == target.pts:
                    return encode_jpeg(f), wall(target) / 1000
    except (OSError, av.FFmpegError) as exc:
        raise NoPicture(str(exc)) from exc
    raise NoPicture("the wanted frame did not decode")
