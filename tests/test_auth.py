"""Login from day one: first-start admin, sessions, tokens, media tokens, rate limiting.

The gateway runs in the test's loop (``running_gateway``); the sync login contract
(``tests/peers/auth.login``) is called in a thread so it does not block that loop.
"""

from __future__ import annotations

import asyncio
import re
import stat
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.config import Config, ServerConfig, StorageConfig, parse_stream
from gateway.web.app import make_app
from gateway.web.auth import COOKIE
from tests.peers.auth import TEST_PASSWORD, login
from tests.peers.inproc import running_gateway

pytestmark = pytest.mark.timeout(120)


def _config(data: Path) -> Config:
    cam = parse_stream(
        {"name": "cam1", "inputs": [{"url": "synthetic://?size=320x180&fps=10&gop=10"}]}, "s"
    )
    return Config(
        server=ServerConfig(host="127.0.0.1", port=0),
        storage=StorageConfig(path=data, reserve=1),
        streams=(cam,),
    )


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with running_gateway(_config(tmp_path)) as g:
        yield g


def _base(gw: Gateway) -> str:
    return f"http://127.0.0.1:{gw.port}"


async def _token(gw: Gateway) -> str:
    return await asyncio.to_thread(login, _base(gw), gw.data_dir)


def _concrete(path: str) -> str:
    """A request path for a route pattern: stream-like parts → cam1, the rest → 1."""

    def fill(m: re.Match[str]) -> str:
        key = m.group(1).split(":")[0]
        return "cam1" if key in ("name", "stream") else "1"

    return re.sub(r"\{([^}]*)\}", fill, path)


async def test_initial_admin_file_and_first_login(gw: Gateway) -> None:
    f = gw.data_dir / "initial-admin-password"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    key = gw.data_dir / "media-token.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    initial = f.read_text().strip()
    base = _base(gw)
    async with aiohttp.ClientSession() as s:
        r = await s.post(f"{base}/api/v1/login", json={"login": "admin", "password": initial})
        assert r.status == 200
        body = await r.json()
        assert body["password_change_required"] is True
        cookie = r.headers["Set-Cookie"]
        assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        hdr = {"Authorization": f"Bearer {body['access_token']}"}
        # before the change only password/logout are allowed
        r = await s.get(f"{base}/api/v1/tokens", headers=hdr)
        assert r.status == 403
        assert set(await r.json()) == {"message", "errors"}
        r = await s.post(f"{base}/api/v1/password", headers=hdr,
                         json={"password": initial, "new_password": "short"})
        assert r.status == 422
        assert "new_password" in (await r.json())["errors"]
    token = await _token(gw)  # the contract: changes the password, logs in again
    assert not f.exists()  # the initial password is gone once changed
    async with aiohttp.ClientSession() as s:
        hdr = {"Authorization": f"Bearer {token}"}
        r = await s.get(f"{base}/api/v1/tokens", headers=hdr)
        assert r.status == 200
        # the old session (initial password) has ended
        r = await s.get(f"{base}/api/v1/tokens",
                        headers={"Authorization": f"Bearer {body['access_token']}"})
        assert r.status in (401, 403)
    # second call of the contract: the password is already set
    assert await _token(gw)


async def test_every_route_but_healthz_needs_credentials(gw: Gateway) -> None:
    assert gw.deps is not None
    app = make_app(gw.deps)  # the same routes the running gateway serves
    checked = 0
    async with aiohttp.ClientSession() as s:
        r = await s.get(f"{_base(gw)}/healthz")
        assert r.status == 200
        for resource in app.router.resources():
            pattern = resource.canonical
            for route in resource:
                method = route.method
                if method == "*":
                    method = "GET"
                if pattern == "/healthz" or (method, pattern) == ("POST", "/api/v1/login"):
                    continue
                path = _concrete(pattern)
                if path.rstrip("/") == "/static":
                    path = "/static/app.js"
                r = await s.request(method, f"{_base(gw)}{path}")
                assert r.status == 401, (method, pattern, r.status)
                if method != "HEAD" and pattern != "/":
                    body = await r.json()
                    assert set(body) == {"message", "errors"}, body
                checked += 1
        # an unknown path too, and a bad bearer token
        r = await s.get(f"{_base(gw)}/nope/index.m3u8")
        assert r.status == 401
        r = await s.get(f"{_base(gw)}/api/v1/tokens", headers={"Authorization": "Bearer x"})
        assert r.status == 401
    assert checked >= 5


