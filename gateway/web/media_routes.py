"""The per-stream media routes (HLS, DVR, pictures) and the export job API in one call."""

from __future__ import annotations

from aiohttp import web

from gateway.web import dvr, exports, hls, hls_ll, pictures


def add_routes(app: web.Application) -> None:
    hls.add_routes(app)
    hls_ll.add_routes(app)
    dvr.add_routes(app)
    pictures.add_routes(app)
    exports.add_routes(app)
