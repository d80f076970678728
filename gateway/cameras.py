"""The running cameras: for each stream a hub, a source runner and a recorder.

Streams come from the config file and from the API; both are stored in SQLite.  A camera
that fails only affects itself: its tasks are supervised here and restarted, and nothing
it raises reaches the gateway's task group.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict
from pathlib import Path

from gateway.config import StreamConfig, parse_stream
from gateway.media.hub import Hub
from gateway.sinks.recorder import Recorder
from gateway.sources.runner import SourceRunner
from gateway.store.db import Database
from gateway.store.recordings import Recordings, Segment
from gateway.store.retention import StreamPolicy

log = logging.getLogger(__name__)


def stream_to_json(cfg: StreamConfig) -> dict[str, object]:
    d = asdict(cfg)
    d["inputs"] = [
        {"url": i.url, **({"transport": i.transport} if i.transport != "tcp" else {})}
        for i in cfg.inputs
    ]
    dvr: dict[str, object] = {}
    if cfg.dvr.expiration is not None:
        dvr["expiration"] = cfg.dvr.expiration
    if cfg.dvr.storage_limit is not None:
        lim = cfg.dvr.storage_limit
        dvr["storage_limit"] = lim.bytes if lim.bytes is not None else str(lim)
    d["dvr"] = dvr
    return d


class Camera:
    """One stream's pipeline; ``run`` lives until cancelled.

    ``hub`` carries the main input; ``sub_hub`` the optional second input (a camera's
    substream), used by consumers that want a small picture (motion) or a different codec
    (WebRTC for an H.265 camera).  ``clients`` holds the live viewer sessions (WebRTC, HLS)
    by session id, for ``stats.online_clients``.
    """

    def __init__(self, cfg: StreamConfig, deps: CameraDeps) -> None:
        self.cfg = cfg
        self.deps = deps
        self.hub = Hub(cfg.name)
        self.source = SourceRunner(cfg.name, cfg.inputs[0], self.hub)
        self.sub_hub: Hub | None = None
        self.sub_source: SourceRunner | None = None
        if len(cfg.inputs) > 1:
            self.sub_hub = Hub(f"{cfg.name}~sub")
            self.sub_source = SourceRunner(f"{cfg.name}~sub", cfg.inputs[1], self.sub_hub)
        self.recorder = Recorder(
            cfg.name,
            self.hub,
            deps.recordings,
            deps.segments_dir,
            target=deps.segment_duration,
            on_segment=deps.on_segment,
            free_space=deps.free_space,
        )
        self.clients: dict[str, str] = {}  # session id -> kind ("webrtc", "hls")
        self.started_at = time.monotonic()
        self.task: asyncio.Task[None] | None = None
        # Extra per-camera tasks registered by other capabilities (motion, ...):
        # callables taking the Camera and returning a coroutine, run under supervision.
        self.extra_tasks: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        for label, factory in deps.camera_tasks:
            self.extra_tasks.append((label, functools.partial(factory, self)))

    @property
    def name(self) -> str:
        return self.cfg.name

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(_supervise(f"{self.name} source", self.source.run))
            if self.sub_source is not None:
                tg.create_task(_supervise(f"{self.name} substream", self.sub_source.run))
            tg.create_task(_supervise(f"{self.name} recorder", self.recorder.run))
            for label, fn in self.extra_tasks:
                tg.create_task(_supervise(f"{self.name} {label}", fn))


async def _supervise(what: str, fn: Callable[[], Awaitable[None]]) -> None:
    """Restart a task that failed unexpectedly; the one place such failures are logged."""
    while True:
        try:
            await fn()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; restarting in 2s", what)
            await asyncio.sleep(2.0)


class CameraDeps:
    def __init__(
        self,
        recordings: Recordings,
        segments_dir: Path,
        segment_duration: float,
        on_segment: Callable[[Segment], None] | None,
        free_space: Callable[[], Awaitable[None]] | None,
        camera_tasks: list[tuple[str, Callable[[Camera], Awaitable[None]]]] | None = None,
    ) -> None:
        self.recordings = recordings
        # (label, factory): every camera runs factory(camera) as a supervised task.
        self.camera_tasks = list(camera_tasks or [])
        self.segments_dir = segments_dir
        self.segment_duration = segment_duration
        self.on_segment = on_segment
        self.free_space = free_space


class Cameras:
    """Registry of running cameras; add/update/remove apply at once and persist."""

    def __init__(self, db: Database, deps: CameraDeps, tg: asyncio.TaskGroup) -> None:
        self.db = db
        self.deps = deps
        self.tg = tg
        self.by_name: dict[str, Camera] = {}
        self.configs: dict[str, StreamConfig] = {}

    def __iter__(self) -> Iterator[Camera]:
        return iter(list(self.by_name.values()))

    def get(self, name: str) -> Camera | None:
        return self.by_name.get(name)

    def policies(self) -> dict[str, StreamPolicy]:
        return {
            name: StreamPolicy(
                limit_bytes=cfg.dvr.storage_limit.bytes if cfg.dvr.storage_limit else None,
                expiration=cfg.dvr.expiration,
            )
            for name, cfg in self.configs.items()
        }

    async def load(self, from_config: tuple[StreamConfig, ...]) -> None:
        """Config streams win over stored ones of the same name; stored API streams stay."""
        stored: dict[str, StreamConfig] = {}
        async with self.db.conn.execute("SELECT name, config FROM streams") as cur:
            async for name, text in cur:
                try:
                    stored[name] = parse_stream(json.loads(text), f"stored stream {name}")
                except ValueError as exc:
                    log.error("stored stream %s is invalid, skipped: %s", name, exc)
        for cfg in from_config:
            await self._persist(cfg, "config")
            stored[cfg.name] = cfg
        for cfg in stored.values():
            self._start(cfg)

    async def put(self, cfg: StreamConfig) -> bool:
        """Create or replace a stream; returns True when created."""
        created = cfg.name not in self.configs
        await self._persist(cfg, "api")
        old = self.configs.get(cfg.name)
        if old is not None and old.inputs == cfg.inputs and old.disabled == cfg.disabled:
            self.configs[cfg.name] = cfg  # nothing to restart (title, dvr, ...)
            cam = self.by_name.get(cfg.name)
            if cam:
                cam.cfg = cfg
            return created
        await self._stop(cfg.name)
        self._start(cfg)
        return created

    async def remove(self, name: str) -> bool:
        if name not in self.configs:
            return False
        await self._stop(name)
        del self.configs[name]
        await self.db.conn.execute("DELETE FROM streams WHERE name = ?", (name,))
        return True

    def _start(self, cfg: StreamConfig) -> None:
        self.configs[cfg.name] = cfg
        if cfg.disabled or not cfg.inputs:
            return
        cam = Camera(cfg, self.deps)
        cam.task = self.tg.create_task(cam.run(), name=f"camera-{cfg.name}")
        self.by_name[cfg.name] = cam

    async def _stop(self, name: str) -> None:
        cam = self.by_name.pop(name, None)
        if cam is None or cam.task is None:
            return
        cam.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cam.task
        cam.hub.close()
        if cam.sub_hub is not None:
            cam.sub_hub.close()

    async def stop_all(self) -> None:
        await asyncio.gather(*(self._stop(n) for n in list(self.by_name)))

    async def _persist(self, cfg: StreamConfig, origin: str) -> None:
        now = time.time()
        await self.db.conn.execute(
            "INSERT INTO streams (name, config, origin, created_at, updated_at)"
            " VALUES (?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET config=excluded.config,"
            " origin=excluded.origin, updated_at=excluded.updated_at",
            (cfg.name, json.dumps(stream_to_json(cfg)), origin, now, now),
        )
