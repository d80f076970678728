"""``GET /api/openapi.json``."""

from __future__ import annotations

from aiohttp import web


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response({"openapi": "3.0.3", "paths": {}})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi_json)
