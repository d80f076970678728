"""Request parameters of the media routes: stream lookup, time values, error bodies."""

from __future__ import annotations

import json
import math
from urllib.parse import urlencode

from aiohttp import web

from gateway.config import RESERVED_NAMES, STREAM_NAME_RE, StreamConfig
from gateway.timespec import BadTime, parse_time
from gateway.web.app import DEPS

NAME = r"{name:(?!(?:api|static|metrics|healthz)/)[a-z0-9][a-z0-9_-]{0,63}}"


def unprocessable(field: str, value: str, allowed: str) -> web.HTTPException:
    return web.HTTPUnprocessableEntity(
        text=_json({"message": f"invalid {field}", "errors": {field: [f"{value!r}: {allowed}"]}}),
        content_type="application/json",
    )


def not_found(message: str) -> web.HTTPException:
    return web.HTTPNotFound(
        text=_json({"message": message, "errors": {}}), content_type="application/json"
    )


def unavailable(message: str) -> web.HTTPException:
    return web.HTTPServiceUnavailable(
        text=_json({"message": message, "errors": {}}), content_type="application/json"
    )


def _json(body: object) -> str:
    return json.dumps(body)


def time_param(field: str, text: str) -> float:
    try:
        return parse_time(text)
    except BadTime:
        raise unprocessable(field, text, "RFC 3339 time or unix seconds") from None


def duration_param(field: str, text: str, limit: float = 86400.0) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0 or value > limit:
        raise unprocessable(field, text, f"seconds, more than 0 and at most {limit:g}")
    return value


def split_range(text: str) -> tuple[float, float]:
    """``{from}-{duration}`` (from may itself contain dashes) → (from, duration)."""
    head, sep, tail = text.rpartition("-")
    if not sep or not head:
        raise unprocessable("from", text, "{from}-{duration}")
    return time_param("from", head), duration_param("duration", tail)


def stream_config(request: web.Request) -> StreamConfig:
    """The configured stream named in the URL, or a 404."""
    name = request.match_info["name"]
    if not STREAM_NAME_RE.match(name) or name in RESERVED_NAMES:
        raise not_found(f"no stream {name!r}")
    cfg = request.app[DEPS].cameras.configs.get(name)
    if cfg is None:
        raise not_found(f"no stream {name!r}")
    return cfg


def child_query(request: web.Request, session: str | None = None) -> str:
    """The query string carried from a playlist to the URIs in it (token, session)."""
    keep = [(k, request.query[k]) for k in ("token",) if k in request.query]
    if session:
        keep.append(("session", session))
    if not keep:
        return ""
    return "?" + urlencode(keep)
