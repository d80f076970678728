"""The daemon as a user runs it: SIGTERM stops it within 5 s with the last segment closed
and indexed; ``camgate demo`` starts, records and cleans up."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.peers.dvr import contiguous, files, integrity, rows
from tests.peers.procs import Daemon, ffprobe, free_port, wait_for

CAM = "synthetic://?size=320x180&fps=10&gop=10&bitrate=300k"


def test_sigterm_closes_and_indexes_the_last_segment(tmp_path: Path) -> None:
    data = tmp_path / "data"
    daemon = Daemon(data, f'[storage]\nreserve = 1\nsegment_duration = 4\n'
                          f'[[streams]]\nname = "cam"\ninputs = ["{CAM}"]\n')
    daemon.start(timeout=60)
    try:
        wait_for(lambda: len(rows(data, "cam")) >= 1, 30)
        time.sleep(2.5)  # well into the next 4 s segment
        proc = daemon.proc
        assert proc is not None
        stop_ms = time.time() * 1000
        took = daemon.terminate(timeout=15)
    finally:
        daemon.kill9()
    assert took < 5.0, took
    assert proc.returncode == 0
    rs = rows(data, "cam")
    whole, parts = files(data)
    assert parts == {} and {r.path for r in rs} == set(whole)
    assert integrity(data) == "ok"
    assert contiguous(rs, slack_ms=0)
    last = rs[-1]
    # The segment in progress at SIGTERM was closed and indexed, up to the stop.
    assert stop_ms - 1500 <= last.end_ms <= stop_ms + 1000, (last, stop_ms)
    assert last.duration_ms < 4000
    r = ffprobe(data / "segments" / last.path, "-count_frames", "-show_entries",
                "stream=nb_read_frames", "-of", "json")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    frames = int(json.loads(r.stdout)["streams"][0]["nb_read_frames"])
    assert abs(frames * 100 - last.duration_ms) <= 200
    # Streams declared in the config are stored in SQLite.
    conn = sqlite3.connect(data / "camgate.db")
    try:
        (name, cfg, origin), = conn.execute("SELECT name, config, origin FROM streams")
    finally:
        conn.close()
    assert (name, origin) == ("cam", "config")
    assert json.loads(cfg)["inputs"] == [{"url": CAM}]


def test_demo_starts_records_and_cleans_up(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "demo", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.strip().startswith("data dir:"):
                break
        text = "".join(lines)
        assert "camgate demo is running" in text, text
        assert f"http://127.0.0.1:{port}/" in text
        data = Path(text.split("data dir:")[1].strip())
        assert data.parent == tmp_path
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            assert json.load(r)["status"] == "ok"
        wait_for(lambda: len(rows(data, "demo")) >= 1, 30, 0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
    assert not data.exists()  # the temporary data dir is removed
