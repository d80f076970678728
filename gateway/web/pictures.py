"""``/{name}/preview.jpg`` (live, from the GOP cache) and ``/{name}/{from}-preview.jpg``."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiohttp import web

from gateway.media.snapshot import NoPicture, live_jpeg, recorded_jpeg
from gateway.web.app import DEPS
from gateway.web.media_params import NAME, not_found, stream_config, time_param, unavailable

LIVE_TTL = 1.0  # seconds a live picture is reused


@dataclass
class _Cached:
    made: float
    task: asyncio.Future[tuple[bytes, float]]


@dataclass
class PictureState:
    live: dict[str, _Cached] = field(default_factory=dict)


PICTURES = web.AppKey("pictures", PictureState)


def _jpeg(body: bytes, frame_time: float, max_age: int) -> web.Response:
    return web.Response(
        body=body,
        content_type="image/jpeg",
        headers={
            "Cache-Control": f"max-age={max_age}",
            "X-Frame-Time": f"{frame_time:.3f}",
        },
    )


async def live_preview(request: web.Request) -> web.Response:
    cfg = stream_config(request)
    cam = request.app[DEPS].cameras.get(cfg.name)
    if cam is None:
        raise not_found(f"stream {cfg.name!r} is disabled")
    state = request.app[PICTURES]
    cached = state.live.get(cfg.name)
    now = time.monotonic()
    if cached is None or now - cached.made > LIVE_TTL:
        gop = cam.hub.gop
        track = cam.hub.info.video if cam.hub.info else None
        if not gop or track is None:
            raise unavailable("no live picture yet")
        loop = asyncio.get_running_loop()
        cached = _Cached(now, loop.run_in_executor(None, live_jpeg, gop, track))
        state.live[cfg.name] = cached
    try:
        body, t = await asyncio.shield(cached.task)
    except NoPicture as exc:
        state.live.pop(cfg.name, None)
        raise unavailable(f"no live picture: {exc}") from None
    return _jpeg(body, t, 1)


async def recorded_preview(request: web.Request) -> web.Response:
    cfg = stream_config(request)
    t = time_param("from", request.match_info["from"])
    t_ms = int(round(t * 1000))
    deps = request.app[DEPS]
    seg = await deps.recordings.containing(cfg.name, t_ms)
    if seg is None:
        near = await deps.recordings.range(cfg.name, t_ms - 5000, t_ms + 5000)
        if not near:
            raise not_found("nothing recorded at that time")
        seg = min(near, key=lambda s: min(abs(s.start_ms - t_ms), abs(s.end_ms - t_ms)))
    path = deps.config.storage.path / "segments" / seg.path
    try:
        body, frame_t = await asyncio.to_thread(recorded_jpeg, path, seg.start_ms, t_ms)
    except NoPicture:
        raise not_found("the recording at that time is unreadable") from None
    return _jpeg(body, frame_t, 3600)


def add_routes(app: web.Application) -> None:
    app[PICTURES] = PictureState()
    app.router.add_get(f"/{NAME}/preview.jpg", live_preview)
    app.router.add_get(f"/{NAME}/{{from}}-preview.jpg", recorded_preview)
