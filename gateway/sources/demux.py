"""RTSP and file inputs, demuxed by PyAV in the source's own thread.

PyAV releases the GIL while it waits on the network or the disk, so a reader thread per
camera costs little; the event loop only ever sees finished Packets.
"""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import unquote, urlsplit

import av
import av.error

from gateway.config import redact_url
from gateway.sources.base import (
    Emit,
    SourceAuthError,
    SourceEnded,
    SourceError,
    SourceFormatError,
    SourceUnreachable,
)
from gateway.sources.tracks import TrackMapper, tracks_from_container

log = logging.getLogger(__name__)

_MP4TOANNEXB = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}


def _open(
    url: str, options: dict[str, str], timeouts: tuple[float, float]
) -> av.container.InputContainer:
    started = time.monotonic()
    try:
        return av.open(url, options=options, timeout=timeouts)
    except av.error.HTTPUnauthorizedError as exc:
        raise SourceAuthError("camera refused the credentials (401)") from exc
    except av.error.HTTPForbiddenError as exc:
        raise SourceAuthError("camera refused access (403)") from exc
    except av.error.HTTPNotFoundError as exc:
        raise SourceError("stream path not found on the camera (404)") from exc
    except (av.error.ExitError, av.error.TimeoutError) as exc:
        raise SourceUnreachable("timed out opening the stream") from exc
    except av.error.FileNotFoundError as exc:
        raise SourceError(f"file not found: {exc.filename or url}") from exc
    except av.error.InvalidDataError as exc:
        # FFmpeg reports an open aborted by the timeout as invalid data.
        if time.monotonic() - started >= timeouts[0] * 0.9:
            raise SourceUnreachable(
                f"timed out opening the stream (no answer within {timeouts[0]:g} s)"
            ) from exc
        raise SourceError(f"cannot open stream: {exc.strerror}") from exc
    except OSError as exc:  # PyAV's errno errors are OSErrors: refused, unreachable, reset
        raise SourceUnreachable(f"cannot connect: {exc.strerror or exc}") from exc
    except av.FFmpegError as exc:  # its message names the URL: keep passwords out of logs
        raise SourceError(f"cannot open stream: {exc.strerror or type(exc).__name__}") from exc


class DemuxReader:
    """Reads an ``rtsp://``, ``rtsps://`` or ``file://`` input.

    Files are played in real time and looped, their timestamps continuing across loops.
    """

    def __init__(
        self,
        url: str,
        *,
        transport: str = "tcp",
        generation: int = 0,
        open_timeout: float = 5.0,
        read_timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.transport = transport
        self.generation = generation
        self.timeouts = (open_timeout, read_timeout)
        parts = urlsplit(url)
        self.is_file = parts.scheme == "file"
        self.path = unquote(parts.path) if self.is_file else url
        self.probe_address: tuple[str, int] | None = None
        if not self.is_file and parts.hostname:
            default = 322 if parts.scheme == "rtsps" else 554
            self.probe_address = (parts.hostname, parts.port or default)

    def __repr__(self) -> str:
        return f"DemuxReader({redact_url(self.url)})"

    def run(self, emit: Emit, stop: threading.Event) -> None:
        options: dict[str, str] = {}
        if not self.is_file:
            options = {
                "rtsp_transport": self.transport,
                "timeout": str(int(self.timeouts[1] * 1e6)),
                "fflags": "nobuffer",
                "max_delay": "500000",
                # Cameras describe their tracks in the SDP; probing for seconds only
                # delays the first keyframe (parameter sets are also read in-band).
                "analyzeduration": "200000",
                "probesize": "65536",
            }
        container = _open(self.path, options, self.timeouts)
        try:
            self._read(container, emit, stop)
        finally:
            container.close()

    def _read(
        self, container: av.container.InputContainer, emit: Emit, stop: threading.Event
    ) -> None:
        pairs = tracks_from_container(container)
        if not pairs or pairs[0][1].kind != "video":
            raise SourceFormatError("no H.264/H.265 video track in the stream")
        mapper = TrackMapper([t for _, t in pairs], self.generation)
        index_of = {s.index: t.index for s, t in pairs}  # type: ignore[attr-defined]
        bsfs = {}
        if self.is_file:
            for s, t in pairs:
                name = _MP4TOANNEXB.get(t.codec)
                ext = t.extradata or b""
                if name and ext[:1] == b"\x01":  # avcC/hvcC: convert to Annex-B in-band
                    bsfs[t.index] = av.bitstream.BitStreamFilterContext(name, s)  # type: ignore[arg-type]
        streams = [s for s, _ in pairs]
        loop_offset = [0] * len(pairs)  # per track, ticks added on each file loop
        last_end = [0] * len(pairs)
        start: list[int | None] = [None] * len(pairs)  # first raw dts of the file per track
        t0_wall = time.monotonic()
        first_dts = None
        tb0 = float(pairs[0][1].time_base)
        while not stop.is_set():
            got = False
            try:
                for raw in container.demux(streams):
                    if stop.is_set():
                        return
                    if raw.size == 0 or raw.stream_index not in index_of:
                        continue
                    got = True
                    idx = index_of[raw.stream_index]
                    pkts = bsfs[idx].filter(raw) if idx in bsfs else [raw]
                    for p in pkts:
                        if start[idx] is None and p.dts is not None:
                            start[idx] = p.dts
                        pts = None if p.pts is None else p.pts + loop_offset[idx]
                        dts = None if p.dts is None else p.dts + loop_offset[idx]
                        dur = int(p.duration or 0)
                        if dts is not None:
                            last_end[idx] = max(last_end[idx], dts + max(dur, 1))
                        if self.is_file and idx == 0 and dts is not None:
                            if first_dts is None:
                                first_dts = dts
                            due = t0_wall + (dts - first_dts) * tb0
                            delay = due - time.monotonic()
                            if delay > 0 and stop.wait(delay):
                                return
                        emit(mapper.map(idx, bytes(p), pts, dts, dur, bool(p.is_keyframe)))
            except (av.error.ExitError, av.error.TimeoutError) as exc:
                raise SourceUnreachable("no data within the read timeout") from exc
            except av.error.EOFError:
                pass
            except OSError as exc:
                raise SourceUnreachable(f"connection lost: {exc.strerror or exc}") from exc
            except av.FFmpegError as exc:
                raise SourceError(f"stream error: {exc.strerror or type(exc).__name__}") from exc
            if not self.is_file:
                raise SourceEnded("the server ended the stream")
            if not got:
                raise SourceFormatError("the file has no packets")
            # Loop the file: continue every track's timeline where the longest one ended.
            end_s = max(e * float(t.time_base) for e, (_, t) in zip(last_end, pairs, strict=True))
            for i, (_, t) in enumerate(pairs):
                loop_offset[i] = round(end_s / float(t.time_base)) - (start[i] or 0)
            container.seek(0)
