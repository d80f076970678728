"""Cutting hub packets into fMP4 segment files (runs in the recorder's worker thread).

A segment starts on a video keyframe, lasts at least the target duration and ends at the
next keyframe after it, or earlier at a timestamp discontinuity, a parameter change or
a source gap.  Files are written as ``NAME.mp4.part``, flushed and fsynced, then renamed:
a file without ``.part`` is always whole, and only whole files get an index row.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import av

from gateway.media.hub import SourceGap
from gateway.media.packet import Packet, StreamInfo
from gateway.store.recordings import Segment

log = logging.getLogger(__name__)

MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
PART = ".part"
TARGET_SLACK = 0.1  # seconds


class DiskFull(OSError):
    """The filesystem has no room for the segment being written."""


def segment_relpath(stream: str, start_ms: int) -> str:
    day = time.strftime("%Y-%m-%d", time.gmtime(start_ms / 1000))
    return f"{stream}/{day}/{start_ms:013d}.mp4"


def codecs_json(info: StreamInfo) -> str:
    v = info.video
    return json.dumps([v.describe()] if v else [], separators=(",", ":"))


@dataclass
class _Open:
    container: av.container.OutputContainer
    stream: av.video.stream.VideoStream
    relpath: str
    part: Path
    start_time: float
    first_dts: int
    last_dts: int
    last_duration: int
    info: StreamInfo
    packets: int = 0


class SegmentWriter:
    """Not thread-safe: one recorder thread calls it."""

    def __init__(self, root: Path, stream: str, target: float = 2.0, max_duration: float = 60.0):
        self.root = root
        self.stream = stream
        self.target = target
        self.max_duration = max_duration
        self._cur: _Open | None = None
        self.dropped_before_keyframe = 0
        self._finished_before_error: list[Segment] = []

    @property
    def current_path(self) -> Path | None:
        return self._cur.part if self._cur else None

    def feed(self, items: list[Packet | SourceGap]) -> list[Segment]:
        """Write packets; returns the segments finished by them (files whole, fsynced).

        When it raises (a full disk), the segments it finished before the error are kept
        for :meth:`take_finished`, so that no whole file goes unindexed.
        """
        done: list[Segment] = []
        try:
            self._feed(items, done)
        except OSError:
            self._finished_before_error = done
            raise
        return done

    def take_finished(self) -> list[Segment]:
        done, self._finished_before_error = self._finished_before_error, []
        return done

    def _feed(self, items: list[Packet | SourceGap], done: list[Segment]) -> None:
        for item in items:
            if isinstance(item, SourceGap):
                self._finish_into(done, None)
                continue
            if not item.is_video:
                continue  # audio is carried to live viewers; segments hold video only
            cur = self._cur
            if cur is not None:
                elapsed = (item.dts - cur.first_dts) * float(item.time_base)
                new_run = item.info is not cur.info or item.discontinuity
                # A keyframe due exactly at the target (GOP dividing it) may arrive a
                # hair early on a jittery clock: count it, or segments alternate 2 s/3 s.
                if new_run or (item.keyframe and elapsed >= self.target - TARGET_SLACK):
                    # At a discontinuity the media's own end counts, but never past where
                    # the next segment starts (a camera clock that ran fast steps back).
                    self._finish_into(done, None if new_run else item.time, limit=item.time)
                    cur = None
                elif elapsed >= self.max_duration and item.keyframe:
                    self._finish_into(done, item.time)
                    cur = None
            if cur is None:
                if not item.keyframe:
                    self.dropped_before_keyframe += 1
                    continue
                cur = self._open(item)
            self._write(cur, item)

    def finish(self) -> Segment | None:
        """Close the segment in progress (shutdown, gap)."""
        done: list[Segment] = []
        self._finish_into(done, None)
        return done[0] if done else None

    def abort(self) -> None:
        """Drop the segment in progress (disk full): its file is removed."""
        cur, self._cur = self._cur, None
        if cur is None:
            return
        try:
            cur.container.close()
        except (OSError, av.FFmpegError):
            pass
        try:
            cur.part.unlink()
        except FileNotFoundError:
            pass

    # ---------------------------------------------------------------------------------
    def _open(self, first: Packet) -> _Open:
        start_ms = int(round(first.time * 1000))
        relpath = segment_relpath(self.stream, start_ms)
        final = self.root / relpath
        n = 1
        while final.exists():  # the camera's clock went back over recorded time
            relpath = relpath.removesuffix(".mp4").split("-")[0] + f"-{n}.mp4"
            final = self.root / relpath
            n += 1
        final.parent.mkdir(parents=True, exist_ok=True)
        part = final.with_name(final.name + PART)
        track = first.info.video
        assert track is not None
        try:
            # flush_packets: each fragment reaches the file as soon as it is complete, so
            # a crash leaves whole fragments that start-up reconciliation can salvage.
            container = av.open(
                str(part), "w", format="mp4", options={"movflags": MOVFLAGS, "flush_packets": "1"}
            )
            vs = container.add_mux_stream(
                track.codec, width=track.width, height=track.height, time_base=track.time_base
            )
        except OSError as exc:
            raise _disk_error(exc) from exc
        cur = _Open(
            container=container,
            stream=vs,  # type: ignore[arg-type]
            relpath=relpath,
            part=part,
            start_time=first.time,
            first_dts=first.dts,
            last_dts=first.dts,
            last_duration=first.duration,
            info=first.info,
        )
        self._cur = cur
        return cur

    def _write(self, cur: _Open, p: Packet) -> None:
        pkt = av.Packet(p.data)
        pkt.pts = p.pts - cur.first_dts
        pkt.dts = p.dts - cur.first_dts
        pkt.duration = p.duration
        pkt.time_base = p.time_base
        pkt.is_keyframe = p.keyframe
        pkt.stream = cur.stream
        try:
            cur.container.mux(pkt)
        except OSError as exc:
            raise _disk_error(exc) from exc
        cur.last_dts = p.dts
        cur.last_duration = p.duration or cur.last_duration
        cur.packets += 1

    def _finish_into(
        self, done: list[Segment], end_time: float | None, limit: float | None = None
    ) -> None:
        cur, self._cur = self._cur, None
        if cur is None:
            return
        tb = float(cur.info.video.time_base) if cur.info.video else 1 / 90000
        if end_time is None:
            end_time = cur.start_time + (cur.last_dts + cur.last_duration - cur.first_dts) * tb
            if limit is not None and cur.start_time < limit < end_time:
                end_time = limit
        start_ms = int(round(cur.start_time * 1000))
        end_ms = int(round(end_time * 1000))
        try:
            cur.container.close()
            if end_ms <= start_ms or cur.packets == 0:
                cur.part.unlink(missing_ok=True)
                return
            fd = os.open(cur.part, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            final = cur.part.with_name(cur.part.name.removesuffix(PART))
            os.rename(cur.part, final)
            size = final.stat().st_size
        except OSError as exc:
            cur.part.unlink(missing_ok=True)
            raise _disk_error(exc) from exc
        except av.FFmpegError as exc:
            log.warning("stream %s: could not finish segment: %s", self.stream, exc)
            cur.part.unlink(missing_ok=True)
            return
        v = cur.info.video
        done.append(
            Segment(
                stream=self.stream,
                start_ms=start_ms,
                end_ms=end_ms,
                bytes=size,
                path=cur.relpath,
                codecs=codecs_json(cur.info),
                width=v.width if v else 0,
                height=v.height if v else 0,
                generation=cur.info.generation,
            )
        )


def _disk_error(exc: OSError) -> OSError:
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(exc.errno, exc.strerror or "no space left on device")
    return exc
