"""Shared set-up of the serving tests: an in-process gateway on a synthetic camera."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from gateway.app import Gateway
from gateway.config import Config, InputConfig, ServerConfig, StorageConfig, StreamConfig
from tests.peers.auth import login
from tests.peers.inproc import running_gateway

SYNTH = "synthetic://?size=640x360&fps=25&gop=25&bitrate=1M"


@dataclass
class Env:
    gw: Gateway
    base: str
    token: str
    data: Path
    session: aiohttp.ClientSession

    async def get(self, path: str, **kw: object) -> tuple[int, bytes, dict[str, str]]:
        async with self.session.get(self.base + path, **kw) as r:  # type: ignore[arg-type]
            return r.status, await r.read(), dict(r.headers)

    async def json(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        async with self.session.request(method, self.base + path, json=body) as r:
            text = await r.read()
            return r.status, (json.loads(text) if text else None)

    async def media_token(self, stream: str) -> str:
        status, body = await self.json("GET", f"/api/v1/media-token?stream={stream}&ttl=600")
        assert status == 200, body
        assert isinstance(body, dict)
        return str(body.get("token"))


def config(data: Path, streams: dict[str, str]) -> Config:
    return Config(
        server=ServerConfig("127.0.0.1", 0),
        storage=StorageConfig(path=data),
        streams=tuple(
            StreamConfig(name, inputs=(InputConfig(url),)) for name, url in streams.items()
        ),
    )


@contextlib.asynccontextmanager
async def gateway_env(data: Path, streams: dict[str, str] | None = None) -> AsyncIterator[Env]:
    async with running_gateway(config(data, streams or {"cam": SYNTH})) as gw:
        base = f"http://127.0.0.1:{gw.port}"
        token = await asyncio.to_thread(login, base, data)
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            yield Env(gw, base, token, data, session)


async def wait_segments(env: Env, stream: str, count: int, within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    assert env.gw.deps is not None
    while len(await env.gw.deps.recordings.latest(stream, count)) < count:
        assert loop.time() < deadline, "segments were not recorded in time"
        await asyncio.sleep(0.2)


def extinf(playlist: str) -> list[tuple[float, str]]:
    """(duration, uri) of each media segment of a playlist."""
    return [(float(m[1]), m[2]) for m in re.finditer(r"#EXTINF:([\d.]+),\n(\S+)", playlist)]


async def probe_bytes(data: bytes, *entries: str, seekable: bool = False) -> dict[str, object]:
    """ffprobe (JSON) of an in-memory file (as a seekable temporary file if asked)."""
    def run() -> dict[str, object]:
        with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
            if seekable:
                f.write(data)
                f.flush()
            r = subprocess.run(
                ["ffprobe", "-v", "error", "-of", "json", *entries,
                 "-i", f.name if seekable else "pipe:0"],
                input=None if seekable else data, capture_output=True, timeout=60,
            )
        assert r.returncode == 0, r.stderr.decode()
        return dict(json.loads(r.stdout))

    return await asyncio.to_thread(run)


async def probe_url(url: str, *entries: str) -> dict[str, object]:
    def run() -> dict[str, object]:
        r = subprocess.run(
            ["ffprobe", "-v", "error", "-of", "json", *entries, url],
            capture_output=True, timeout=90,
        )
        assert r.returncode == 0, r.stderr.decode()
        return dict(json.loads(r.stdout))

    return await asyncio.to_thread(run)
