"""The web platform's routes: streams API, system, metrics, status page, OpenAPI.

Registered before the per-stream media routes so that fixed paths (``/``, ``/static/``,
``/metrics``) are never taken for a stream name.
"""

from __future__ import annotations

from aiohttp import web

from gateway.web import api_streams, api_system, openapi, status_page
from gateway.web.app import DEPS
from gateway.web.stream_stats import DVR_INFO, STREAM_METERS, DvrInfo, StreamMeters, meters_ctx


def add_routes(app: web.Application) -> None:
    app[STREAM_METERS] = StreamMeters()
    app[DVR_INFO] = DvrInfo(app[DEPS])
    app.cleanup_ctx.append(meters_ctx)
    status_page.add_routes(app)
    api_streams.add_routes(app)
    api_system.add_routes(app)
    openapi.add_routes(app)
