"""``GET /api/v1/episodes`` (Watcher's episodes, with long-poll) and episode previews.

Query parameters: ``media`` and ``episode_type`` (repeatable or comma-separated),
``updated_at_gt`` (RFC 3339 or unix seconds), ``poll_timeout`` (seconds, up to 60: when
nothing matches yet, answer as soon as a matching episode is created or updated),
``sort`` (``-opened_at`` default, ``opened_at``, ``updated_at``, ``-updated_at``; with
``updated_at_gt`` and no sort, ``updated_at`` ascending, i.e. a change feed), ``limit``
(1..1000, default 50) and ``cursor``.  Answer: ``{"estimated_count", "next", "prev",
"episodes": [...]}``.  Each episode also carries ``zones`` and ``dvr`` (the recorded range
covering it with its pre/post-roll, and the HLS playlist URL playing it).
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.store.episodes import SORTS, CursorError, EpisodeQuery, EpisodeRow
from gateway.web.app import DEPS
from gateway.web.errors import ApiError

MAX_POLL = 60.0


def rfc3339(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


def parse_time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def episode_json(row: EpisodeRow, now: float | None = None) -> dict[str, Any]:
    start = math.floor(row.opened_at - row.pre_roll)
    end = (row.closed_at + row.post_roll) if row.closed_at is not None else (now or time.time())
    duration = max(1, math.ceil(end - start))
    return {
        "episode_id": row.id,
        "media": row.media,
        "episode_type": row.episode_type,
        "opened_at": rfc3339(row.opened_at),
        "closed_at": rfc3339(row.closed_at),
        "updated_at": rfc3339(row.updated_at),
        "preview": f"/api/v1/episodes/{row.id}/preview.jpg" if row.preview else None,
        "close_reason": row.close_reason,
        "zones": list(row.zones),
        "dvr": {
            "from": start,
            "duration": duration,
            "url": f"/{row.media}/index-{start}-{duration}.m3u8",
        },
    }


def _multi(request: web.Request, key: str) -> tuple[str, ...]:
    out: list[str] = []
    for v in request.query.getall(key, []):
        out += [p for p in v.split(",") if p]
    return tuple(out)


def parse_episode_query(request: web.Request) -> tuple[EpisodeQuery, float]:
    q = request.query
    errors: dict[str, list[str]] = {}
    updated_gt = None
    if "updated_at_gt" in q:
        try:
            updated_gt = parse_time(q["updated_at_gt"])
        except ValueError:
            errors["updated_at_gt"] = ["must be RFC 3339 or unix seconds"]
    sort = q.get("sort") or ("updated_at" if updated_gt is not None else "-opened_at")
    if sort not in SORTS:
        errors["sort"] = [f"must be one of {', '.join(sorted(SORTS))}"]
    limit = 50
    if "limit" in q:
        try:
            limit = int(q["limit"])
            if not 1 <= limit <= 1000:
                raise ValueError(limit)
        except ValueError:
            errors["limit"] = ["must be an integer 1..1000"]
    poll = 0.0
    if "poll_timeout" in q:
        try:
            poll = float(q["poll_timeout"])
            if not 0 <= poll <= MAX_POLL:
                raise ValueError(poll)
        except ValueError:
            errors["poll_timeout"] = [f"must be a number of seconds 0..{MAX_POLL:g}"]
    if errors:
        raise ApiError(422, "invalid query", errors)
    return (
        EpisodeQuery(
            media=_multi(request, "media"),
            episode_type=_multi(request, "episode_type"),
            updated_at_gt=updated_gt,
            sort=sort,
            limit=limit,
            cursor=q.get("cursor") or None,
        ),
        poll,
    )


async def list_episodes(request: web.Request) -> web.Response:
    """Motion episodes (Watcher shape), filtered, paged, with the long-poll."""
    deps = request.app[DEPS]
    motion = deps.motion
    if motion is None:
        raise ApiError(404, "motion detection is not running")
    query, poll = parse_episode_query(request)
    deadline = time.monotonic() + poll
    while True:
        try:
            rows, count, nxt, prv = await motion.episodes.query(query)
        except CursorError as exc:
            raise ApiError(422, "invalid query", {"cursor": [str(exc)]}) from exc
        left = deadline - time.monotonic()
        closing = request.app[CLOSING]
        if rows or left <= 0 or closing.is_set():
            break
        await motion.episodes.wait_change(left, closing)
    now = time.time()
    return web.json_response(
        {
            "estimated_count": count,
            "next": nxt,
            "prev": prv,
            "episodes": [episode_json(r, now) for r in rows],
        }
    )


async def _row(request: web.Request) -> EpisodeRow:
    motion = request.app[DEPS].motion
    try:
        eid = int(request.match_info["id"])
    except ValueError as exc:
        raise ApiError(404, "no such episode") from exc
    row = await motion.episodes.get(eid) if motion else None
    if row is None:
        raise ApiError(404, "no such episode")
    return row


async def get_episode(request: web.Request) -> web.Response:
    """One motion episode."""
    return web.json_response(episode_json(await _row(request)))


async def preview(request: web.Request) -> web.StreamResponse:
    """The episode's preview JPEG (the frame with the most motion)."""
    row = await _row(request)
    motion = request.app[DEPS].motion
    if not row.preview or motion is None:
        raise ApiError(404, "episode has no preview")
    path = motion.previews_dir / row.preview
    if not path.resolve().is_relative_to(motion.previews_dir.resolve()):
        raise ApiError(404, "episode has no preview")
    return web.FileResponse(
        path, headers={"Content-Type": "image/jpeg", "Cache-Control": "private, max-age=5"}
    )


