"""Live and DVR HLS over the recorder's segment files: no muxer of its own.

Segments are the recorder's fMP4 files; ``init-{ms}.mp4`` is a segment's ftyp+moov and
``seg-{ms}.m4s`` its fragments with ``tfdt`` moved onto the wall-clock timeline (see
:mod:`gateway.media.fmp4`), so the only work per viewer is a file read (cached) and a few
byte patches, and nothing runs while nobody watches.  A live playlist request with
``_HLS_msn`` (or one made before the stream's first segment closed) blocks until that
segment is indexed.  Viewers are counted in ``camera.clients`` by session.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from gateway.media import fmp4
from gateway.media.hls_playlist import LiveWindow, entries, render, target_duration
from gateway.store.recordings import Segment
from gateway.web.app import DEPS
from gateway.web.media_params import (
    NAME,
    child_query,
    not_found,
    split_range,
    stream_config,
)

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SESSION_IDLE = 30.0  # an HLS viewer silent this long has left
SWEEP_EVERY = 5.0
WINDOW = 6
HOLD_MARGIN = 0.5  # seconds of buffer a player keeps beyond one segment
LIVE_HORIZON_S = 60.0  # segments older than window + this are not "live" any more


class SegmentCache:
    """Retimed fragments and init sections of recent segments, shared by all viewers."""

    def __init__(self, entries: int = 16) -> None:
        self.entries = entries
        self._data: OrderedDict[tuple[str, str], asyncio.Future[bytes]] = OrderedDict()

    async def get(self, key: tuple[str, str], load: Callable[[], bytes]) -> bytes:
        fut = self._data.get(key)
        if fut is None:
            fut = asyncio.get_running_loop().run_in_executor(None, load)
            self._data[key] = fut
            while len(self._data) > self.entries:
                self._data.popitem(last=False)
        else:
            self._data.move_to_end(key)
        try:
            return await asyncio.shield(fut)
        except OSError:
            self._data.pop(key, None)
            raise


@dataclass
class HlsState:
    windows: dict[str, LiveWindow] = field(default_factory=dict)
    sessions: dict[tuple[str, str], float] = field(default_factory=dict)
    cache: SegmentCache = field(default_factory=SegmentCache)


HLS = web.AppKey("hls", HlsState)


def _segments_dir(request: web.Request) -> Path:
    return request.app[DEPS].config.storage.path / "segments"


def _session(request: web.Request, stream: str) -> str:
    """The viewer's session: ``session=`` if given, else a hash of who is asking."""
    sid = request.query.get("session")
    if not sid or len(sid) > 64:
        who = "|".join(
            (
                request.remote or "",
                request.headers.get("User-Agent", ""),
                request.headers.get("Authorization", ""),
                request.cookies.get("camgate_session", ""),
            )
        )
        sid = "hls-" + hashlib.sha256(who.encode()).hexdigest()[:16]
    state = request.app[HLS]
    state.sessions[(stream, sid)] = time.monotonic()
    cam = request.app[DEPS].cameras.get(stream)
    if cam is not None:
        cam.clients.setdefault(sid, "hls")
    return sid


def _expire_sessions(app: web.Application, now: float) -> None:
    state = app[HLS]
    for key, seen in list(state.sessions.items()):
        if now - seen > SESSION_IDLE:
            del state.sessions[key]
            cam = app[DEPS].cameras.get(key[0])
            if cam is not None and cam.clients.get(key[1]) == "hls":
                del cam.clients[key[1]]


async def _sweeper(app: web.Application) -> AsyncIterator[None]:
    async def sweep() -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            _expire_sessions(app, time.monotonic())

    task = asyncio.create_task(sweep(), name="hls-sessions")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _refresh(request: web.Request, name: str) -> LiveWindow:
    deps = request.app[DEPS]
    state = request.app[HLS]
    window = state.windows.setdefault(name, LiveWindow(WINDOW))
    newest = list(reversed(await deps.recordings.latest(name, WINDOW)))
    horizon_ms = (time.time() - LIVE_HORIZON_S - WINDOW * 10) * 1000
    window.feed([s for s in newest if s.end_ms > horizon_ms])
    if window.items and window.items[-1].segment.end_ms < horizon_ms:
        window.items.clear()
    return window


async def _segments_closed(request: web.Request, name: str) -> Callable[[], int]:
    cam = request.app[DEPS].cameras.get(name)
    if cam is None:
        return lambda: 0
    return lambda: cam.recorder.stats.segments


