"""The HTTP surface: ``make_app(deps)`` builds the aiohttp application from its dependencies."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

import gateway

if TYPE_CHECKING:
    from gateway.cameras import Cameras
    from gateway.config import Config
    from gateway.store.db import Database
    from gateway.store.recordings import Recordings
    from gateway.store.retention import Retention


@dataclass
class WebDeps:
    config: Config
    db: Database
    recordings: Recordings
    cameras: Cameras
    retention: Retention
    started_at: float


DEPS = web.AppKey("deps", WebDeps)


async def healthz(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    return web.json_response(
        {
            "status": "ok",
            "version": gateway.__version__,
            "uptime": round(time.monotonic() - deps.started_at, 1),
        }
    )


def make_app(deps: WebDeps) -> web.Application:
    app = web.Application(client_max_size=64 * 2**20)
    app[DEPS] = deps
    app.router.add_get("/healthz", healthz)
    return app
