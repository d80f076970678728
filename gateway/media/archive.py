"""A DVR range as one fragmented MP4, produced incrementally (runs in a worker thread).

The recorder's segments are remuxed (never transcoded) into one output whose timeline
is wall-clock time from the first keyframe at or before ``from``: a recording gap stays a
gap in the timestamps, so position t in the file is time ``start + t`` on the camera.
Output goes to a ``write`` callback in chunks, so a caller can stream it to a socket or a
file without ever holding the range in memory.  Segments whose codec parameters differ
from the first one (a camera reconfigured mid-range) cannot share one track and are
skipped, and counted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import av

MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
CHUNK = 256 * 1024


class ArchiveCancelled(Exception):
    """The consumer went away; production stops."""


@dataclass(frozen=True)
class Piece:
    path: Path
    start_ms: int
    end_ms: int


@dataclass
class ArchiveResult:
    bytes: int = 0
    packets: int = 0
    first_ms: int | None = None  # wall clock of the first frame written
    end_ms: int | None = None  # wall clock of the end of the last frame written
    skipped_segments: int = 0
    missing_segments: int = 0

    @property
    def duration(self) -> float:
        if self.first_ms is None or self.end_ms is None:
            return 0.0
        return (self.end_ms - self.first_ms) / 1000


class _Buffered:
    """File-like object for PyAV: collects writes into chunks for ``write``."""

    def __init__(self, write: Callable[[bytes], object], cancel: threading.Event) -> None:
        self._write = write
        self._cancel = cancel
        self._buf = bytearray()
        self.total = 0

    def write(self, data: bytes | memoryview) -> int:
        if self._cancel.is_set():
            raise ArchiveCancelled
        self._buf += data
        self.total += len(data)
        if len(self._buf) >= CHUNK:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._buf:
            chunk, self._buf = bytes(self._buf), bytearray()
            self._write(chunk)


def write_archive(
    pieces: Sequence[Piece],
    from_ms: int,
    to_ms: int,
    write: Callable[[bytes], object],
    *,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> ArchiveResult:
    """Remux ``pieces`` (oldest first) clipped to [from_ms, to_ms) into ``write``."""
    cancel = cancel or threading.Event()
    sink = _Buffered(write, cancel)
    res = ArchiveResult()
    out = av.open(sink, "w", format="mp4", options={"movflags": MOVFLAGS})
    ostream: av.video.stream.VideoStream | None = None
    signature: tuple[object, ...] | None = None
    pending: list[tuple[av.Packet, float]] = []  # the GOP that reaches back over from_ms
    started = False
    last_dts = -1
    span = max(1, to_ms - from_ms)
    try:
        for piece in pieces:
            if cancel.is_set():
                raise ArchiveCancelled
            try:
                inp = av.open(str(piece.path))
            except (OSError, av.FFmpegError):
                res.missing_segments += 1
                continue
            with inp:
                ist = inp.streams.video[0]
                cc = ist.codec_context
                sig = (cc.name, cc.width, cc.height, bytes(cc.extradata or b""))
                if ostream is None:
                    ostream = out.add_stream_from_template(ist)
                    signature = sig
                elif sig != signature:
                    res.skipped_segments += 1
                    continue
                tb = float(ist.time_base or 0) or 1 / 90000
                for pkt in inp.demux(ist):
                    if pkt.dts is None or pkt.size == 0:
                        continue
                    t_ms = piece.start_ms + pkt.dts * tb * 1000
                    if t_ms >= to_ms:
                        break
                    if not started:
                        if pkt.is_keyframe and t_ms <= from_ms:
                            pending = []
                        if pkt.is_keyframe or pending:
                            pending.append((pkt, t_ms))
                        if t_ms < from_ms or not pending:
                            continue
                        started = True
                        res.first_ms = int(round(pending[0][1]))
                        batch, pending = pending, []
                    else:
                        batch = [(pkt, t_ms)]
                    assert ostream is not None and res.first_ms is not None
                    for p, tm in batch:
                        last_dts = _mux(out, ostream, p, tm, res.first_ms, tb, last_dts)
                        dur = (p.duration or 0) * tb * 1000
                        res.end_ms = int(round(tm + dur))
                        res.packets += 1
                    if progress is not None:
                        progress(min(1.0, max(0.0, (t_ms - from_ms) / span)))
        if not started and pending and ostream is not None:
            # The range ends before a frame at or after ``from``: keep what reaches into it.
            res.first_ms = int(round(pending[0][1]))
            for p, tm in pending:
                last_dts = _mux(out, ostream, p, tm, res.first_ms, float(p.time_base), last_dts)
                res.end_ms = int(round(tm + (p.duration or 0) * float(p.time_base) * 1000))
                res.packets += 1
        out.close()
        sink.flush()
    except BaseException:
        cancel.set()
        try:
            out.close()
        except (ArchiveCancelled, OSError, av.FFmpegError):
            pass
        raise
    res.bytes = sink.total
    if progress is not None:
        progress(1.0)
    return res


def _mux(
    out: av.container.OutputContainer,
    ostream: av.video.stream.VideoStream,
    pkt: av.Packet,
    t_ms: float,
    first_ms: int,
    tb: float,
    last_dts: int,
) -> int:
    dts = int(round((t_ms - first_ms) / 1000 / tb))  # in the input's time base
    if dts <= last_dts:
        dts = last_dts + 1
    shift = dts - pkt.dts if pkt.dts is not None else 0
    pts = (pkt.pts + shift) if pkt.pts is not None else dts
    pkt.dts = dts
    pkt.pts = max(pts, dts)
    pkt.stream = ostream
    out.mux(pkt)
    return dts
