"""Acceptance: kill -9 of the daemon at 50 random moments while it records two cameras.

After each kill (daemon stopped): the database passes ``PRAGMA integrity_check``, every row
has its file, and the only files without a row are the segments in progress.  After each
restart (reconciliation done): among everything recorded before the kill, rows and files
match one to one, and nothing but the segments in progress was lost.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from tests.peers.dvr import files, integrity, rows
from tests.peers.procs import Daemon

KILLS = 50
STREAMS = ("a", "b")
CONFIG = """
[storage]
reserve = 1
segment_duration = 1
""" + "".join(
    f'[[streams]]\nname = "{s}"\ninputs = ["synthetic://?size=320x180&fps=10&gop=5&bitrate=300k"]\n'
    for s in STREAMS
)


def _start_ms(path: str) -> int:
    return int(Path(path).name.split(".")[0].split("-")[0])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill9_at_50_random_moments(tmp_path: Path) -> None:
    rng = random.Random(50)
    data = tmp_path / "data"
    daemon = Daemon(data, CONFIG)
    daemon.start(timeout=60)
    lost_in_progress = 0
    salvaged = 0
    killed_while_starting = 0
    try:
        for i in range(KILLS):
            if i % 7 == 3:
                # Some kills land while it starts up (reconciling, opening cameras).
                daemon.kill9()
                daemon.start(timeout=60)
                time.sleep(rng.uniform(0.0, 0.3))
                killed_while_starting += 1
            else:
                time.sleep(rng.uniform(0.1, 1.8))
            kill_ms = int(time.time() * 1000)
            daemon.kill9()

            # -- stopped: integrity, no row without a file, only in-progress files unindexed
            assert integrity(data) == "ok", f"kill {i}"
            before_rows = rows(data)
            before = {r.path for r in before_rows}
            whole, parts = files(data)
            assert before <= set(whole), f"kill {i}: rows without files {before - set(whole)}"
            unindexed = set(whole) - before
            # a segment renamed in the instant before its row was committed
            assert len(unindexed) <= len(STREAMS), (i, unindexed)
            assert len(parts) <= len(STREAMS), (i, parts)
            in_progress = unindexed | {p.removesuffix(".part") for p in parts}

            # -- restarted: reconciliation repaired everything recorded before the kill
            daemon.start(timeout=60)
            after_rows = [r for r in rows(data) if r.start_ms < kill_ms]
            after = {r.path for r in after_rows}
            whole2, parts2 = files(data)
            old_whole = {p for p in whole2 if _start_ms(p) < kill_ms}
            old_parts = {p for p in parts2 if _start_ms(p) < kill_ms}
            assert old_parts == set(), (i, old_parts)
            assert after == old_whole, f"kill {i}: rows {after ^ old_whole} differ from files"
            assert before <= after, f"kill {i}: finished segments lost: {before - after}"
            assert after - before <= in_progress, (i, after - before, in_progress)
            lost_in_progress += len(in_progress - after)
            salvaged += len(in_progress & after)
            for r in after_rows:
                assert 0 < r.duration_ms <= 5000, r
        took = daemon.terminate()
        assert took < 5
    finally:
        daemon.kill9()
    # Stopped cleanly at the end: rows and files match exactly, nothing in progress.
    assert integrity(data) == "ok"
    whole, parts = files(data)
    assert parts == {}
    assert {r.path for r in rows(data)} == set(whole)
    per_stream = {s: len(rows(data, s)) for s in STREAMS}
    assert all(n >= KILLS // 2 for n in per_stream.values()), per_stream
    assert salvaged > 0  # torn segments in progress are trimmed and kept, not just removed
    print(f"segments {per_stream}, in-progress lost {lost_in_progress}, salvaged {salvaged}, "
          f"kills while starting {killed_while_starting}")
