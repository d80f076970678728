"""The exacqVision-style export job API: ``/api/v1/exports``.

``POST`` creates a job (``{stream, from, to}`` or ``{stream, from, duration}``, optional
``ttl`` seconds) → 201 ``queued``; one job at a time is ``running`` (progress 0–100),
then ``completed`` (``GET .../download`` serves the MP4) or ``failed``.  ``DELETE``
finishes a job (cancels it if running, removes its file and row).  A job nobody has
asked about for ``ttl`` seconds expires the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.media.archive import ArchiveCancelled, ArchiveResult, write_archive
from gateway.store.exports import ExportJob, Exports
from gateway.timespec import BadTime, parse_time
from gateway.web.app import DEPS
from gateway.web.dvr import pieces_of
from gateway.web.errors import ApiError, read_object

log = logging.getLogger(__name__)

DEFAULT_TTL = 3600.0
MAX_RANGE_S = 86400.0
SWEEP_EVERY = 1.0


@dataclass
class _Running:
    progress: float = 0.0
    cancel: threading.Event = field(default_factory=threading.Event)


class ExportService:
    """Runs export jobs one at a time; the rows in SQLite are the truth between calls."""

    def __init__(self, app: web.Application) -> None:
        deps = app[DEPS]
        self.deps = deps
        self.store = Exports(deps.db)
        self.dir = deps.config.storage.path / "exports"
        self.running: dict[str, _Running] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.slot = asyncio.Semaphore(1)

    def path(self, job_id: str) -> Path:
        return self.dir / f"{job_id}.mp4"

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.dir.mkdir, parents=True, exist_ok=True)
        await self.store.interrupt_unfinished(time.time())

    async def stop(self) -> None:
        for run in self.running.values():
            run.cancel.set()
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            for job in await self.store.expired(time.time()):
                log.info("export %s expired", job.id)
                await self.finish(job.id)

    # -- jobs --------------------------------------------------------------------------
    async def create(self, stream: str, from_ms: int, to_ms: int, ttl: float) -> ExportJob:
        now = time.time()
        job = ExportJob(
            id=secrets.token_hex(8), stream=stream, from_ms=from_ms, to_ms=to_ms,
            status="queued", progress=0.0, bytes=0, duration=0.0, error="", created_at=now,
            updated_at=now, expires_at=now + ttl, ttl=ttl,
        )
        await self.store.save(job)
        self.running[job.id] = _Running()
        self.tasks[job.id] = asyncio.create_task(self._run(job), name=f"export-{job.id}")
        return job

    async def _run(self, job: ExportJob) -> None:
        state = self.running[job.id]
        try:
            async with self.slot:
                job = job.but(status="running", updated_at=time.time())
                await self.store.save(job)
                segs = await self.deps.recordings.range(job.stream, job.from_ms, job.to_ms)
                pieces = pieces_of(self.deps.config.storage.path / "segments", segs)
                final = self.path(job.id)
                part = final.with_name(final.name + ".part")

                def produce() -> ArchiveResult:
                    with part.open("wb") as f:
                        res = write_archive(
                            pieces, job.from_ms, job.to_ms, f.write, cancel=state.cancel,
                            progress=lambda x: setattr(state, "progress", x),
                        )
                        f.flush()
                        os.fsync(f.fileno())
                    os.rename(part, final)
                    return res

                try:
                    if not pieces:
                        raise FileNotFoundError("nothing recorded in that range")
                    res = await asyncio.to_thread(produce)
                except (OSError, ValueError) as exc:
                    part.unlink(missing_ok=True)
                    now = time.time()
                    job = job.but(status="failed", error=str(exc), updated_at=now,
                                  expires_at=now + job.ttl)
                    await self.store.save(job)
                    return
                now = time.time()
                job = job.but(
                    status="completed", progress=1.0, bytes=res.bytes, duration=res.duration,
                    updated_at=now, expires_at=now + job.ttl,
                )
                await self.store.save(job)
        except ArchiveCancelled:
            pass
        finally:
            self.running.pop(job.id, None)
            self.tasks.pop(job.id, None)

    async def finish(self, job_id: str) -> bool:
        """Cancel (if running), delete the file and the row; False if there was no job."""
        job = await self.store.get(job_id)
        run = self.running.get(job_id)
        if run is not None:
            run.cancel.set()
        task = self.tasks.get(job_id)
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        final = self.path(job_id)
        await asyncio.to_thread(_unlink_all, final, final.with_name(final.name + ".part"))
        if job is None:
            return False
        await self.store.delete(job_id)
        return True

    def view(self, job: ExportJob, request: web.Request) -> dict[str, Any]:
        run = self.running.get(job.id)
        progress = run.progress if run is not None and job.status == "running" else job.progress
        out: dict[str, Any] = {
            "id": job.id,
            "stream": job.stream,
            "from": job.from_ms / 1000,
            "to": job.to_ms / 1000,
            "status": job.status,
            "progress": round(progress * 100, 1),
            "bytes": job.bytes,
            "duration": round(job.duration, 3),
            "created_at": job.created_at,
            "updated_at": job.updated_at,
            "expires_at": job.expires_at,
        }
        if job.error:
            out["error"] = job.error
        if job.status == "completed":
            out["download"] = f"/api/v1/exports/{job.id}/download"
        return out


EXPORTS = web.AppKey("exports", ExportService)


def _unlink_all(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    svc = ExportService(app)
    app[EXPORTS] = svc
    await svc.start()
    sweeper = asyncio.create_task(svc.sweep(), name="export-expiry")
    yield
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper
    await svc.stop()


def _time_field(body: dict[str, Any], key: str, errors: dict[str, list[str]]) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    try:
        return parse_time(str(value))
    except BadTime:
        errors.setdefault(key, []).append("RFC 3339 time or unix seconds")
        return None


async def create_export(request: web.Request) -> web.Response:
    body = await read_object(request)
    errors: dict[str, list[str]] = {}
    stream = body.get("stream")
    if not isinstance(stream, str) or stream not in request.app[DEPS].cameras.configs:
        errors["stream"] = ["a known stream name"]
    start = _time_field(body, "from", errors)
    end = _time_field(body, "to", errors)
    if "from" not in body:
        errors["from"] = ["required"]
    if end is None and "to" not in errors:
        dur = body.get("duration")
        if isinstance(dur, int | float) and not isinstance(dur, bool) and dur > 0:
            end = (start or 0) + float(dur)
        else:
            errors["to"] = ["required (or a positive duration in seconds)"]
    ttl = body.get("ttl", DEFAULT_TTL)
    if not isinstance(ttl, int | float) or isinstance(ttl, bool) or not 1 <= ttl <= 7 * 86400:
        errors["ttl"] = ["seconds between 1 and 604800"]
    if start is not None and end is not None and not 0 < end - start <= MAX_RANGE_S:
        errors["to"] = [f"after from, at most {MAX_RANGE_S:g} s later"]
    if errors or start is None or end is None:
        raise ApiError(422, "invalid export", errors)
    svc = request.app[EXPORTS]
    job = await svc.create(str(stream), int(start * 1000), int(end * 1000), float(ttl))
    return web.json_response(svc.view(job, request), status=201,
                             headers={"Location": f"/api/v1/exports/{job.id}"})


async def _job(request: web.Request) -> ExportJob:
    svc = request.app[EXPORTS]
    job = await svc.store.get(request.match_info["id"])
    if job is None:
        raise ApiError(404, "no such export")
    job = job.but(expires_at=time.time() + job.ttl)  # asked about: not left alone
    await svc.store.touch(job.id, job.expires_at)
    return job


async def get_export(request: web.Request) -> web.Response:
    job = await _job(request)
    return web.json_response(request.app[EXPORTS].view(job, request))


async def list_exports(request: web.Request) -> web.Response:
    svc = request.app[EXPORTS]
    jobs = await svc.store.all()
    items = [svc.view(j, request) for j in jobs]
    return web.json_response(
        {"estimated_count": len(items), "next": None, "prev": None, "exports": items}
    )


async def download_export(request: web.Request) -> web.StreamResponse:
    job = await _job(request)
    if job.status != "completed":
        raise ApiError(409, f"export is {job.status}, not completed")
    path = request.app[EXPORTS].path(job.id)
    if not await asyncio.to_thread(path.exists):
        raise ApiError(404, "the export file is gone")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "video/mp4",
            "Content-Disposition": f'attachment; filename="{job.stream}-{job.from_ms // 1000}.mp4"',
        },
    )


async def delete_export(request: web.Request) -> web.Response:
    if not await request.app[EXPORTS].finish(request.match_info["id"]):
        raise ApiError(404, "no such export")
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.cleanup_ctx.append(_lifecycle)
    r = app.router
    r.add_post("/api/v1/exports", create_export)
    r.add_get("/api/v1/exports", list_exports)
    r.add_get("/api/v1/exports/{id}", get_export)
    r.add_get("/api/v1/exports/{id}/download", download_export)
    r.add_delete("/api/v1/exports/{id}", delete_export)
