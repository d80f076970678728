"""Authentication: who is calling, and the middleware that lets no one else in.

Every route needs credentials except ``/healthz`` and ``POST /api/v1/login``.  Accepted:
``Authorization: Bearer <token>`` (a login session or an API token), the session cookie
(HttpOnly, SameSite=Strict), and — on media URLs only (any path not under ``/api/``) — a
short-lived signed ``token=`` query parameter for players that cannot send headers.

Media tokens are ``<expiry>.<signature>``: HMAC-SHA256 over the stream name and the expiry
with a per-device secret kept 0600 in the data dir.  A token is valid for one stream (the
first path segment) until it expires.  Mint one with ``request.app[AUTH].mint_media_token
(name, ttl)`` or ``GET /api/v1/media-token?stream=NAME&ttl=SECONDS``.

Without credentials the status page ``/`` answers 401 with the login form; a session whose
password must change may only change it or log out (403 for everything else).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from gateway.store.db import Database
from gateway.store.users import User, Users, hash_password, verify_password
from gateway.web.errors import error_response
from gateway.web.ratelimit import LoginLimiter

log = logging.getLogger(__name__)

COOKIE = "camgate_session"
SESSION_TTL = 7 * 86400.0
MEDIA_TTL_DEFAULT = 600
MEDIA_TTL_MAX = 86400
INITIAL_PASSWORD_FILE = "initial-admin-password"
MEDIA_KEY_FILE = "media-token.key"
_CACHE_TTL = 5.0  # seconds a validated token is trusted without asking the database


@dataclass(frozen=True, slots=True)
class Identity:
    kind: str  # "session" | "api" | "media"
    user_id: int | None = None
    login: str = ""
    role: str = ""
    must_change: bool = False
    token_id: int | None = None
    stream: str | None = None  # media tokens: the one stream they open


IDENTITY = web.RequestKey("identity", Identity)  # the caller, set by auth_middleware


def write_secret_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 (never readable by others, even briefly)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _load_key(path: Path) -> bytes:
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    write_secret_file(path, key)
    return key


def _sign(key: bytes, stream: str, expires: int) -> str:
    mac = hmac.new(key, f"media\n{stream}\n{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")


def media_token(key: bytes, stream: str, ttl: float, now: float) -> str:
    expires = int(now + ttl)
    return f"{expires}.{_sign(key, stream, expires)}"


def check_media_token(key: bytes, stream: str, token: str, now: float) -> bool:
    exp_s, _, sig = token.partition(".")
    if not exp_s.isdigit() or not sig:
        return False
    expires = int(exp_s)
    if expires <= now:
        return False
    return hmac.compare_digest(sig, _sign(key, stream, expires))


class Auth:
    """Users, sessions, API tokens, media tokens and the failed-login limiter."""

    def __init__(self, db: Database, data_dir: Path, session_ttl: float = SESSION_TTL) -> None:
        self.users = Users(db)
        self.data_dir = data_dir
        self.session_ttl = session_ttl
        self.limiter = LoginLimiter()
        self._key = b""
        self._dummy_hash = ""
        self._cache: dict[str, tuple[float, Identity]] = {}
        self._hashing = asyncio.Semaphore(2)  # argon2 is memory-hard: bound parallel work

    @property
    def initial_password_file(self) -> Path:
        return self.data_dir / INITIAL_PASSWORD_FILE

    async def start(self) -> None:
        self._key = await asyncio.to_thread(_load_key, self.data_dir / MEDIA_KEY_FILE)
        self._dummy_hash = await asyncio.to_thread(hash_password, secrets.token_urlsafe(16))
        await self.users.purge_expired()
        if await self.users.count_admins() == 0:
            await self.create_initial_admin()

    async def create_initial_admin(self) -> str:
        password = secrets.token_urlsafe(15)
        await self.users.set_password("admin", password, must_change=True)
        await asyncio.to_thread(
            write_secret_file, self.initial_password_file, (password + "\n").encode()
        )
        log.warning(
            "created user 'admin' with initial password %s (also in %s); "
            "it must be changed at first login",
            password,
            self.initial_password_file,
        )
        return password

    # -- passwords ---------------------------------------------------------------------

    async def check_password(self, login: str, password: str) -> User | None:
        """The user when the password matches; the same work is done for unknown logins."""
        user = await self.users.by_login(login)
        stored = user.password_hash if user else self._dummy_hash
        async with self._hashing:
            ok = await asyncio.to_thread(verify_password, stored, password)
        return user if ok and user is not None else None

    async def change_password(self, user: User, new_password: str) -> None:
        async with self._hashing:
            await self.users.set_password(user.login, new_password, must_change=False)
        self.forget_user(user.id)
        if user.login == "admin":
            await asyncio.to_thread(self.initial_password_file.unlink, True)

    # -- tokens ------------------------------------------------------------------------

    def forget(self, secret: str) -> None:
        self._cache.pop(secret, None)

    def forget_all(self) -> None:
        self._cache.clear()

    def forget_user(self, user_id: int) -> None:
        for k in [k for k, (_, i) in self._cache.items() if i.user_id == user_id]:
            del self._cache[k]

    async def from_token(self, secret: str) -> Identity | None:
        now = time.monotonic()
        hit = self._cache.get(secret)
        if hit and now - hit[0] < _CACHE_TTL:
            return hit[1]
        found = await self.users.lookup(secret)
        if found is None:
            self._cache.pop(secret, None)
            return None
        tok, user = found
        ident = Identity(
            kind=tok.kind,
            user_id=user.id,
            login=user.login,
            role=user.role,
            must_change=user.must_change,
            token_id=tok.id,
        )
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[secret] = (now, ident)
        if tok.last_used_at is None or time.time() - tok.last_used_at > 60:
            await self.users.touch(tok.id)
        return ident

    def mint_media_token(self, stream: str, ttl: float = MEDIA_TTL_DEFAULT) -> str:
        """A signed ``token=`` value opening ``/{stream}/...`` media URLs for ``ttl`` s."""
        ttl = max(1.0, min(float(ttl), MEDIA_TTL_MAX))
        return media_token(self._key, stream, ttl, time.time())

    def check_media_token(self, stream: str, token: str) -> bool:
        return check_media_token(self._key, stream, token, time.time())

    async def identify(self, request: web.Request) -> Identity | None:
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                return None
            return await self.from_token(value.strip())
        cookie = request.cookies.get(COOKIE)
        if cookie:
            ident = await self.from_token(cookie)
            if ident is not None:
                return ident
        token = request.query.get("token")
        if token and not request.path.startswith("/api/"):
            stream = request.path.split("/", 2)[1]
            if stream and self.check_media_token(stream, token):
                return Identity(kind="media", stream=stream)
        return None


AUTH = web.AppKey("auth", Auth)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_OPEN = {("POST", "/api/v1/login")}
_WHILE_MUST_CHANGE = {("POST", "/api/v1/password"), ("POST", "/api/v1/logout")}


def is_public(method: str, path: str, headers: Mapping[str, str] | None = None) -> bool:
    """Routes served without credentials: /healthz, the login, and CORS preflights.

    A browser sends a preflight (OPTIONS with Access-Control-Request-Method) without
    credentials, so a cross-origin WHEP player could never get past it otherwise; the
    preflight answers only which methods and headers are allowed, nothing about a stream.
    """
    if method == "OPTIONS" and headers is not None and "Access-Control-Request-Method" in headers:
        return not path.startswith("/api/")
    return path == "/healthz" or (method, path) in _OPEN


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if is_public(request.method, request.path, request.headers):
        return await handler(request)
    ident = await request.app[AUTH].identify(request)
    if ident is None:
        if request.path == "/" and request.method in ("GET", "HEAD"):
            return _login_page(401, "login")
        return error_response(
            401,
            "authentication required",
            headers={"WWW-Authenticate": 'Bearer realm="camgate"'},
        )
    if ident.must_change and (request.method, request.path) not in _WHILE_MUST_CHANGE:
        if request.path == "/" and request.method in ("GET", "HEAD"):
            return _login_page(403, "change")
        return error_response(403, "the password must be changed first (POST /api/v1/password)")
    if _cross_site(request):
        return error_response(403, "cross-site request refused")
    request[IDENTITY] = ident
    return await handler(request)


def _cross_site(request: web.Request) -> bool:
    """A cookie-authenticated write from another origin (SameSite=Strict backed up)."""
    if request.method in ("GET", "HEAD", "OPTIONS") or "Authorization" in request.headers:
        return False
    origin = request.headers.get("Origin")
    if not origin or COOKIE not in request.cookies:
        return False
    return urlsplit(origin).netloc != request.host


def _login_page(status: int, mode: str) -> web.Response:
    from gateway.web.pages import login_html

    return web.Response(
        text=login_html(mode),
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "WWW-Authenticate": 'Bearer realm="camgate"'},
    )
