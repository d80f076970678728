"""WHEP (WebRTC-HTTP egress protocol) routes: ``POST /{name}/whep`` → 201 + SDP answer.

    POST    /{name}/whep            application/sdp offer → 201, answer, Location, ETag
    DELETE  /{name}/whep/{session}  ends the session (200)
    OPTIONS /{name}/whep[/...]      CORS preflight, ``Accept-Post: application/sdp``
    GET     /{name}/whep/{session}  (camgate's own) the session's counters as JSON
    PATCH   /{name}/whep/{session}  405: no trickle ICE and no ICE restart; the answer
                                    already carries every candidate (non-trickle)

Errors are JSON ``{"message", "errors": {field: [..]}}``.  Configured ICE servers are
announced in ``Link: <stun:...>; rel="ice-server"`` headers as the draft suggests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.sinks.webrtc_session import SessionError, Sessions
from gateway.web.app import DEPS
from gateway.web.auth import IDENTITY

SESSIONS = web.AppKey("webrtc_sessions", Sessions)
SDP = "application/sdp"
MAX_OFFER = 64 * 1024
ALLOW_SESSION = "GET, DELETE, OPTIONS"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Location, ETag, Link, Accept-Post",
}


def _error(status: int, message: str, errors: dict[str, list[str]] | None = None,
           headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"message": message, "errors": errors or {}}, status=status,
                             headers={**CORS, **(headers or {})})


def _link_headers(sessions: Sessions) -> list[str]:
    out = []
    for s in sessions.config.ice_servers:
        for url in s.urls:
            attrs = '; rel="ice-server"'
            if s.username is not None:
                attrs += f'; username="{s.username}"; credential="{s.credential or ""}"'
                attrs += '; credential-type="password"'
            out.append(f"<{url}>{attrs}")
    return out


async def post_offer(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    camera = request.app[DEPS].cameras.get(name)
    if camera is None:
        return _error(404, f"no stream {name!r}")
    if request.content_type != SDP:
        return _error(415, f"the offer must be {SDP}", {"content_type": [request.content_type]})
    if (request.content_length or 0) > MAX_OFFER:
        return _error(413, f"an SDP offer is at most {MAX_OFFER} bytes")
    offer = await request.text()
    if not offer.startswith("v=0"):
        return _error(400, "the body is not an SDP offer", {"sdp": ["must start with v=0"]})
    sessions = request.app[SESSIONS]
    try:
        session, answer = await sessions.open(camera, offer)
    except SessionError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return _error(exc.status, str(exc), exc.errors, headers)
    resp = web.Response(status=201, text=answer, content_type=SDP, headers={
        **CORS,
        "Location": f"/{name}/whep/{session.id}",
        "ETag": session.etag,
    })
    for link in _link_headers(sessions):
        resp.headers.add("Link", link)
    return resp


async def delete_session(request: web.Request) -> web.Response:
    sessions = request.app[SESSIONS]
    session = sessions.get(request.match_info["session"])
    if session is None or session.stream != request.match_info["name"]:
        return _error(404, "no such WHEP session")
    await sessions.close(session.id)
    return web.Response(status=200, headers=CORS)


async def get_session(request: web.Request) -> web.Response:
    """Not part of WHEP: the session's counters, for operators and benchmarks."""
    session = request.app[SESSIONS].get(request.match_info["session"])
    if session is None or session.stream != request.match_info["name"]:
        return _error(404, "no such WHEP session")
    return web.json_response(session.describe(), headers=CORS)


async def patch_session(request: web.Request) -> web.Response:
    return _error(405, "trickle ICE and ICE restarts are not supported; the answer carries"
                  " every candidate", headers={"Allow": ALLOW_SESSION})


async def options(request: web.Request) -> web.Response:
    session_url = "session" in request.match_info
    methods = ALLOW_SESSION if session_url else "POST, OPTIONS"
    headers = {
        **CORS,
        "Allow": methods,
        "Access-Control-Allow-Methods": methods,
        "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
        "Access-Control-Max-Age": "600",
    }
    if not session_url:
        headers["Accept-Post"] = SDP
    resp = web.Response(status=204, headers=headers)
    if IDENTITY in request:  # ICE servers (TURN credentials) only for a known caller
        for link in _link_headers(request.app[SESSIONS]):
            resp.headers.add("Link", link)
    return resp


async def _sessions_ctx(app: web.Application) -> AsyncIterator[None]:
    sessions = Sessions(app[DEPS].config.webrtc)
    app[SESSIONS] = sessions
    app[DEPS].webrtc = sessions
    ready = asyncio.Event()
    task = asyncio.create_task(sessions.run(ready.set), name="webrtc-sessions")
    await ready.wait()
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def add_routes(app: web.Application) -> None:
    """Register the WHEP routes and the session owner on ``app``."""
    app.cleanup_ctx.append(_sessions_ctx)
    r = app.router
    r.add_post("/{name}/whep", post_offer)
    r.add_route("OPTIONS", "/{name}/whep", options)
    r.add_delete("/{name}/whep/{session}", delete_session)
    r.add_get("/{name}/whep/{session}", get_session)
    r.add_route("PATCH", "/{name}/whep/{session}", patch_session)
    r.add_route("OPTIONS", "/{name}/whep/{session}", options)
