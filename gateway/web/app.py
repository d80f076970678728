"""The HTTP surface: ``make_app(deps)`` builds the aiohttp application from its dependencies."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

import gateway
from gateway.web import api_auth
from gateway.web.auth import AUTH, Auth, auth_middleware
from gateway.web.errors import error_middleware

if TYPE_CHECKING:
    from gateway.cameras import Cameras
    from gateway.config import Config
    from gateway.events.bus import EventBus
    from gateway.sinks.motion import MotionService
    from gateway.sinks.webrtc_session import Sessions
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
    # motion detection: episodes store + per-camera counters (stats.motion_detector)
    motion: MotionService | None = None
    bus: EventBus | None = None
    # live WebRTC viewer sessions, set by web/whep.py when the app starts
    webrtc: Sessions | None = None


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


async def _start_auth(app: web.Application) -> None:
    await app[AUTH].start()


def make_app(deps: WebDeps) -> web.Application:
    # error bodies outermost, then authentication: every route but /healthz and
    # POST /api/v1/login needs credentials (see gateway/web/auth.py)
    app = web.Application(
        client_max_size=64 * 2**20, middlewares=[error_middleware, auth_middleware]
    )
    app[DEPS] = deps
    app[AUTH] = Auth(deps.db, deps.config.storage.path)
    app.on_startup.append(_start_auth)
    app.router.add_get("/healthz", healthz)
    api_auth.add_routes(app)
    from gateway.web import platform  # streams API, system, metrics, status page, openapi

    platform.add_routes(app)
    from gateway.web import media_routes  # its modules import DEPS from here

    media_routes.add_routes(app)
    from gateway.web import episodes

    episodes.add_routes(app)
    from gateway.web import whep  # WebRTC playback (WHEP)

    whep.add_routes(app)
    return app
