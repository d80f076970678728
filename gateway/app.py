"""Composition root: builds every part, runs them in one TaskGroup, shuts down in order.

Order of start: data dir → database → reconciliation → cameras → retention → web → READY.
Order of stop: web → cameras (each recorder closes and indexes its last segment) →
retention → database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from gateway import systemd
from gateway.cameras import CameraDeps, Cameras
from gateway.config import Config
from gateway.events.bus import EventBus
from gateway.sinks.motion import MotionService
from gateway.store.db import Database
from gateway.store.episodes import Episodes
from gateway.store.reconcile import reconcile
from gateway.store.recordings import Recordings
from gateway.store.retention import Retention
from gateway.web.app import WebDeps, make_app

log = logging.getLogger(__name__)


def prepare_data_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o750)
    seg = path / "segments"
    seg.mkdir(exist_ok=True)
    return seg


class Gateway:
    """Everything one ``camgate run`` owns."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.data_dir = config.storage.path
        self.stopping = asyncio.Event()
        self.port: int | None = None
        self.deps: WebDeps | None = None

    def stop(self) -> None:
        self.stopping.set()

    async def run(self, on_ready: Callable[[Gateway], None] | None = None) -> None:
        started = time.monotonic()
        segments_dir = await asyncio.to_thread(prepare_data_dir, self.data_dir)
        db = await Database.open(self.data_dir / "camgate.db")
        try:
            recordings = Recordings(db)
            await recordings.load()
            await reconcile(recordings, segments_dir)
            async with asyncio.TaskGroup() as tg:
                retention_holder: list[Retention] = []

                async def free_space() -> None:
                    await retention_holder[0].emergency()

                bus = EventBus()
                motion = MotionService(Episodes(db), bus, self.data_dir / "episodes")
                await motion.load()
                cam_deps = CameraDeps(
                    recordings,
                    segments_dir,
                    self.config.storage.segment_duration,
                    on_segment=lambda seg: retention_holder[0].notify(seg),
                    free_space=free_space,
                    camera_tasks=[("motion", motion.run_camera)],
                )
                cameras = Cameras(db, cam_deps, tg)
                retention = Retention(
                    recordings, segments_dir, self.config.storage, cameras.policies
                )
                retention_holder.append(retention)
                await retention.enforce()
                await cameras.load(self.config.streams)
                retention_task = tg.create_task(retention.run(), name="retention")
                self.deps = WebDeps(
                    config=self.config,
                    db=db,
                    recordings=recordings,
                    cameras=cameras,
                    retention=retention,
                    started_at=started,
                    motion=motion,
                    bus=bus,
                )
                runner = web.AppRunner(
                    make_app(self.deps), handle_signals=False, shutdown_timeout=1.0
                )
                await runner.setup()
                site = web.TCPSite(
                    runner, self.config.server.host, self.config.server.port, reuse_address=True
                )
                await site.start()
                self.port = _bound_port(runner)
                watchdog = systemd.watchdog_interval()
                wd_task = tg.create_task(_watchdog(watchdog), name="watchdog") if watchdog else None
                systemd.notify("READY=1\nSTATUS=running")
                log.info(
                    "camgate listening on %s:%s, %d streams",
                    self.config.server.host,
                    self.port,
                    len(cameras.configs),
                )
                if on_ready:
                    on_ready(self)
                await self.stopping.wait()
                systemd.notify("STOPPING=1")
                log.info("shutting down")
                await runner.cleanup()
                await cameras.stop_all()
                retention_task.cancel()
                if wd_task:
                    wd_task.cancel()
        finally:
            await db.close()
        log.info("stopped")


def _bound_port(runner: web.AppRunner) -> int | None:
    for addr in runner.addresses:
        if isinstance(addr, tuple):
            return int(addr[1])
    return None


async def _watchdog(interval: float) -> None:
    while True:
        systemd.notify("WATCHDOG=1")
        await asyncio.sleep(interval)


def run_gateway(config: Config, on_ready: Callable[[Gateway], None] | None = None) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""

    async def main() -> None:
        gw = Gateway(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, gw.stop)
        try:
            await gw.run(on_ready)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)

    asyncio.run(main())
    return 0