async def test_login_page_is_the_401_body_of_root(gw: Gateway) -> None:
    async with aiohttp.ClientSession() as s:
        r = await s.get(f"{_base(gw)}/")
        assert r.status == 401
        text = await r.text()
        assert "<form" in text and "/api/v1/login" in text


async def test_cookie_session_and_logout(gw: Gateway) -> None:
    await _token(gw)
    base = _base(gw)
    # unsafe=True: the client jar otherwise ignores cookies set by an IP-address host
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        r = await s.post(f"{base}/api/v1/login",
                         json={"login": "admin", "password": TEST_PASSWORD})
        assert r.status == 200
        r = await s.get(f"{base}/api/v1/tokens")  # the cookie jar carries the session
        assert r.status == 200
        r = await s.post(f"{base}/api/v1/logout")
        assert r.status == 204
        r = await s.get(f"{base}/api/v1/tokens")
        assert r.status == 401


async def test_api_tokens(gw: Gateway) -> None:
    base = _base(gw)
    hdr = {"Authorization": f"Bearer {await _token(gw)}"}
    async with aiohttp.ClientSession() as s:
        r = await s.post(f"{base}/api/v1/tokens", headers=hdr, json={"name": "nvr"})
        assert r.status == 201
        created = await r.json()
        api_hdr = {"Authorization": f"Bearer {created['token']}"}
        r = await s.get(f"{base}/api/v1/tokens", headers=api_hdr)
        assert r.status == 200
        listed = await r.json()
        assert [t["name"] for t in listed["tokens"]] == ["nvr"]
        assert "token" not in listed["tokens"][0]
        r = await s.post(f"{base}/api/v1/tokens", headers=hdr, json={"expires_in": -1})
        assert r.status == 422
        r = await s.delete(f"{base}/api/v1/tokens/{created['id']}", headers=hdr)
        assert r.status == 204
        r = await s.get(f"{base}/api/v1/tokens", headers=api_hdr)
        assert r.status == 401
        r = await s.delete(f"{base}/api/v1/tokens/{created['id']}", headers=hdr)
        assert r.status == 404


async def test_media_token_scope_and_expiry(gw: Gateway) -> None:
    base = _base(gw)
    hdr = {"Authorization": f"Bearer {await _token(gw)}"}
    async with aiohttp.ClientSession() as s:
        r = await s.get(f"{base}/api/v1/media-token?stream=cam1&ttl=60", headers=hdr)
        assert r.status == 200
        tok = (await r.json())["token"]
        # accepted on the stream's media URLs (whatever the route answers, it is not 401)
        r = await s.get(f"{base}/cam1/whatever.m3u8?token={tok}")
        assert r.status != 401
        # not for another stream, not for the API
        r = await s.get(f"{base}/cam2/whatever.m3u8?token={tok}")
        assert r.status == 401
        r = await s.get(f"{base}/api/v1/tokens?token={tok}")
        assert r.status == 401
        # a tampered token and an expired one are refused
        r = await s.get(f"{base}/cam1/whatever.m3u8?token={tok[:-2]}xx")
        assert r.status == 401
        assert gw.deps is not None
        r = await s.get(f"{base}/api/v1/media-token?stream=cam1&ttl=1", headers=hdr)
        short = (await r.json())["token"]
        await asyncio.sleep(max(0.0, int(short.split(".")[0]) - time.time()) + 0.2)
        r = await s.get(f"{base}/cam1/whatever.m3u8?token={short}")
        assert r.status == 401
        r = await s.get(f"{base}/api/v1/media-token?stream=Bad!&ttl=0", headers=hdr)
        assert r.status == 422
        assert set((await r.json())["errors"]) == {"stream", "ttl"}


