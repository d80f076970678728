"""DVR over HTTP: ``recording_status.json`` and ``archive-{from}-{duration}.mp4``.

The archive MP4 is streamed while it is produced: a worker thread remuxes the segments
(:func:`gateway.media.archive.write_archive`) into a bounded pipe that the handler drains
into the response, so memory stays at a few chunks whatever the range.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from aiohttp import web

from gateway.media.archive import ArchiveCancelled, Piece, write_archive
from gateway.store.recordings import Segment
from gateway.web.app import DEPS
from gateway.web.media_params import (
    NAME,
    not_found,
    split_range,
    stream_config,
    time_param,
    unprocessable,
)

PIPE_CHUNKS = 4


class ChunkPipe:
    """Thread → event loop byte chunks with backpressure (at most ``size`` in flight)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int = PIPE_CHUNKS) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.slots = threading.Semaphore(size)
        self.cancel = threading.Event()

    def put(self, chunk: bytes | None) -> None:
        """Producer side (worker thread); blocks while the consumer is behind."""
        while not self.slots.acquire(timeout=0.5):
            if self.cancel.is_set():
                raise ArchiveCancelled
        self.loop.call_soon_threadsafe(self.queue.put_nowait, chunk)

    async def get(self) -> bytes | None:
        chunk = await self.queue.get()
        self.slots.release()
        return chunk


def pieces_of(segments_dir: Path, segments: list[Segment]) -> list[Piece]:
    return [Piece(segments_dir / s.path, s.start_ms, s.end_ms) for s in segments]


async def recording_status(request: web.Request) -> web.Response:
    cfg = stream_config(request)
    now = time.time()
    q = request.query
    start = time_param("from", q["from"]) if "from" in q else 0.0
    end = time_param("to", q["to"]) if "to" in q else now + 86400
    if end <= start:
        raise unprocessable("to", q.get("to", ""), "must be after from")
    ranges = await request.app[DEPS].recordings.ranges(
        cfg.name, int(start * 1000), int(end * 1000)
    )
    return web.json_response(
        [
            {
                "stream": cfg.name,
                "ranges": [
                    {"from": r.start_ms // 1000, "duration": round(r.duration_ms / 1000)}
                    for r in ranges
                ],
            }
        ]
    )


async def archive_mp4(request: web.Request) -> web.StreamResponse:
    cfg = stream_config(request)
    start, duration = split_range(request.match_info["range"])
    from_ms, to_ms = int(start * 1000), int((start + duration) * 1000)
    deps = request.app[DEPS]
    segs = await deps.recordings.range(cfg.name, from_ms, to_ms)
    if not segs:
        raise not_found("nothing recorded in that range")
    pieces = pieces_of(deps.config.storage.path / "segments", segs)
    loop = asyncio.get_running_loop()
    pipe = ChunkPipe(loop)

    def produce() -> None:
        try:
            write_archive(pieces, from_ms, to_ms, pipe.put, cancel=pipe.cancel)
        finally:
            if not pipe.cancel.is_set():
                pipe.put(None)

    resp = web.StreamResponse(
        headers={
            "Content-Type": "video/mp4",
            "Content-Disposition": f'attachment; filename="{cfg.name}-{int(start)}.mp4"',
            "Cache-Control": "no-store",
        }
    )
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    worker = loop.run_in_executor(None, produce)
    try:
        while (chunk := await pipe.get()) is not None:
            await resp.write(chunk)
        await worker
    finally:
        pipe.cancel.set()
        if not worker.done():
            try:
                await asyncio.shield(worker)
            except ArchiveCancelled:
                pass
    await resp.write_eof()
    return resp


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"/{NAME}/recording_status.json", recording_status)
    app.router.add_get(f"/{NAME}/archive-{{range}}.mp4", archive_mp4)
