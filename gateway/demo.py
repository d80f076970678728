"""``camgate demo``: a temporary data dir, a simulated camera, the gateway on it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from gateway.app import Gateway, run_gateway
from gateway.config import Config, ServerConfig, StorageConfig, StorageLimit, parse_stream

DEMO_URL = "synthetic://?size=1280x720&fps=25&gop=50&bitrate=2M"


def demo_config(data: Path, port: int) -> Config:
    stream = parse_stream(
        {
            "name": "demo",
            "title": "Simulated camera",
            "inputs": [{"url": DEMO_URL}],
            "dvr": {"storage_limit": "1GB"},
        },
        "demo",
    )
    return Config(
        server=ServerConfig(host="127.0.0.1", port=port),
        storage=StorageConfig(
            path=data, storage_limit=StorageLimit(bytes=2 * 10**9), reserve=16 * 2**20
        ),
        streams=(stream,),
    )


def run_demo(port: int = 8080, data: Path | None = None) -> int:
    tmp = None
    if data is None:
        tmp = Path(tempfile.mkdtemp(prefix="camgate-demo-"))
        data = tmp

    def ready(gw: Gateway) -> None:
        base = f"http://127.0.0.1:{gw.port}"
        login_file = data / "initial-admin-password"
        login = (
            f"admin / {login_file.read_text().strip()}" if login_file.exists() else "(no login yet)"
        )
        print(
            f"camgate demo is running\n"
            f"  status page: {base}/\n"
            f"  login:       {login}\n"
            f"  stream:      demo ({DEMO_URL})\n"
            f"  data dir:    {data}\n"
            f"Press Ctrl-C to stop.",
            flush=True,
        )

    try:
        return run_gateway(demo_config(data, port), on_ready=ready)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
