"""Status page v1 at ``/``: server-rendered tiles per camera plus small JS (no build step).

Static files (``/static/``: the page's JS/CSS and hls.js from npm) come from
``gateway/web/static``; like every other route they need a login.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from aiohttp import web

import gateway
from gateway.config import redact_url
from gateway.web.app import DEPS
from gateway.web.pages import render

STATIC_DIR = Path(__file__).parent / "static"


def _tile(name: str, title: str, disabled: bool = False) -> str:
    n, t = html.escape(name), html.escape(title or name)
    off = " data-disabled" if disabled else ""
    return (
        f'<section class="tile" data-stream="{n}" id="tile-{n}"{off}>'
        f'<header><h2>{t}</h2><span class="name">{n}</span>'
        f'<span class="state" data-field="status">…</span></header>'
        f'<div class="video-box"><video muted playsinline autoplay></video>'
        f'<div class="mode" data-field="mode"></div></div>'
        f'<div class="facts"><span data-field="bitrate">–</span>'
        f'<span data-field="clients"></span><span data-field="storage">–</span></div>'
        f'<div class="timeline" title="DVR: click to play from that time">'
        f'<canvas height="28"></canvas></div>'
        f'<div class="controls"><button data-action="live">Live</button>'
        f'<span data-field="position"></span></div>'
        f"</section>"
    )


async def index(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    cfgs = sorted(deps.cameras.configs.values(), key=lambda c: c.name)
    tiles = "\n".join(_tile(c.name, c.title, c.disabled) for c in cfgs) or (
        '<p class="empty">No cameras yet: add one with <code>PUT /api/v1/streams/NAME</code>.</p>'
    )
    boot = {
        "version": gateway.__version__,
        "streams": [
            {
                "name": c.name,
                "title": c.title,
                "disabled": c.disabled,
                "inputs": [redact_url(i.url) for i in c.inputs],
            }
            for c in cfgs
        ],
    }
    text = render(
        "status.html",
        version=gateway.__version__,
        tiles=tiles,
        boot=json.dumps(boot).replace("<", "\\u003c"),
    )
    return web.Response(text=text, content_type="text/html", headers={"Cache-Control": "no-store"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
