"""The recorder sink: hub subscription → segment files (worker thread) → DVR index rows.

The event loop only moves packets; muxing, fsync and rename run in one worker thread per
camera.  A segment's row is inserted after its file is whole, and retention is told about
every new segment so the total stays within one segment of the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from gateway.media.hub import Hub, SourceGap
from gateway.media.packet import Packet
from gateway.sinks.segment_writer import DiskFull, SegmentWriter
from gateway.store.recordings import Recordings, Segment

log = logging.getLogger(__name__)


@dataclass
class RecorderStats:
    segments: int = 0
    bytes: int = 0
    disk_full: int = 0
    errors: int = 0
    last_segment_end_ms: int = 0


class Recorder:
    def __init__(
        self,
        stream: str,
        hub: Hub,
        recordings: Recordings,
        segments_dir: Path,
        *,
        target: float = 2.0,
        on_segment: Callable[[Segment], None] | None = None,
        free_space: Callable[[], Awaitable[None]] | None = None,
        queue_size: int = 2048,
        batch_delay: float = 0.1,
    ) -> None:
        self.stream = stream
        self.hub = hub
        self.recordings = recordings
        self.writer = SegmentWriter(segments_dir, stream, target)
        self.on_segment = on_segment
        self.free_space = free_space
        self.queue_size = queue_size
        # Packets are handed to the worker thread in batches: one thread hop per batch
        # instead of per packet (the per-packet asyncio hop was most of the ingest CPU).
        self.batch_delay = batch_delay
        self.stats = RecorderStats()
        self._full_streak = 0  # disk-full events in a row
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"rec-{stream}")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"rec-{self.stream}")
        sub = self.hub.subscribe("recorder", maxsize=self.queue_size, from_gop=True)
        try:
            while True:
                await sub.wait()
                if self.batch_delay:
                    await asyncio.sleep(self.batch_delay)
                batch = sub.drain(self.queue_size)
                try:
                    done = await loop.run_in_executor(self._executor, self.writer.feed, batch)
                except DiskFull:
                    await self._index(self.writer.take_finished())
                    await self._disk_full(loop)
                    continue
                except OSError as exc:
                    self.stats.errors += 1
                    log.error("stream %s: recording error: %s", self.stream, exc)
                    await self._index(self.writer.take_finished())
                    await loop.run_in_executor(self._executor, self.writer.abort)
                    await asyncio.sleep(1.0)
                    continue
                if done:
                    await self._index(done)
        finally:
            rest = sub.drain(self.queue_size)
            sub.close()
            # Write what is queued, close the segment in progress and index it, even
            # while being cancelled.
            await asyncio.shield(self._close(loop, rest))

    def _finish(self, rest: list[Packet | SourceGap]) -> list[Segment]:
        done = self.writer.feed(rest) if rest else []
        seg = self.writer.finish()
        return done + ([seg] if seg is not None else [])

    async def _close(
        self, loop: asyncio.AbstractEventLoop, rest: list[Packet | SourceGap]
    ) -> None:
        try:
            await self._index(await loop.run_in_executor(self._executor, self._finish, rest))
        except DiskFull:
            await self._index(self.writer.take_finished())
            await loop.run_in_executor(self._executor, self.writer.abort)
        except Exception:  # shutdown path: log, never mask the cancellation
            log.exception("stream %s: closing the last segment failed", self.stream)
        finally:
            self._executor.shutdown(wait=False)

    async def _index(self, segments: list[Segment]) -> None:
        if not segments:
            return
        try:
            added = await self.recordings.add(segments)
        except sqlite3.OperationalError as exc:
            # SQLITE_FULL and friends: make room and try once more; a file that still
            # cannot be indexed is removed, so files and rows never disagree.
            self.stats.errors += 1
            log.error("stream %s: cannot index segments: %s", self.stream, exc)
            if self.free_space is not None:
                with contextlib.suppress(OSError):
                    await self.free_space()
            try:
                added = await self.recordings.add(segments)
            except sqlite3.OperationalError:
                await asyncio.to_thread(_unlink, [self.writer.root / s.path for s in segments])
                return
        self._full_streak = 0
        for seg in added:
            self.stats.segments += 1
            self.stats.bytes += seg.bytes
            self.stats.last_segment_end_ms = seg.end_ms
            if self.on_segment:
                self.on_segment(seg)

    async def _disk_full(self, loop: asyncio.AbstractEventLoop) -> None:
        self.stats.disk_full += 1
        self._full_streak += 1
        log.warning("stream %s: disk full, deleting the oldest recordings", self.stream)
        await loop.run_in_executor(self._executor, self.writer.abort)
        if self.free_space is not None:
            with contextlib.suppress(OSError, sqlite3.OperationalError):
                await self.free_space()
        # When there is nothing of ours left to delete, retry calmly until room appears.
        if self._full_streak > 1:
            await asyncio.sleep(min(2.0, 0.1 * 2 ** (self._full_streak - 2)))


def _unlink(paths: list[Path]) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)
