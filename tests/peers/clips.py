"""Encoded test media generated at test time with PyAV's libx264/libx265 (no files needed)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from gateway.media.packet import Packet, StreamInfo, TrackInfo

TB = Fraction(1, 90000)


@dataclass(frozen=True)
class Encoded:
    data: bytes  # Annex-B access unit
    pts: int
    dts: int
    keyframe: bool


def encode(
    frames: int,
    *,
    size: tuple[int, int] = (160, 96),
    fps: int = 25,
    gop: int = 25,
    codec: str = "libx264",
    start_pts: int = 0,
) -> list[Encoded]:
    """``frames`` frames of a moving gradient, Annex-B with in-band parameter sets."""
    w, h = size
    enc = av.CodecContext.create(codec, "w")
    enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
    enc.time_base = TB
    enc.framerate = Fraction(fps, 1)
    enc.gop_size = gop
    enc.thread_count = 1
    opts = {"preset": "ultrafast", "bf": "0"}
    if codec == "libx264":
        opts.update({"repeat-headers": "1", "keyint_min": str(gop), "sc_threshold": "0",
                     "tune": "zerolatency"})
    else:
        opts["x265-params"] = f"keyint={gop}:min-keyint={gop}:repeat-headers=1:log-level=none"
    enc.options = opts
    step = 90000 // fps
    out: list[Encoded] = []
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(frames):
        y = ((xx + yy + i * 4) % 256).astype(np.uint8)
        img = np.vstack((y, np.full((h // 2, w), 128, np.uint8)))
        frame = av.VideoFrame.from_ndarray(img, format="yuv420p")
        frame.pts = start_pts + i * step
        frame.time_base = TB
        for p in enc.encode(frame):
            out.append(Encoded(bytes(p), int(p.pts), int(p.dts), bool(p.is_keyframe)))
    for p in enc.encode(None):
        out.append(Encoded(bytes(p), int(p.pts), int(p.dts), bool(p.is_keyframe)))
    return out


def video_info(size: tuple[int, int] = (160, 96), codec: str = "h264", gen: int = 0) -> StreamInfo:
    return StreamInfo((TrackInfo(0, "video", codec, TB, size[0], size[1]),), gen)


def packets(
    enc: list[Encoded],
    info: StreamInfo,
    *,
    wall0: float = 1_700_000_000.0,
    dts0: int = 0,
    fps: int = 25,
) -> list[Packet]:
    """Hub packets with a steady wall clock (as a well-behaved camera would give)."""
    step = 90000 // fps
    base = enc[0].dts if enc else 0
    return [
        Packet(
            info=info,
            track=0,
            data=e.data,
            pts=e.pts - base + dts0,
            dts=e.dts - base + dts0,
            duration=step,
            keyframe=e.keyframe,
            time=wall0 + (e.dts - base) / 90000,
            arrival=0.0,
        )
        for e in enc
    ]
