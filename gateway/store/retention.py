"""Ring-buffer retention: what to delete (pure) and deleting it (oldest first, small steps).

Limits: per stream (``dvr.storage_limit`` bytes, ``dvr.expiration`` seconds) and for the
whole gateway (``storage.storage_limit`` bytes or share of the filesystem, and
``storage.expiration``).  Beyond those, the filesystem always keeps ``storage.reserve``
bytes free: when something else fills the disk, the oldest recordings make room, so
recording never stops for lack of space.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config import StorageConfig
from gateway.store.recordings import Recordings, Segment

log = logging.getLogger(__name__)

CHUNK = 100  # rows per delete transaction


@dataclass(frozen=True)
class StreamPolicy:
    limit_bytes: int | None = None
    expiration: int | None = None  # seconds


@dataclass(frozen=True)
class Plan:
    expire_before_ms: dict[str, int] = field(default_factory=dict)
    free_per_stream: dict[str, int] = field(default_factory=dict)
    free_global: int = 0

    @property
    def empty(self) -> bool:
        return not (self.expire_before_ms or self.free_per_stream or self.free_global > 0)


def global_limit(storage: StorageConfig, fs_total: int, fs_free: int, ours: int) -> int:
    """Bytes our recordings may occupy now: the configured limit, and the disk's room."""
    configured = storage.storage_limit.resolve(fs_total)
    room = ours + fs_free - storage.reserve
    return max(0, min(configured, room))


def plan(
    usage: Mapping[str, int],
    policies: Mapping[str, StreamPolicy],
    *,
    now_ms: int,
    limit_bytes: int,
    expiration: int | None,
) -> Plan:
    """Pure: given bytes per stream and the limits, what must go."""
    expire: dict[str, int] = {}
    free: dict[str, int] = {}
    for name in usage:
        pol = policies.get(name, StreamPolicy())
        exps = [e for e in (pol.expiration, expiration) if e]
        if exps:
            expire[name] = now_ms - min(exps) * 1000
        if pol.limit_bytes is not None and usage[name] > pol.limit_bytes:
            free[name] = usage[name] - pol.limit_bytes
    total_after = sum(usage.values()) - sum(free.values())
    return Plan(expire, free, max(0, total_after - limit_bytes))


def _unlink_all(root: Path, segments: list[Segment]) -> None:
    for s in segments:
        try:
            os.unlink(root / s.path)
        except FileNotFoundError:
            pass


class Retention:
    """Applies the plan after every new segment and every ``interval`` seconds."""

    def __init__(
        self,
        recordings: Recordings,
        segments_dir: Path,
        storage: StorageConfig,
        policies: Callable[[], Mapping[str, StreamPolicy]],
        *,
        interval: float = 30.0,
    ) -> None:
        self.recordings = recordings
        self.root = segments_dir
        self.storage = storage
        self.policies = policies
        self.interval = interval
        self.deleted_segments = 0
        self.deleted_bytes = 0
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        # Rows whose files are already gone but whose delete failed (a full disk can
        # refuse even that); retried first at every pass.
        self._unlinked: list[Segment] = []

    def notify(self, _segment: Segment | None = None) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.enforce()
            except (OSError, sqlite3.Error) as exc:
                log.error("retention: %s", exc)

    def _fs(self) -> tuple[int, int]:
        st = os.statvfs(self.root)
        return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize

    async def enforce(self) -> int:
        """Delete what the plan says; returns the bytes freed."""
        async with self._lock:
            total, free = self._fs()
            usage = {k: u.bytes for k, u in self.recordings.usage.items() if u.count}
            p = plan(
                usage,
                self.policies(),
                now_ms=int(time.time() * 1000),
                limit_bytes=global_limit(self.storage, total, free, self.recordings.total_bytes),
                expiration=self.storage.expiration,
            )
            freed = 0
            for name, before in p.expire_before_ms.items():
                freed += await self._delete_while(name, None, before)
            for name, nbytes in p.free_per_stream.items():
                freed += await self._delete_while(name, nbytes, None)
            if p.free_global > 0:
                freed += await self._delete_while(None, p.free_global, None)
            return freed

    async def emergency(self, nbytes: int | None = None) -> int:
        """The disk filled up under us: free the reserve (or ``nbytes``) right now."""
        async with self._lock:
            want = nbytes or max(self.storage.reserve, 1)
            freed = await self._delete_while(None, want, None)
            log.warning("retention: freed %d bytes after the disk filled", freed)
            return freed

    async def _delete_while(
        self, stream: str | None, nbytes: int | None, before_ms: int | None
    ) -> int:
        freed = 0
        if self._unlinked:
            await self.recordings.delete(self._unlinked)
            self._unlinked = []
        while nbytes is None or freed < nbytes:
            batch = await self.recordings.oldest(stream, before_ms=before_ms, limit=CHUNK)
            if not batch:
                break
            if nbytes is not None:
                take, acc = [], 0
                for s in batch:
                    take.append(s)
                    acc += s.bytes
                    if freed + acc >= nbytes:
                        break
                batch = take
            # Files first: a crash in between leaves rows without files, which start-up
            # reconciliation drops; and on a full disk unlinking is what frees room.
            await asyncio.to_thread(_unlink_all, self.root, batch)
            try:
                await self.recordings.delete(batch)
            except sqlite3.OperationalError:
                self._unlinked = batch
                raise
            n = sum(s.bytes for s in batch)
            freed += n
            self.deleted_segments += len(batch)
            self.deleted_bytes += n
        return freed
