"""``GET /api/v1/episodes``: filters, cursor pages, long-poll, previews; the event bus."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.config import Config, ServerConfig, StorageConfig
from gateway.events.bus import Event, EventBus
from gateway.sinks.motion import MotionService
from gateway.store.episodes import EpisodeQuery
from gateway.web.episodes import parse_time
from tests.peers.auth import login
from tests.peers.inproc import running_gateway

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    cfg = Config(server=ServerConfig(host="127.0.0.1", port=0),
                 storage=StorageConfig(path=tmp_path, reserve=1))  # fmt: skip
    async with running_gateway(cfg) as g:
        yield g


async def _session(gw: Gateway) -> tuple[str, aiohttp.ClientSession, MotionService]:
    base = f"http://127.0.0.1:{gw.port}"
    token = await asyncio.to_thread(login, base, gw.data_dir)
    assert gw.deps is not None and gw.deps.motion is not None
    return base, aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}), gw.deps.motion


async def test_filters_and_cursor_pages(gw: Gateway) -> None:
    base, http, motion = await _session(gw)
    async with http:
        t0 = time.time() - 100
        for i in range(7):
            await motion.episodes.open("a" if i % 2 else "b", t0 + i, zones=["door"])
        await motion.episodes.open("a", t0 + 50, episode_type="tamper")
        async with http.get(f"{base}/api/v1/episodes", params={"media": "a"}) as r:
            body = await r.json()
        assert body["estimated_count"] == 4
        assert {e["media"] for e in body["episodes"]} == {"a"}
        ep = body["episodes"][0]
        assert set(ep) >= {"episode_id", "media", "episode_type", "opened_at", "closed_at",
                           "updated_at", "preview", "close_reason"}  # fmt: skip
        assert ep["opened_at"].endswith("Z") and ep["closed_at"] is None
        async with http.get(f"{base}/api/v1/episodes",
                            params={"episode_type": "motion", "media": "a,b"}) as r:
            assert (await r.json())["estimated_count"] == 7
        # pages of 3, newest first, forward then back
        seen: list[int] = []
        params = {"limit": "3", "episode_type": "motion"}
        pages = []
        nxt = None
        while True:
            async with http.get(f"{base}/api/v1/episodes",
                                params={**params, **({"cursor": nxt} if nxt else {})}) as r:
                page = await r.json()
            pages.append(page)
            seen += [e["episode_id"] for e in page["episodes"]]
            nxt = page["next"]
            if not nxt:
                break
        assert len(seen) == 7 and len(set(seen)) == 7
        opened = [parse_time(e["opened_at"]) for p in pages for e in p["episodes"]]
        assert opened == sorted(opened, reverse=True)
        async with http.get(f"{base}/api/v1/episodes",
                            params={**params, "cursor": pages[-1]["prev"]}) as r:
            back = await r.json()
        assert [e["episode_id"] for e in back["episodes"]] == [
            e["episode_id"] for e in pages[-2]["episodes"]]
        async with http.get(f"{base}/api/v1/episodes", params={"cursor": "garbage"}) as r:
            assert r.status == 422
        async with http.get(f"{base}/api/v1/episodes", params={"poll_timeout": "-1"}) as r:
            assert r.status == 422 and "poll_timeout" in (await r.json())["errors"]
    async with aiohttp.ClientSession() as anon, anon.get(f"{base}/api/v1/episodes") as r:
        assert r.status == 401


async def test_long_poll_returns_as_soon_as_an_episode_changes(gw: Gateway) -> None:
    base, http, motion = await _session(gw)
    async with http:
        row = await motion.episodes.open("cam", time.time())
        since = (await (await http.get(f"{base}/api/v1/episodes")).json())["episodes"][0][
            "updated_at"]
        # nothing newer: the poll waits, then answers empty
        t = time.monotonic()
        async with http.get(f"{base}/api/v1/episodes",
                            params={"updated_at_gt": since, "poll_timeout": "0.5"}) as r:
            assert (await r.json())["episodes"] == []
        assert 0.4 < time.monotonic() - t < 3

        async def close_later() -> float:
            await asyncio.sleep(0.5)
            await motion.episodes.update(row.id, closed_at=time.time(), close_reason="quiet")
            return time.monotonic()

        closer = asyncio.create_task(close_later())
        async with http.get(f"{base}/api/v1/episodes",
                            params={"updated_at_gt": since, "poll_timeout": "20"}) as r:
            body = await r.json()
        answered = time.monotonic()
        closed_at = await closer
        assert [e["episode_id"] for e in body["episodes"]] == [row.id]
        assert body["episodes"][0]["close_reason"] == "quiet"
        assert answered - closed_at < 1.0
        # the same updated_at read back excludes what was already seen
        async with http.get(f"{base}/api/v1/episodes", params={
                "updated_at_gt": body["episodes"][0]["updated_at"]}) as r:  # fmt: skip
            assert (await r.json())["episodes"] == []


async def test_preview_is_served_and_confined(gw: Gateway) -> None:
    base, http, motion = await _session(gw)
    async with http:
        (motion.previews_dir / "cam").mkdir(parents=True)
        (motion.previews_dir / "cam" / "1.jpg").write_bytes(b"\xff\xd8fake\xff\xd9")
        row = await motion.episodes.open("cam", time.time(), preview="cam/1.jpg")
        evil = await motion.episodes.open("cam", time.time(), preview="../camgate.db")
        async with http.get(f"{base}/api/v1/episodes/{row.id}/preview.jpg") as r:
            assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
        async with http.get(f"{base}/api/v1/episodes/{evil.id}/preview.jpg") as r:
            assert r.status == 404
        async with http.get(f"{base}/api/v1/episodes/99999") as r:
            assert r.status == 404


async def test_bus_never_blocks_the_publisher_and_counts_drops() -> None:
    bus = EventBus()
    slow = bus.subscribe(maxsize=3)
    picky = bus.subscribe(accept=lambda e: e.stream == "b")
    for i in range(10):
        bus.publish(Event("motion.episode_opened", "a" if i % 2 else "b", data={"i": i}))
    assert slow.drops == 7 and bus.drops == 7
    assert [e.data["i"] for e in [slow.get_nowait(), slow.get_nowait(), slow.get_nowait()]
            if e] == [7, 8, 9]  # fmt: skip
    got = []
    while (e := picky.get_nowait()) is not None:
        got.append(e.data["i"])
    assert got == [0, 2, 4, 6, 8]
    slow.close()
    assert bus.drops == 7
    with pytest.raises(EOFError):
        await slow.get()


async def test_prune_keeps_the_newest_closed_episodes(gw: Gateway) -> None:
    assert gw.deps is not None and gw.deps.motion is not None
    eps = gw.deps.motion.episodes
    now = time.time()
    rows = [await eps.open("p", now - 100 + i, preview=f"p/{i}.jpg") for i in range(6)]
    for r in rows[:5]:
        await eps.update(r.id, closed_at=r.opened_at + 1, close_reason="quiet")
    await eps.open("other", now - 10**7, preview="o.jpg")
    gone = await eps.prune("p", now - 97.5, keep=4)  # 0..2 too old; 0..1 beyond the newest 4
    assert sorted(gone) == ["p/0.jpg", "p/1.jpg", "p/2.jpg"]
    left = {r.id for r in (await eps.query(EpisodeQuery(media=("p",))))[0]}
    assert left == {r.id for r in rows[3:]}  # the open one is never pruned


async def test_shutdown_does_not_wait_for_open_long_polls(tmp_path: Path) -> None:
    cfg = Config(server=ServerConfig(host="127.0.0.1", port=0),
                 storage=StorageConfig(path=tmp_path, reserve=1))  # fmt: skip
    async with running_gateway(cfg) as g:
        base, http, _ = await _session(g)
        poll = asyncio.create_task(
            http.get(f"{base}/api/v1/episodes", params={"updated_at_gt": "0",
                                                        "poll_timeout": "60"}))  # fmt: skip
        await asyncio.sleep(0.5)
        assert not poll.done()
        t = time.monotonic()
    took = time.monotonic() - t
    async with http:
        r = await poll
        assert r.status == 200 and (await r.json())["episodes"] == []
        r.release()
    assert took < 5, took


async def test_openapi_describes_episodes(gw: Gateway) -> None:
    base, http, _ = await _session(gw)
    async with http, http.get(f"{base}/api/openapi.json") as r:
        doc = await r.json()
    op = doc["paths"]["/api/v1/episodes"]["get"]
    assert {p["name"] for p in op["parameters"]} >= {"media", "updated_at_gt", "poll_timeout",
                                                      "cursor", "limit", "episode_type"}
    assert "/api/v1/episodes/{id}/preview.jpg" in doc["paths"]
