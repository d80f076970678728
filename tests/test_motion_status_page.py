"""Status page: motion episodes appear as thumbnails under the tile and marks on the timeline,
and a thumbnail plays its DVR range (headless Debian Chromium via playwright)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers.auth import TEST_PASSWORD
from tests.peers.procs import Daemon
from tests.test_status_page_browser import ARTIFACTS, CHROMIUM, FLAGS

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]

# the synthetic camera's moving box is motion from the first seconds on
CONFIG = """
[storage]
segment_duration = 1.0
reserve = 1
[[streams]]
name = "cam"
inputs = [{ url = "synthetic://?size=640x360&fps=15&gop=15&bitrate=500k" }]
vision = { motion = { close_after = 1.0, max_duration = 10 } }
"""


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path / "data", CONFIG).start()
    yield d
    d.terminate(20)


def test_episode_thumbnails_and_timeline_marks(daemon: Daemon) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    initial = (daemon.data / "initial-admin-password").read_text().strip()
    profile = daemon.data.parent / "chromium-profile"
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 800},
        )  # fmt: skip
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(daemon.base + "/")
            page.fill("#password", initial)
            page.click("#login-submit")
            page.wait_for_selector("#change-form:not([hidden])")
            page.fill("#new-password", TEST_PASSWORD)
            page.click("#change-submit")
            page.wait_for_selector("#tile-cam .episodes figure img", timeout=60_000)
            page.wait_for_function(
                "() => { const i = document.querySelector('#tile-cam .episodes img');"
                " return i && i.complete && i.naturalWidth >= 320; }", timeout=20_000)
            # the timeline layer draws the episode marks (orange) at the canvas bottom
            marked = page.evaluate("""() => {
              const c = camgate.tiles.cam.canvas, ctx = c.getContext('2d');
              camgate.setSpan(300); camgate.redraw(camgate.tiles.cam);
              const d = ctx.getImageData(0, c.height - 2, c.width, 1).data;
              for (let i = 0; i < d.length; i += 4)
                if (d[i] > 200 && d[i + 1] > 90 && d[i + 1] < 150 && d[i + 2] < 80) return true;
              return false;
            }""")
            assert marked
            page.screenshot(path=str(ARTIFACTS / "status-page-episodes.png"), full_page=True)
            page.click("#tile-cam .episodes figure")
            page.wait_for_function("() => camgate.tiles.cam.source.kind === 'dvr'",
                                   timeout=10_000)
            assert errors == []
        finally:
            browser.close()
            shutil.rmtree(profile, ignore_errors=True)
