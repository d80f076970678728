"""``GET /api/v1/system`` (version, uptime, load, memory, disk, temperature) and ``/metrics``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path

from aiohttp import web

import gateway
from gateway.web.app import DEPS
from gateway.web.stream_stats import STREAM_METERS
from gateway.web.system_info import CpuSampler, disk, process_cpu_seconds, process_rss, snapshot

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CPU = web.AppKey("cpu_sampler", CpuSampler)
_START_WALL = web.AppKey("start_wall", float)


async def system(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    snap = await asyncio.to_thread(snapshot, deps.config.storage.path, request.app[CPU])
    cams = list(deps.cameras)
    return web.json_response(
        {
            "version": gateway.__version__,
            "uptime": round(time.monotonic() - deps.started_at, 1),
            "started_at": round(float(request.app[_START_WALL]), 3),
            **snap,
            "streams": {
                "configured": len(deps.cameras.configs),
                "running": sum(1 for c in cams if c.source.state.status == "running"),
            },
            "dvr": {
                "bytes": deps.recordings.total_bytes,
                "segments": sum(u.count for u in deps.recordings.usage.values()),
            },
        }
    )


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(v: float) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    return repr(float(v))


class Exposition:
    """Prometheus text format 0.0.4 (pure)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Iterable[tuple[dict[str, str], float]],
    ) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lab = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{lab}}} {_fmt(value)}" if lab else f"{name} {_fmt(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _process_figures(data_dir: Path) -> tuple[int | None, float, dict[str, int] | None]:
    return process_rss(), process_cpu_seconds(), disk(data_dir)


async def metrics(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    meters = request.app[STREAM_METERS]
    rss, cpu_s, dsk = await asyncio.to_thread(_process_figures, deps.config.storage.path)
    cams = list(deps.cameras)
    ex = Exposition()

    def per(fn: object) -> list[tuple[dict[str, str], float]]:
        return [({"stream": c.name}, fn(c)) for c in cams]  # type: ignore[operator]

    ex.family("camgate_info", "gauge", "Build information.",
              [({"version": gateway.__version__}, 1)])
    ex.family("camgate_uptime_seconds", "gauge", "Seconds since the gateway started.",
              [({}, round(time.monotonic() - deps.started_at, 3))])
    ex.family("camgate_streams_configured", "gauge", "Streams in the configuration.",
              [({}, len(deps.cameras.configs))])
    ex.family("camgate_stream_up", "gauge", "1 while the stream's source is running.",
              per(lambda c: int(c.source.state.status == "running")))
    ex.family("camgate_stream_bitrate_bits_per_second", "gauge",
              "Input bitrate over the last seconds.",
              per(lambda c: meters.bitrate_kbps(c.name) * 1000))
    ex.family("camgate_stream_packets_total", "counter", "Packets read from the source.",
              per(lambda c: c.hub.stats.packets))
    ex.family("camgate_stream_bytes_total", "counter", "Bytes read from the source.",
              per(lambda c: c.hub.stats.bytes))
    ex.family("camgate_stream_keyframes_total", "counter", "Video keyframes read.",
              per(lambda c: c.hub.stats.keyframes))
    ex.family("camgate_stream_drops_total", "counter",
              "Packets dropped for slow consumers (skipped to the next keyframe).",
              per(lambda c: c.hub.drops))
    ex.family("camgate_stream_reconnects_total", "counter", "Source reconnections.",
              per(lambda c: c.source.state.reconnects))
    ex.family("camgate_stream_gaps_total", "counter", "Source interruptions.",
              per(lambda c: c.hub.stats.gaps))
    ex.family("camgate_stream_online_clients", "gauge", "Live viewers (WebRTC, HLS).",
              per(lambda c: len(c.clients)))
    ex.family("camgate_stream_segments_total", "counter", "DVR segments written.",
              per(lambda c: c.recorder.stats.segments))
    ex.family("camgate_stream_segment_bytes_total", "counter", "DVR bytes written.",
              per(lambda c: c.recorder.stats.bytes))
    ex.family("camgate_stream_recorder_errors_total", "counter", "Recorder write errors.",
              per(lambda c: c.recorder.stats.errors))
    usage = sorted(deps.recordings.usage.items())
    ex.family("camgate_dvr_bytes", "gauge", "Bytes of recordings on disk.",
              [({"stream": n}, u.bytes) for n, u in usage])
    ex.family("camgate_dvr_segments", "gauge", "Recorded segments on disk.",
              [({"stream": n}, u.count) for n, u in usage])
    ex.family("camgate_retention_deleted_bytes_total", "counter",
              "Bytes of recordings removed by retention.",
              [({}, deps.retention.deleted_bytes)])
    if dsk:
        ex.family("camgate_disk_total_bytes", "gauge", "Size of the data filesystem.",
                  [({}, dsk["total"])])
        ex.family("camgate_disk_free_bytes", "gauge", "Free space on the data filesystem.",
                  [({}, dsk["free"])])
    ex.family("process_cpu_seconds_total", "counter", "User and system CPU time.",
              [({}, round(cpu_s, 3))])
    if rss is not None:
        ex.family("process_resident_memory_bytes", "gauge", "Resident memory size.",
                  [({}, rss)])
    ex.family("process_start_time_seconds", "gauge", "Start time (unix seconds).",
              [({}, round(float(request.app[_START_WALL]), 3))])
    return web.Response(
        body=ex.text().encode(),
        headers={"Content-Type": PROMETHEUS_TYPE, "Cache-Control": "no-store"},
    )


def add_routes(app: web.Application) -> None:
    app[CPU] = CpuSampler()
    app[_START_WALL] = time.time() - (time.monotonic() - app[DEPS].started_at)
    app.router.add_get("/api/v1/system", system)
    app.router.add_get("/metrics", metrics)
