"""What the gateway carries before anyone asks for it (memory on a Pi)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import asyncio, sys
from pathlib import Path
from gateway.config import Config, ServerConfig, StorageConfig
from tests.peers.inproc import running_gateway

async def main():
    cfg = Config(server=ServerConfig(host="127.0.0.1", port=0),
                 storage=StorageConfig(path=Path(sys.argv[1]), reserve=1))
    async with running_gateway(cfg):
        await asyncio.sleep(0.2)
    heavy = sorted(m for m in ("aiortc", "aioice", "pylibsrtp") if m in sys.modules)
    print("loaded:", heavy)
    sys.exit(1 if heavy else 0)

asyncio.run(main())
"""


def test_webrtc_stack_is_loaded_only_when_a_viewer_asks(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "data")], cwd=root,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
