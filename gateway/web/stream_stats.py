"""Live figures of each stream for the API, the status page and /metrics.

``StreamMeters`` samples every camera's hub byte counter once a second and reports the
bitrate over a sliding window (a restarted camera gets a fresh hub, hence a fresh meter).
``DvrInfo`` summarises a stream's recordings, cached for a few seconds so that listing
many streams does not rescan the DVR index on every request.

Units (Flussonic/Watcher conventions): ``bitrate`` kbit/s, ``lifetime`` ms since the
source connected, ``last_dts_at`` unix ms of the newest packet, ``dvr_info.from`` unix s,
``depth`` s, ``ranges[{from (unix s), duration (s)}]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway.config import StreamConfig, redact_url
from gateway.media.hub import Hub
from gateway.store.dvr_summary import recorded_ranges

if TYPE_CHECKING:
    from gateway.cameras import Camera
    from gateway.web.app import WebDeps

ALIVE_SILENCE = 5.0  # seconds without packets after which a running stream is not alive
_URL_RE = re.compile(r"\b(rtsps?|https?)://[^\s'\"]+")


class RateMeter:
    """Bytes/s over the last ``window`` seconds from samples of a growing counter (pure)."""

    def __init__(self, window: float = 5.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def sample(self, t: float, total: int) -> None:
        self._samples.append((t, total))
        while len(self._samples) > 2 and t - self._samples[1][0] >= self.window:
            self._samples.popleft()

    def rate(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0


class StreamMeters:
    def __init__(self, window: float = 5.0, interval: float = 1.0) -> None:
        self.window = window
        self.interval = interval
        self._meters: dict[str, tuple[Hub, RateMeter]] = {}

    def sample(self, cameras: list[Camera], now: float) -> None:
        seen = set()
        for cam in cameras:
            seen.add(cam.name)
            entry = self._meters.get(cam.name)
            if entry is None or entry[0] is not cam.hub:
                entry = self._meters[cam.name] = (cam.hub, RateMeter(self.window))
            entry[1].sample(now, cam.hub.stats.bytes)
        for name in set(self._meters) - seen:
            del self._meters[name]

    def bitrate_kbps(self, name: str) -> int:
        entry = self._meters.get(name)
        return round(entry[1].rate() * 8 / 1000) if entry else 0

    async def run(self, deps: WebDeps) -> None:
        while True:
            self.sample(list(deps.cameras), time.monotonic())
            await asyncio.sleep(self.interval)


class DvrInfo:
    def __init__(self, deps: WebDeps, ttl: float = 5.0) -> None:
        self.deps = deps
        self.ttl = ttl
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    def forget(self, name: str) -> None:
        self._cache.pop(name, None)

    async def get(self, name: str) -> dict[str, Any]:
        now = time.monotonic()
        hit = self._cache.get(name)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        ranges = await recorded_ranges(self.deps.db, name)
        usage = self.deps.recordings.usage.get(name)
        info: dict[str, Any] = {
            "from": ranges[0].start_ms / 1000 if ranges else None,
            "depth": round(time.time() - ranges[0].start_ms / 1000) if ranges else 0,
            "bytes": usage.bytes if usage else 0,
            "segments": usage.count if usage else 0,
            "ranges": [
                {"from": r.start_ms / 1000, "duration": r.duration_ms / 1000} for r in ranges
            ],
        }
        if len(self._cache) > 1024:
            self._cache.clear()
        self._cache[name] = (now, info)
        return info


STREAM_METERS = web.AppKey("stream_meters", StreamMeters)
DVR_INFO = web.AppKey("dvr_info", DvrInfo)


async def meters_ctx(app: web.Application) -> AsyncIterator[None]:
    """aiohttp cleanup context: the sampler runs while the app serves."""
    from gateway.web.app import DEPS

    task = asyncio.create_task(app[STREAM_METERS].run(app[DEPS]), name="stream-meters")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def redact_text(text: str | None) -> str | None:
    """Error messages may quote an input URL: hide its password."""
    if text is None:
        return None
    return _URL_RE.sub(lambda m: redact_url(m.group(0)), text)


def _tracks(cam: Camera) -> list[dict[str, Any]]:
    info = cam.hub.info
    if info is None:
        return []
    out = []
    counts = {"video": 0, "audio": 0}
    for t in info.tracks:
        counts[t.kind] = counts.get(t.kind, 0) + 1
        out.append({"track_id": f"{t.kind[0]}{counts[t.kind]}", **t.describe()})
    return out


def live_stats(cfg: StreamConfig, cam: Camera | None, meters: StreamMeters) -> dict[str, Any]:
    if cam is None:
        return {
            "status": "disabled" if cfg.disabled else "stopped",
            "alive": False,
            "bitrate": 0,
            "lifetime": 0,
            "last_dts_at": None,
            "media_info": {"tracks": []},
            "online_clients": 0,
        }
    now = time.monotonic()
    src = cam.source.state
    hs = cam.hub.stats
    alive = src.status == "running" and hs.packets > 0 and now - hs.last_packet_at < ALIVE_SILENCE
    return {
        "status": src.status,
        "alive": alive,
        "bitrate": meters.bitrate_kbps(cam.name),
        "lifetime": round((now - src.connected_at) * 1000) if src.connected_at else 0,
        "last_dts_at": round(hs.last_time * 1000) if hs.last_time else None,
        "media_info": {"tracks": _tracks(cam)},
        "online_clients": len(cam.clients),
        "input": {
            "reconnects": src.reconnects,
            "sessions": src.sessions,
            "last_error": redact_text(src.last_error),
            "packets": hs.packets,
            "bytes": hs.bytes,
            "keyframes": hs.keyframes,
            "gaps": hs.gaps,
        },
        "drops": cam.hub.drops,
        "recorder": {
            "segments": cam.recorder.stats.segments,
            "bytes": cam.recorder.stats.bytes,
            "errors": cam.recorder.stats.errors,
        },
    }


def motion_stats(deps: WebDeps, name: str) -> dict[str, int] | None:
    """The motion service's counters, when that capability is present."""
    svc = getattr(deps, "motion", None)
    fn = getattr(svc, "public_stats", None)
    if fn is None:
        return None
    out = fn(name)
    return dict(out) if isinstance(out, dict) else None