async def test_wrong_passwords_rate_limited_without_user_enumeration(gw: Gateway) -> None:
    await _token(gw)
    base = _base(gw)
    async with aiohttp.ClientSession() as s:

        async def attempt(who: str, pw: str) -> tuple[int, dict[str, object], float]:
            t0 = time.monotonic()
            r = await s.post(f"{base}/api/v1/login", json={"login": who, "password": pw})
            return r.status, await r.json(), time.monotonic() - t0

        # same status and body for a wrong password and an unknown user; same work done
        known = [await attempt("admin", f"wrong-{i}") for i in range(2)]
        unknown = [await attempt("nobody", f"wrong-{i}") for i in range(2)]
        assert {k[0] for k in known + unknown} == {401}
        assert known[0][1] == unknown[0][1]
        t_known = min(k[2] for k in known)
        t_unknown = min(k[2] for k in unknown)
        assert t_unknown > t_known / 4 and t_known > t_unknown / 4  # both hash (same class)
        # failures from this address keep adding up: soon refused before checking at all
        statuses = [(await attempt("ghost", "x"))[0] for _ in range(6)]
        assert 429 in statuses
        r = await s.post(f"{base}/api/v1/login", json={"login": "admin", "password": TEST_PASSWORD})
        assert r.status == 429  # even the right password waits: the address is throttled
        assert int(r.headers["Retry-After"]) >= 1
        assert set(await r.json()) == {"message", "errors"}


async def test_camgate_passwd_sets_admin_password(tmp_path: Path) -> None:
    async with running_gateway(_config(tmp_path)):
        pass
    assert (tmp_path / "initial-admin-password").exists()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "passwd", "--data", str(tmp_path), "--password-stdin",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(b"another-password-42\n"), 60)
    assert proc.returncode == 0, out
    assert not (tmp_path / "initial-admin-password").exists()
    async with running_gateway(_config(tmp_path)) as g, aiohttp.ClientSession() as s:
        r = await s.post(f"{_base(g)}/api/v1/login",
                         json={"login": "admin", "password": "another-password-42"})
        assert r.status == 200
        assert (await r.json())["password_change_required"] is False
        assert not (tmp_path / "initial-admin-password").exists()  # not re-created


async def test_cross_site_cookie_writes_refused(gw: Gateway) -> None:
    await _token(gw)
    base = _base(gw)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        r = await s.post(f"{base}/api/v1/login",
                         json={"login": "admin", "password": TEST_PASSWORD})
        assert r.status == 200
        r = await s.post(f"{base}/api/v1/tokens", json={"name": "x"},
                         headers={"Origin": "http://evil.example"})
        assert r.status == 403
        r = await s.post(f"{base}/api/v1/tokens", json={"name": "x"},
                         headers={"Origin": base})
        assert r.status == 201


async def test_media_token_opens_live_hls(gw: Gateway) -> None:
    base = _base(gw)
    hdr = {"Authorization": f"Bearer {await _token(gw)}"}
    async with aiohttp.ClientSession() as s:
        r = await s.get(f"{base}/api/v1/media-token?stream=cam1&ttl=120", headers=hdr)
        tok = (await r.json())["token"]
        r = await s.get(f"{base}/cam1/index.m3u8?token={tok}")
        assert r.status == 200, await r.text()
        playlist = await r.text()
        uris = [ln.split('URI="')[1].split('"')[0] if 'URI="' in ln else ln
                for ln in playlist.splitlines()
                if ln and (not ln.startswith("#") or 'URI="' in ln)]
        assert uris and all(f"token={tok}" in u for u in uris), playlist
        r = await s.get(f"{base}/cam1/{uris[-1]}")  # a media segment, by the token alone
        assert r.status == 200 and len(await r.read()) > 0


async def test_demo_prints_the_initial_login(tmp_path: Path) -> None:
    from tests.peers.procs import free_port

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "demo", "--port", str(free_port()),
        "--data", str(tmp_path), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = b""
        async with asyncio.timeout(60):
            while b"login:" not in line:
                line = await proc.stdout.readline()
                assert line, "demo exited"
        printed = line.decode().split("admin /", 1)[1].strip()
        assert printed == (tmp_path / "initial-admin-password").read_text().strip()
    finally:
        proc.terminate()
        await proc.wait()


async def test_cors_preflight_of_media_routes_needs_no_credentials(gw: Gateway) -> None:
    """Browsers send preflights without credentials; only media routes answer them, and
    an anonymous preflight learns nothing about ICE servers."""
    base = _base(gw)
    pre = {"Origin": "http://player.example", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "authorization, content-type"}
    async with aiohttp.ClientSession() as s:
        r = await s.options(f"{base}/cam1/whep", headers=pre)
        assert r.status == 204
        assert "POST" in r.headers["Access-Control-Allow-Methods"]
        assert "Link" not in r.headers
        r = await s.options(f"{base}/api/v1/streams", headers=pre)
        assert r.status == 401
        r = await s.options(f"{base}/cam1/whep")  # not a preflight: credentials needed
        assert r.status == 401