async def _wait_for(cond: Callable[[], Awaitable[bool]], changed: Callable[[], int],
                    limit: float) -> bool:
    """Re-check ``cond`` each time the recorder closes a segment, for ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not await cond():
        seen = changed()
        while changed() == seen:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.04)
    return True


async def live_playlist(request: web.Request) -> web.Response:
    cfg = stream_config(request)
    name = cfg.name
    if request.app[DEPS].cameras.get(name) is None:
        raise not_found(f"stream {name!r} is disabled")
    sid = _session(request, name)
    seg_s = request.app[DEPS].config.storage.segment_duration
    msn_text = request.query.get("_HLS_msn")
    try:
        msn = int(msn_text) if msn_text is not None else None
    except ValueError:
        raise web.HTTPBadRequest(text="bad _HLS_msn") from None
    window = await _refresh(request, name)
    changed = await _segments_closed(request, name)

    async def ready() -> bool:
        w = await _refresh(request, name)
        return bool(w.items) and (msn is None or w.last_seq >= msn)

    if msn is not None and msn > window.next_seq + 2:
        raise web.HTTPBadRequest(text="_HLS_msn is too far ahead")
    if not await _wait_for(ready, changed, limit=max(6.0, seg_s * 3)) and not window.items:
        return web.json_response(
            {"message": f"stream {name!r} has no live media", "errors": {}}, status=503
        )
    items = list(window.items)
    target = target_duration(items, seg_s)
    # Players start this far behind the newest segment's end: one (recent) segment plus
    # margin, since a blocking reload hears of the next segment the moment it closes.
    longest = max((e.segment.duration for e in items[-3:]), default=seg_s)
    text = render(
        items,
        vod=False,
        query=child_query(request, sid),
        discontinuity_seq=window.discontinuity_seq,
        target=target,
        hold_back=round(longest + HOLD_MARGIN, 3),
    )
    return web.Response(text=text, content_type=PLAYLIST_TYPE,
                        headers={"Cache-Control": "no-cache"})


async def dvr_playlist(request: web.Request) -> web.Response:
    cfg = stream_config(request)
    start, duration = split_range(request.match_info["range"])
    sid = _session(request, cfg.name)
    segs = await request.app[DEPS].recordings.range(
        cfg.name, int(start * 1000), int((start + duration) * 1000)
    )
    if not segs:
        raise not_found("nothing recorded in that range")
    text = render(entries(segs), vod=True, query=child_query(request, sid))
    return web.Response(text=text, content_type=PLAYLIST_TYPE,
                        headers={"Cache-Control": "max-age=5"})


async def _segment_at(request: web.Request, name: str, start_ms: int) -> Segment:
    seg = await request.app[DEPS].recordings.containing(name, start_ms)
    if seg is None or seg.start_ms != start_ms:
        raise not_found("no such segment")
    return seg


def _read_init(path: Path) -> bytes:
    with path.open("rb") as f:
        head = f.read(1 << 16)
    return fmp4.split(head)[0]


def _read_fragments(path: Path, start_ms: int) -> bytes:
    data = path.read_bytes()
    init, _ = fmp4.split(data)
    scale = fmp4.timescale(init)
    return fmp4.retime(data, fmp4.base_ticks(start_ms, scale), fmp4.first_sequence(start_ms))


async def _serve_init(request: web.Request, seg: Segment) -> web.Response:
    path = _segments_dir(request) / seg.path
    try:
        body = await request.app[HLS].cache.get(("init", seg.path), lambda: _read_init(path))
    except (OSError, fmp4.Mp4Error):
        raise not_found("segment is gone") from None
    return web.Response(body=body, content_type="video/mp4",
                        headers={"Cache-Control": "max-age=3600"})


async def init_at(request: web.Request) -> web.Response:
    cfg = stream_config(request)
    _session(request, cfg.name)
    seg = await _segment_at(request, cfg.name, int(request.match_info["ms"]))
    return await _serve_init(request, seg)


async def init_latest(request: web.Request) -> web.Response:
    cfg = stream_config(request)
    latest = await request.app[DEPS].recordings.latest(cfg.name, 1)
    if not latest:
        raise not_found("nothing recorded yet")
    resp = await _serve_init(request, latest[0])
    resp.headers["Cache-Control"] = "no-cache"
    return resp


async def segment(request: web.Request) -> web.Response:
    cfg = stream_config(request)
    _session(request, cfg.name)
    seg = await _segment_at(request, cfg.name, int(request.match_info["ms"]))
    path = _segments_dir(request) / seg.path
    try:
        body = await request.app[HLS].cache.get(
            ("seg", seg.path), lambda: _read_fragments(path, seg.start_ms)
        )
    except (OSError, fmp4.Mp4Error):
        raise not_found("segment is gone") from None
    return web.Response(body=body, content_type="video/iso.segment",
                        headers={"Cache-Control": "max-age=3600"})


def add_routes(app: web.Application) -> None:
    app[HLS] = HlsState()
    app.cleanup_ctx.append(_sweeper)
    r = app.router
    r.add_get(f"/{NAME}/index.m3u8", live_playlist)
    r.add_get(f"/{NAME}/index-{{range}}.m3u8", dvr_playlist)
    r.add_get(f"/{NAME}/init.mp4", init_latest)
    r.add_get(f"/{NAME}/init-{{ms:\\d{{1,15}}}}.mp4", init_at)
    r.add_get(f"/{NAME}/seg-{{ms:\\d{{1,15}}}}.m4s", segment)
