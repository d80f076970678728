"""API error bodies: ``{"message": str, "errors": {field: [str]}}`` for every 4xx.

Handlers raise :class:`ApiError` (or aiohttp's HTTP exceptions); :func:`error_middleware`
turns both into that JSON shape.  ``errors_from_config`` maps the config parser's
``FieldError`` list (shared by the TOML loader and the API) onto the ``errors`` object.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from gateway.config import FieldError


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return error_response(self.status, self.message, self.errors, self.headers)


def error_response(
    status: int,
    message: str,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    return web.json_response(
        {"message": message, "errors": dict(errors or {})}, status=status, headers=headers
    )


def errors_from_config(items: Iterable[FieldError], strip: str = "") -> dict[str, list[str]]:
    """FieldErrors → ``{field: [reason]}``; ``strip`` removes a leading path like ``stream.``."""
    out: dict[str, list[str]] = {}
    for e in items:
        path = e.path[len(strip):] if strip and e.path.startswith(strip) else e.path
        out.setdefault(path or "body", []).append(f"{e.allowed} (got {e.value!r})")
    return out


async def read_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body, or a 422 naming what is wrong with it."""
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(422, "request body is not valid JSON", {"body": [str(exc)]}) from exc
    if not isinstance(body, dict):
        raise ApiError(422, "request body must be a JSON object", {"body": ["must be an object"]})
    return body


def require_str(body: Mapping[str, Any], key: str, errors: dict[str, list[str]]) -> str:
    v = body.get(key)
    if not isinstance(v, str) or not v:
        errors.setdefault(key, []).append("is required and must be a non-empty string")
        return ""
    return v


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        if exc.content_type == "application/json":
            raise
        return error_response(exc.status, exc.reason, headers=_keep(exc.headers))


def _keep(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k in ("Allow", "Retry-After")}
