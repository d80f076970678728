"""The streams API (Watcher shape, live stats, CRUD, pagination), /metrics and /api/v1/system."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.config import Config, ServerConfig, StorageConfig, parse_stream
from tests.peers.auth import login
from tests.peers.inproc import running_gateway

pytestmark = pytest.mark.timeout(180)
SYN = "synthetic://?size=160x96&fps=10&gop=10&bitrate=100k"
SYN2 = "synthetic://?size=176x144&fps=10&gop=10&bitrate=100k"


class Api:
    def __init__(self, base: str, token: str, session: aiohttp.ClientSession) -> None:
        self.base, self.s = base, session
        self.hdr = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.s.request(method, self.base + path, json=body, headers=self.hdr) as r:
            text = await r.text()
            ctype = r.headers.get("Content-Type", "")
            return r.status, (await r.json()) if "json" in ctype and text else text


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[Gateway, Api]]:
    cam = parse_stream({"name": "cam1", "title": "Config cam", "inputs": [{"url": SYN}]}, "s")
    cfg = Config(
        server=ServerConfig(host="127.0.0.1", port=0),
        storage=StorageConfig(path=tmp_path, reserve=1, segment_duration=1.0),
        streams=(cam,),
    )
    async with running_gateway(cfg) as gw:
        base = f"http://127.0.0.1:{gw.port}"
        token = await asyncio.to_thread(login, base, tmp_path)
        async with aiohttp.ClientSession() as s:
            yield gw, Api(base, token, s)


async def _until(api: Api, path: str, cond: Any, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        status, body = await api.call("GET", path)
        if status == 200 and cond(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met: {body}")
        await asyncio.sleep(0.3)


async def test_create_stats_update_delete(env: tuple[Gateway, Api]) -> None:
    gw, api = env
    assert gw.deps is not None
    status, body = await api.call("PUT", "/api/v1/streams/front",
                                  {"title": "Front", "inputs": [{"url": SYN}],
                                   "dvr": {"expiration": 3600}})
    assert status == 200, body
    assert body["name"] == "front" and body["title"] == "Front"
    assert body["dvr"] == {"expiration": 3600}
    body = await _until(
        api, "/api/v1/streams/front",
        lambda b: b["stats"]["alive"] and b["stats"]["bitrate"] > 0
        and b["stats"]["dvr_info"]["ranges"],
    )
    st = body["stats"]
    assert st["status"] == "running"
    assert st["lifetime"] > 0 and st["last_dts_at"] > (time.time() - 30) * 1000
    assert st["media_info"]["tracks"][0]["codec"] == "h264"
    assert st["media_info"]["tracks"][0]["width"] == 160
    assert st["online_clients"] == 0
    dvr = st["dvr_info"]
    assert dvr["bytes"] > 0 and dvr["from"] <= time.time() and dvr["depth"] >= 0
    assert set(dvr["ranges"][0]) == {"from", "duration"}
    # bitrate ~100 kbit/s configured; the synthetic encoder is approximate
    assert 10 < st["bitrate"] < 2000

    cams = gw.deps.cameras
    front, cam1 = cams.get("front"), cams.get("cam1")
    # a title-only change applies without a restart
    status, body = await api.call("PUT", "/api/v1/streams/front", {"title": "Front door"})
    assert status == 200 and body["title"] == "Front door"
    assert body["inputs"] == [{"url": SYN}] and body["dvr"] == {"expiration": 3600}
    assert cams.get("front") is front
    # a new input URL restarts only that camera
    status, body = await api.call("PUT", "/api/v1/streams/front", {"inputs": [{"url": SYN2}]})
    assert status == 200
    assert cams.get("front") is not front and cams.get("cam1") is cam1
    await _until(api, "/api/v1/streams/front",
                 lambda b: b["stats"]["media_info"]["tracks"]
                 and b["stats"]["media_info"]["tracks"][0]["width"] == 176)

    # delete with purge: recordings go too (files and rows)
    seg_dir = gw.data_dir / "segments" / "front"
    assert any(seg_dir.rglob("*.mp4"))
    status, _ = await api.call("DELETE", "/api/v1/streams/front?purge=1")
    assert status == 204
    assert cams.get("front") is None
    assert not seg_dir.exists() or not any(seg_dir.rglob("*.mp4"))
    assert gw.deps.recordings.usage.get("front") is None or \
        gw.deps.recordings.usage["front"].count == 0
    assert await gw.deps.recordings.latest("front") == []
    status, body = await api.call("GET", "/api/v1/streams/front")
    assert status == 404 and set(body) == {"message", "errors"}
    status, body = await api.call("DELETE", "/api/v1/streams/front")
    assert status == 404
    # a stream from the config file cannot be deleted through the API
    status, body = await api.call("DELETE", "/api/v1/streams/cam1")
    assert status == 409 and set(body) == {"message", "errors"}


async def test_validation_errors(env: tuple[Gateway, Api]) -> None:
    _, api = env
    status, body = await api.call("PUT", "/api/v1/streams/bad1", {
        "inputs": [{"url": "ftp://example/x"}], "dvr": {"expiration": -1}, "colour": "red",
    })
    assert status == 422
    assert set(body) == {"message", "errors"}
    assert {"inputs[0].url", "dvr.expiration", "colour"} <= set(body["errors"])
    assert all(isinstance(v, list) and v for v in body["errors"].values())
    status, body = await api.call("PUT", "/api/v1/streams/Bad_Name", {"inputs": [{"url": SYN}]})
    assert status == 422 and "name" in body["errors"]
    status, body = await api.call("PUT", "/api/v1/streams/x1", {"name": "x2",
                                                                 "inputs": [{"url": SYN}]})
    assert status == 422 and "name" in body["errors"]
    status, body = await api.call("PUT", "/api/v1/streams/x1", {})
    assert status == 422 and "inputs" in body["errors"]
    status, body = await api.call("PUT", "/api/v1/streams/x1", ["not", "an", "object"])
    assert status == 422
    status, _ = await api.call("GET", "/api/v1/streams/bad1")
    assert status == 404


async def test_input_passwords_are_redacted_and_kept(env: tuple[Gateway, Api]) -> None:
    gw, api = env
    assert gw.deps is not None
    url = "rtsp://user:s3cret@127.0.0.1:9/stream1"
    status, body = await api.call("PUT", "/api/v1/streams/door",
                                  {"disabled": True, "inputs": [{"url": url}]})
    assert status == 200
    assert body["inputs"][0]["url"] == "rtsp://user:***@127.0.0.1:9/stream1"
    assert "s3cret" not in str(body)
    status, listed = await api.call("GET", "/api/v1/streams?q=door")
    assert "s3cret" not in str(listed)
    # a GET result PUT back with another title keeps the stored password
    body["title"] = "Door"
    status, body2 = await api.call("PUT", "/api/v1/streams/door", body)
    assert status == 200 and body2["title"] == "Door"
    assert gw.deps.cameras.configs["door"].inputs[0].url == url


async def test_pagination_select_sort_q_filters(env: tuple[Gateway, Api]) -> None:
    _, api = env
    names = ["s-a", "s-b", "s-c", "s-d", "s-e"]
    for i, n in enumerate(names):
        status, _ = await api.call("PUT", f"/api/v1/streams/{n}", {
            "title": f"Camera {4 - i}", "disabled": True, "inputs": [{"url": SYN}]})
        assert status == 200
    seen: list[str] = []
    path: str | None = "/api/v1/streams?limit=2&q=s-&select=name,title"
    pages = []
    while path:
        status, body = await api.call("GET", path)
        assert status == 200, body
        assert set(body) == {"estimated_count", "next", "prev", "streams"}
        assert body["estimated_count"] == 5
        assert all(set(s) == {"name", "title"} for s in body["streams"])
        pages.append(body)
        seen += [s["name"] for s in body["streams"]]
        path = (f"/api/v1/streams?limit=2&q=s-&select=name,title&cursor={body['next']}"
                if body["next"] else None)
    assert seen == names and len(pages) == 3
    assert pages[0]["prev"] is None and pages[1]["prev"] is not None
    status, back = await api.call(
        "GET", f"/api/v1/streams?limit=2&q=s-&select=name,title&cursor={pages[2]['prev']}")
    assert [s["name"] for s in back["streams"]] == ["s-c", "s-d"]
    # sort by title (descending) and by name, nested select, filters
    status, body = await api.call("GET", "/api/v1/streams?q=camera&sort=-title&select=name")
    assert [s["name"] for s in body["streams"]] == names
    status, body = await api.call("GET", "/api/v1/streams?sort=title&select=name&q=Camera")
    assert [s["name"] for s in body["streams"]] == names[::-1]
    status, body = await api.call("GET", "/api/v1/streams?select=name,stats.alive&disabled=false")
    assert [s["name"] for s in body["streams"]] == ["cam1"]
    assert set(body["streams"][0]["stats"]) == {"alive"}
    status, body = await api.call("GET", "/api/v1/streams?stats.status=disabled&select=name")
    assert [s["name"] for s in body["streams"]] == names
    status, body = await api.call("GET", "/api/v1/streams/s-a?select=title")
    assert body == {"title": "Camera 4"}
    # the full object when nothing is selected
    status, body = await api.call("GET", "/api/v1/streams?limit=1")
    one = body["streams"][0]
    assert {"name", "title", "disabled", "inputs", "dvr", "stats"} <= set(one)
    assert {"status", "alive", "bitrate", "lifetime", "last_dts_at", "media_info",
            "online_clients", "dvr_info"} <= set(one["stats"])
    # bad parameters are 422 with the field named
    for q, field in [("sort=colour", "sort"), ("limit=0", "limit"), ("cursor=zzz", "cursor")]:
        status, body = await api.call("GET", f"/api/v1/streams?{q}")
        assert status == 422 and field in body["errors"], (q, body)
    # a cursor is bound to its query
    status, body = await api.call("GET", f"/api/v1/streams?sort=-name&cursor={pages[0]['next']}")
    assert status == 422


_SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? '
    r"-?[0-9.e+-]+$|^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (NaN|[+-]Inf)$"
)


async def test_metrics_and_system(env: tuple[Gateway, Api]) -> None:
    _, api = env
    await _until(api, "/api/v1/streams/cam1", lambda b: b["stats"]["bitrate"] > 0)
    async with api.s.get(api.base + "/metrics", headers=api.hdr) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await r.text()
    assert text.endswith("\n")
    families: dict[str, str] = {}
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("gauge", "counter")
            families[name] = kind
        elif line.startswith("# HELP "):
            continue
        else:
            assert _SAMPLE.match(line), line
            key, value = line.rsplit(" ", 1)
            values[key] = float(value)
    for fam in ("camgate_stream_bitrate_bits_per_second", "camgate_stream_packets_total",
                "camgate_stream_drops_total", "camgate_stream_reconnects_total",
                "camgate_stream_segments_total", "camgate_stream_bytes_total",
                "process_cpu_seconds_total", "process_resident_memory_bytes"):
        assert fam in families, fam
    for name in families:
        if families[name] == "counter":
            assert name.endswith("_total"), name
    assert values['camgate_stream_bitrate_bits_per_second{stream="cam1"}'] > 0
    assert values['camgate_stream_packets_total{stream="cam1"}'] > 0
    assert values["process_resident_memory_bytes"] > 10e6

    status, sysinfo = await api.call("GET", "/api/v1/system")
    assert status == 200
    assert {"version", "uptime", "load", "memory", "disk", "temperature", "cpu"} <= set(sysinfo)
    assert sysinfo["memory"]["total"] > 0 and sysinfo["disk"]["total"] > 0
    assert sysinfo["uptime"] >= 0 and len(sysinfo["load"]) == 3


async def test_openapi_lists_every_route(env: tuple[Gateway, Api]) -> None:
    gw, api = env
    status, doc = await api.call("GET", "/api/openapi.json")
    assert status == 200
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for p in ("/api/v1/login", "/api/v1/streams", "/api/v1/streams/{name}", "/api/v1/tokens",
              "/api/v1/system", "/metrics", "/healthz"):
        assert p in paths, p
    assert {"get", "put", "delete"} <= set(paths["/api/v1/streams/{name}"])
    assert paths["/api/v1/login"]["post"]["security"] == []
    # routes of other capabilities are listed from the router
    assert gw.deps is not None
    from gateway.web.app import make_app

    for resource in make_app(gw.deps).router.resources():
        if not resource.canonical.startswith("/static"):
            assert resource.canonical in paths, resource.canonical


async def test_delete_keeps_recordings_unless_purged(env: tuple[Gateway, Api]) -> None:
    gw, api = env
    assert gw.deps is not None
    status, _ = await api.call("PUT", "/api/v1/streams/back", {"inputs": [{"url": SYN}]})
    assert status == 200
    await _until(api, "/api/v1/streams/back",
                 lambda b: b["stats"]["dvr_info"]["bytes"] > 0)
    status, _ = await api.call("DELETE", "/api/v1/streams/back")
    assert status == 204
    assert await gw.deps.recordings.latest("back")  # kept
    status, _ = await api.call("DELETE", "/api/v1/streams/back?purge=1")
    assert status == 204
    assert await gw.deps.recordings.latest("back") == []
    status, _ = await api.call("DELETE", "/api/v1/streams/back?purge=1")
    assert status == 404
