"""Set-up shared by the WebRTC tests and benchmarks: namespaces, camera, gateway, viewers.

The test's thread enters the gateway namespace (``NetnsPair.entered``): the RTSP server it
starts and the in-process gateway both live there; viewers (aiortc client processes,
Chromium) run in the viewer namespace and reach the gateway at ``pair.gw_ip``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.app import Gateway
from gateway.cameras import Camera
from gateway.config import (
    Config,
    InputConfig,
    ServerConfig,
    StorageConfig,
    StreamConfig,
    WebRtcConfig,
)
from tests.peers.auth import login
from tests.peers.inproc import running_gateway
from tests.peers.netns import NetnsPair
from tests.peers.procs import ROOT, free_port


@contextlib.contextmanager
def netns_pair(index: int | None = None) -> Iterator[NetnsPair]:
    pair = NetnsPair(index).create()
    try:
        with pair.entered(pair.gw):
            yield pair
    finally:
        pair.delete()


@dataclass
class WebRtcEnv:
    pair: NetnsPair
    gw: Gateway
    base: str
    token: str

    def camera(self, name: str = "cam") -> Camera:
        assert self.gw.deps is not None
        cam = self.gw.deps.cameras.get(name)
        assert cam is not None
        return cam

    def whep_url(self, name: str = "cam") -> str:
        return f"{self.base}/{name}/whep"

    def client(self, *args: str, name: str = "cam") -> subprocess.Popen[str]:
        """An aiortc viewer process in the viewer namespace (see tests/peers/whep_client)."""
        cmd = [*self.pair.exec_prefix(self.pair.client), sys.executable, "-m",
               "tests.peers.whep_client", self.whep_url(name), "--token", self.token, *args]
        return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    async def browser(self, *args: str, within: float = 120.0) -> dict[str, Any]:
        """Headless Chromium in the viewer namespace (see tests/peers/whep_browser)."""
        cmd = [*self.pair.exec_prefix(self.pair.client), sys.executable, "-m",
               "tests.peers.whep_browser", self.base, *args]
        proc = await asyncio.to_thread(subprocess.run, cmd, cwd=ROOT, capture_output=True,
                                       text=True, timeout=within)
        rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        assert rows, proc.stderr[-3000:]
        return dict(json.loads(rows[-1]))

    async def wait_ready(self, proc: subprocess.Popen[str], within: float = 20.0) -> None:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), within)
        assert line.strip() == "READY", (line, proc.stderr.read() if proc.stderr else "")

    async def results(self, proc: subprocess.Popen[str], within: float = 60.0
                      ) -> list[dict[str, Any]]:
        out, err = await asyncio.wait_for(asyncio.to_thread(proc.communicate), within)
        rows = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
        assert rows, err[-3000:]
        return rows


def gateway_config(data: Path, pair: NetnsPair, streams: dict[str, tuple[str, ...]],
                   webrtc: WebRtcConfig | None = None) -> Config:
    return Config(
        server=ServerConfig(pair.gw_ip, free_port()),
        storage=StorageConfig(path=data),
        streams=tuple(
            # motion off: its decoder would compete for the CPU these tests time
            StreamConfig(name, inputs=tuple(InputConfig(u) for u in urls),
                         vision={"motion": {"enabled": False}})
            for name, urls in streams.items()
        ),
        webrtc=webrtc or WebRtcConfig(),
    )


@contextlib.asynccontextmanager
async def webrtc_env(data: Path, pair: NetnsPair, streams: dict[str, tuple[str, ...]],
                     webrtc: WebRtcConfig | None = None) -> AsyncIterator[WebRtcEnv]:
    cfg = gateway_config(data, pair, streams, webrtc)
    async with running_gateway(cfg) as gw:
        base = f"http://{pair.gw_ip}:{gw.port}"
        token = await asyncio.to_thread(login, base, data)
        env = WebRtcEnv(pair, gw, base, token)
        for name in streams:
            await wait_video(env.camera(name))
        yield env


async def wait_video(cam: Camera, within: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while cam.hub.stats.keyframes < 1:
        assert loop.time() < deadline, f"{cam.name}: no video from the camera"
        await asyncio.sleep(0.05)