CLOSING = web.AppKey("episodes_closing", asyncio.Event)


async def _closing(app: web.Application) -> None:
    app[CLOSING].set()  # open long-polls answer now: shutdown does not wait for them


_EPISODE = {
    "type": "object",
    "properties": {
        "episode_id": {"type": "integer"},
        "media": {"type": "string", "description": "stream name"},
        "episode_type": {"type": "string", "enum": ["motion"]},
        "opened_at": {"type": "string", "format": "date-time"},
        "closed_at": {"type": "string", "format": "date-time", "nullable": True},
        "updated_at": {"type": "string", "format": "date-time"},
        "preview": {"type": "string", "nullable": True, "description": "JPEG URL"},
        "close_reason": {"type": "string", "nullable": True,
                         "enum": ["quiet", "max_duration", "source_lost", "shutdown",
                                  "restart", "config", None]},
        "zones": {"type": "array", "items": {"type": "string"}},
        "dvr": {"type": "object", "properties": {
            "from": {"type": "integer"}, "duration": {"type": "integer"},
            "url": {"type": "string", "description": "HLS playlist of the range"}}},
    },
}  # fmt: skip
_Q = [
    {"name": "media", "in": "query", "schema": {"type": "string"},
     "description": "stream name(s), comma-separated or repeated"},
    {"name": "episode_type", "in": "query", "schema": {"type": "string"}},
    {"name": "updated_at_gt", "in": "query", "schema": {"type": "string"},
     "description": "RFC 3339 or unix seconds"},
    {"name": "poll_timeout", "in": "query", "schema": {"type": "number", "maximum": MAX_POLL},
     "description": "seconds to wait for a matching episode when none matches yet"},
    {"name": "sort", "in": "query",
     "schema": {"type": "string", "enum": sorted(SORTS), "default": "-opened_at"}},
    {"name": "limit", "in": "query",
     "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
]  # fmt: skip
OPENAPI = {
    "/api/v1/episodes": {"get": {
        "summary": "Motion episodes (Watcher shape), filtered, paged, with the long-poll",
        "parameters": _Q,
        "responses": {"200": {"description": "OK", "content": {"application/json": {
            "schema": {"type": "object", "properties": {
                "estimated_count": {"type": "integer"},
                "next": {"type": "string", "nullable": True},
                "prev": {"type": "string", "nullable": True},
                "episodes": {"type": "array", "items": _EPISODE}}}}}}},
    }},
}  # fmt: skip


def add_routes(app: web.Application) -> None:
    app[CLOSING] = asyncio.Event()
    app.on_shutdown.append(_closing)
    from gateway.web.openapi import OPENAPI_PATHS

    if OPENAPI_PATHS in app:
        for path, ops in OPENAPI.items():
            app[OPENAPI_PATHS].setdefault(path, {}).update(ops)
    app.router.add_get("/api/v1/episodes", list_episodes)
    app.router.add_get("/api/v1/episodes/{id}", get_episode)
    app.router.add_get("/api/v1/episodes/{id}/preview.jpg", preview)
