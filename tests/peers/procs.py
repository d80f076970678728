"""Starting, stopping and killing the real processes the tests talk to."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3, which has python3-gi and GStreamer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], object], timeout: float, interval: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        time.sleep(interval)


class RtspServer:
    """GStreamer's RTSP server in a subprocess; can be stopped, killed and restarted."""

    def __init__(self, *args: str, port: int | None = None, user: str | None = None,
                 password: str | None = None) -> None:
        self.port = port or free_port()
        self.user, self.password = user, password
        self.args = list(args)
        self.proc: subprocess.Popen[str] | None = None

    def url(self, mount: str = "/stream1", *, user: str | None = None,
            password: str | None = None) -> str:
        u = user if user is not None else self.user
        p = password if password is not None else self.password
        cred = f"{u}:{p}@" if u else ""
        return f"rtsp://{cred}127.0.0.1:{self.port}{mount}"

    def start(self, timeout: float = 15.0) -> RtspServer:
        cmd = [SYSTEM_PYTHON, str(ROOT / "tests/peers/rtsp_server.py"), "--port", str(self.port)]
        if self.user:
            cmd += ["--user", self.user, "--password", self.password or ""]
        cmd += self.args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("READY"):
                return self
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError(f"RTSP server did not start: {cmd}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._close()

    def _close(self) -> None:
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None


class Daemon:
    """``camgate run`` in a subprocess with its own config and data dir."""

    def __init__(self, data: Path, config_text: str, *, port: int | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.data = data
        self.port = port or free_port()
        self.config_path = data.parent / f"{data.name}.toml"
        self.config_path.write_text(
            f'[server]\nlisten = "127.0.0.1:{self.port}"\n' + config_text
        )
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data.parent / f"{data.name}.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Daemon:
        cmd = [sys.executable, "-m", "gateway", "run", "--config", str(self.config_path),
               "--data", str(self.data)]
        logf = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=self.env)
        logf.close()
        wait_for(self.healthy, timeout, 0.1)
        return self

    def healthy(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"camgate exited: {self.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=1) as r:
                return bool(json.load(r)["status"] == "ok")
        except OSError:
            return False

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def terminate(self, timeout: float = 10.0) -> float:
        """SIGTERM; returns how long the process took to exit."""
        assert self.proc is not None
        t = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)
        took = time.monotonic() - t
        self.proc = None
        return took


def ffprobe(path: Path | str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ffprobe", "-v", "error", *extra, str(path)], capture_output=True, text=True, timeout=60
    )


def ffprobe_json(path: Path | str, *extra: str) -> dict[str, object]:
    r = ffprobe(path, "-of", "json", *extra)
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))
