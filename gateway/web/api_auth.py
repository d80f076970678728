"""Login, logout, password change, API tokens and media tokens (``/api/v1/...``)."""

from __future__ import annotations

import math
import time

from aiohttp import web

from gateway.config import RESERVED_NAMES, STREAM_NAME_RE
from gateway.store.users import API, SESSION
from gateway.web.auth import (
    AUTH,
    COOKIE,
    IDENTITY,
    MEDIA_TTL_DEFAULT,
    MEDIA_TTL_MAX,
    Auth,
    Identity,
)
from gateway.web.errors import ApiError, read_object, require_str

MIN_PASSWORD = 10
_WRONG = "wrong login or password"


def _limiter_keys(request: web.Request, login: str) -> list[str]:
    return [f"ip:{request.remote or ''}", f"login:{login.strip().lower()}"]


def _throttle(auth: Auth, keys: list[str]) -> None:
    wait = auth.limiter.retry_after(keys, time.monotonic())
    if wait > 0:
        raise ApiError(
            429,
            "too many failed logins; wait before trying again",
            headers={"Retry-After": str(math.ceil(wait))},
        )


def _session_response(
    request: web.Request, auth: Auth, secret: str, must_change: bool
) -> web.Response:
    resp = web.json_response(
        {
            "access_token": secret,
            "token_type": "Bearer",
            "expires_in": int(auth.session_ttl),
            "password_change_required": must_change,
        }
    )
    resp.set_cookie(
        COOKIE,
        secret,
        max_age=int(auth.session_ttl),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    return resp


async def login(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    body = await read_object(request)
    errors: dict[str, list[str]] = {}
    name = require_str(body, "login", errors)
    password = require_str(body, "password", errors)
    if errors:
        raise ApiError(422, "login and password are required", errors)
    keys = _limiter_keys(request, name)
    _throttle(auth, keys)
    user = await auth.check_password(name, password)
    if user is None:
        auth.limiter.failure(keys, time.monotonic())
        raise ApiError(401, _WRONG)
    auth.limiter.success(keys)
    secret, _ = await auth.users.create_token(
        user.id, SESSION, name=request.headers.get("User-Agent", "")[:120], ttl=auth.session_ttl
    )
    return _session_response(request, auth, secret, user.must_change)


def _identity(request: web.Request) -> Identity:
    ident: Identity = request[IDENTITY]
    if ident.user_id is None:
        raise ApiError(403, "this credential cannot do that")
    return ident


async def logout(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    ident = _identity(request)
    if ident.kind == SESSION and ident.token_id is not None:
        await auth.users.delete_token(ident.token_id)
    for secret in (request.cookies.get(COOKIE), _bearer(request)):
        if secret:
            auth.forget(secret)
    resp = web.Response(status=204)
    resp.del_cookie(COOKIE, path="/")
    return resp


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


async def change_password(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    ident = _identity(request)
    body = await read_object(request)
    errors: dict[str, list[str]] = {}
    current = require_str(body, "password", errors)
    new = require_str(body, "new_password", errors)
    if new and len(new) < MIN_PASSWORD:
        errors.setdefault("new_password", []).append(
            f"must be at least {MIN_PASSWORD} characters"
        )
    if new and new == current:
        errors.setdefault("new_password", []).append("must differ from the current password")
    if errors:
        raise ApiError(422, "invalid password change", errors)
    keys = _limiter_keys(request, ident.login)
    _throttle(auth, keys)
    user = await auth.check_password(ident.login, current)
    if user is None:
        auth.limiter.failure(keys, time.monotonic())
        raise ApiError(401, _WRONG)
    auth.limiter.success(keys)
    await auth.change_password(user, new)
    secret, _ = await auth.users.create_token(
        user.id, SESSION, name=request.headers.get("User-Agent", "")[:120], ttl=auth.session_ttl
    )
    return _session_response(request, auth, secret, False)


def _collection(items: list[dict[str, object]]) -> dict[str, object]:
    return {"estimated_count": len(items), "next": None, "prev": None, "tokens": items}


async def list_tokens(request: web.Request) -> web.Response:
    ident = _identity(request)
    assert ident.user_id is not None
    toks = await request.app[AUTH].users.tokens(ident.user_id, API)
    return web.json_response(_collection([t.public() for t in toks]))


async def create_token(request: web.Request) -> web.Response:
    ident = _identity(request)
    assert ident.user_id is not None
    body = await read_object(request)
    errors: dict[str, list[str]] = {}
    name = body.get("name", "")
    if not isinstance(name, str) or len(name) > 120:
        errors["name"] = ["must be a string of at most 120 characters"]
    ttl = body.get("expires_in")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0):
        errors["expires_in"] = ["must be a positive number of seconds (or absent: no expiry)"]
    if errors:
        raise ApiError(422, "invalid token", errors)
    secret, tok = await request.app[AUTH].users.create_token(
        ident.user_id, API, name=str(name), ttl=float(ttl) if ttl else None
    )
    return web.json_response({**tok.public(), "token": secret}, status=201)


async def delete_token(request: web.Request) -> web.Response:
    ident = _identity(request)
    try:
        token_id = int(request.match_info["id"])
    except ValueError as exc:
        raise ApiError(404, "no such token") from exc
    if not await request.app[AUTH].users.delete_token(token_id, ident.user_id):
        raise ApiError(404, "no such token")
    request.app[AUTH].forget_all()  # the deleted token's secret is unknown here
    return web.Response(status=204)


async def get_media_token(request: web.Request) -> web.Response:
    """``?stream=NAME&ttl=SECONDS`` → a ``token=`` value for that stream's media URLs."""
    stream = request.query.get("stream", "")
    errors: dict[str, list[str]] = {}
    if not STREAM_NAME_RE.match(stream) or stream in RESERVED_NAMES:
        errors["stream"] = ["must be a stream name"]
    ttl_s = request.query.get("ttl", str(MEDIA_TTL_DEFAULT))
    try:
        ttl = int(ttl_s)
        if not 0 < ttl <= MEDIA_TTL_MAX:
            raise ValueError(ttl_s)
    except ValueError:
        errors["ttl"] = [f"must be 1..{MEDIA_TTL_MAX} seconds"]
        ttl = 0
    if errors:
        raise ApiError(422, "invalid media token request", errors)
    token = request.app[AUTH].mint_media_token(stream, ttl)
    return web.json_response(
        {"stream": stream, "token": token, "expires_at": int(token.split(".")[0])}
    )


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/login", login)
    r.add_post("/api/v1/logout", logout)
    r.add_post("/api/v1/password", change_password)
    r.add_get("/api/v1/tokens", list_tokens)
    r.add_post("/api/v1/tokens", create_token)
    r.add_delete("/api/v1/tokens/{id}", delete_token)
    r.add_get("/api/v1/media-token", get_media_token)
