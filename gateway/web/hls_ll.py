"""Low-Latency HLS at ``/{name}/ll/index.m3u8``: partial segments from a hub-fed muxer.

The muxer (:mod:`gateway.sinks.hls_live`) runs only while someone asks for this stream's
LL playlist or its media: it starts on the first request (from the hub's cached GOP, so
there is a part to play at once) and stops after ``IDLE`` seconds without one.  Playlist
requests block on ``_HLS_msn``/``_HLS_part``; a request for the hinted next part blocks
until it exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from aiohttp import web

from gateway.media.hub import Hub, SourceGap
from gateway.media.packet import Packet
from gateway.sinks.hls_live import LiveSegment, Part, PartMuxer
from gateway.web.app import DEPS
from gateway.web.hls import PLAYLIST_TYPE, _session
from gateway.web.media_params import NAME, child_query, not_found, stream_config

log = logging.getLogger(__name__)

PART_TARGET = 0.5
IDLE = 30.0
KEEP_SEGMENTS = 6
WAIT = 6.0


@dataclass
class _Seg:
    seg: LiveSegment
    init_id: int
    discontinuity: bool


@dataclass
class LiveHls:
    name: str
    hub: Hub
    segment_target: float
    segments: deque[_Seg] = field(default_factory=deque)
    inits: dict[int, bytes] = field(default_factory=dict)
    next_msn: int = 0
    init_id: int = 0
    part_target: float = PART_TARGET
    last_request: float = field(default_factory=time.monotonic)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    _restart: bool = True

    # -- producing ---------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(1, thread_name_prefix=f"llhls-{self.name}")
        sub = self.hub.subscribe("ll-hls", maxsize=1024, from_gop=True, video_only=True)
        muxer: PartMuxer | None = None
        try:
            while time.monotonic() - self.last_request < IDLE:
                try:
                    async with asyncio.timeout(1.0):
                        await sub.wait()
                except TimeoutError:
                    continue
                run: list[Packet] = []
                for item in sub.drain(512):
                    if isinstance(item, SourceGap) or (muxer is not None and (
                            item.info is not muxer.info or item.discontinuity)):
                        if run and muxer is not None:
                            self._add(await loop.run_in_executor(pool, muxer.feed, run), muxer)
                        run = []
                        if muxer is not None:
                            await loop.run_in_executor(pool, muxer.close)
                        muxer = None
                        self._restart = True
                        if isinstance(item, SourceGap):
                            continue
                    if muxer is None:
                        if not item.keyframe:
                            continue
                        muxer = await loop.run_in_executor(
                            pool, PartMuxer, item.info, PART_TARGET
                        )
                    run.append(item)
                if run and muxer is not None:
                    self._add(await loop.run_in_executor(pool, muxer.feed, run), muxer)
        finally:
            sub.close()
            if muxer is not None:
                await asyncio.shield(loop.run_in_executor(pool, muxer.close))
            pool.shutdown(wait=False)

    def _add(self, parts: list[Part], muxer: PartMuxer) -> None:
        if muxer.init is not None and self._restart and parts:
            self.init_id += 1
            self.inits[self.init_id] = muxer.init
            for old in [k for k in self.inits if k < self.init_id - 2]:
                del self.inits[old]
        for part in parts:
            cur = self.segments[-1] if self.segments else None
            restart = self._restart
            # The first segment of a run (the hub's cached GOP) ends at the next keyframe,
            # so a player has a whole segment to start from as soon as possible.
            target = self.segment_target if len(self.segments) > 1 else 0.0
            if cur is None or restart or (
                part.independent and cur.seg.duration >= target - 0.1
            ):
                if cur is not None:
                    cur.seg.complete = True
                self.segments.append(
                    _Seg(LiveSegment(self.next_msn), self.init_id, restart and cur is not None)
                )
                self.next_msn += 1
                self._restart = False
            self.segments[-1].seg.parts.append(part)
            self.part_target = max(self.part_target, part.duration)
        while sum(1 for s in self.segments if s.seg.complete) > KEEP_SEGMENTS:
            self.segments.popleft()
        self.changed.set()
        self.changed = asyncio.Event()

    # -- reading -----------------------------------------------------------------------
    def has(self, msn: int, part: int | None) -> bool:
        """Is part ``part`` of segment ``msn`` (or the whole segment, or anything later)
        in the playlist?  A part index past a finished segment means the next one."""
        for s in self.segments:
            if s.seg.msn == msn:
                if part is None and s.seg.complete:
                    return True
                if part is not None and len(s.seg.parts) > part:
                    return True
            elif s.seg.msn > msn and s.seg.parts:
                return True
        return False

    @property
    def duration(self) -> float:
        return sum(s.seg.duration for s in self.segments)

    @property
    def startable(self) -> bool:
        """hls.js needs a whole segment, and PART-HOLD-BACK of media to start near live."""
        return any(s.seg.complete for s in self.segments) and (
            self.duration >= 3.5 * self.part_target
        )

    async def wait_for(self, msn: int, part: int | None, limit: float = WAIT) -> bool:
        return await self.wait_until(lambda: self.has(msn, part), limit)

    async def wait_until(self, cond: Callable[[], bool], limit: float = WAIT) -> bool:
        deadline = time.monotonic() + limit
        while not cond():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self.changed.wait()
        return True

    def find(self, msn: int) -> _Seg | None:
        for s in self.segments:
            if s.seg.msn == msn:
                return s
        return None

    def playlist(self, query: str) -> str:
        segs = list(self.segments)
        pt = self.part_target
        longest = max((s.seg.duration for s in segs if s.seg.complete), default=2.0)
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:9",
            f"#EXT-X-TARGETDURATION:{max(1, math.ceil(longest - 1e-3))}",
            f"#EXT-X-PART-INF:PART-TARGET={pt:.3f}",
            f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={3 * pt:.3f}",
            f"#EXT-X-MEDIA-SEQUENCE:{segs[0].seg.msn if segs else 0}",
        ]
        init = None
        for i, s in enumerate(segs):
            if s.discontinuity and i > 0:
                lines.append("#EXT-X-DISCONTINUITY")
            if s.init_id != init:
                lines.append(f'#EXT-X-MAP:URI="init-{s.init_id}.mp4{query}"')
                init = s.init_id
            lines.append("#EXT-X-PROGRAM-DATE-TIME:" + _pdt(s.seg.start))
            if i >= len(segs) - 4:
                for j, p in enumerate(s.seg.parts):
                    ind = ",INDEPENDENT=YES" if p.independent else ""
                    lines.append(f'#EXT-X-PART:DURATION={p.duration:.3f},'
                                 f'URI="part-{s.seg.msn}-{j}.m4s{query}"{ind}')
            if s.seg.complete:
                lines.append(f"#EXTINF:{s.seg.duration:.3f},")
                lines.append(f"seg-{s.seg.msn}.m4s{query}")
        if segs:
            last = segs[-1].seg
            msn, part = (last.msn + 1, 0) if last.complete else (last.msn, len(last.parts))
            lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-{msn}-{part}.m4s{query}"')
        return "\n".join(lines) + "\n"


def _pdt(t: float) -> str:
    ms = int(round(t * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


@dataclass
class LlState:
    streams: dict[str, LiveHls] = field(default_factory=dict)


LL = web.AppKey("ll_hls", LlState)


def _live(request: web.Request) -> LiveHls:
    """The stream's LL muxer, started (or restarted for a new camera) on demand."""
    cfg = stream_config(request)
    cam = request.app[DEPS].cameras.get(cfg.name)
    if cam is None:
        raise not_found(f"stream {cfg.name!r} is disabled")
    state = request.app[LL]
    live = state.streams.get(cfg.name)
    if live is None or live.hub is not cam.hub or live.task is None or live.task.done():
        if live is not None and live.task is not None:
            live.task.cancel()
        seg_s = request.app[DEPS].config.storage.segment_duration
        old = live
        live = LiveHls(cfg.name, cam.hub, seg_s)
        if old is not None:  # keep numbering: a returning player sees a discontinuity
            live.next_msn, live.init_id = old.next_msn + 1, old.init_id
        live.task = asyncio.create_task(live.run(), name=f"llhls-{cfg.name}")
        live.task.add_done_callback(_report)
        state.streams[cfg.name] = live
    live.last_request = time.monotonic()
    _session(request, cfg.name)
    return live


def _report(task: asyncio.Task[None]) -> None:
    """The muxer task ended: log why if it failed (the next request starts a new one)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("LL-HLS muxer %s failed", task.get_name(), exc_info=task.exception())


def _int(request: web.Request, key: str) -> int | None:
    text = request.query.get(key)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise web.HTTPBadRequest(text=f"bad {key}") from None


async def ll_playlist(request: web.Request) -> web.Response:
    live = _live(request)
    msn, part = _int(request, "_HLS_msn"), _int(request, "_HLS_part")
    if msn is None:
        # A player starts PART-HOLD-BACK behind the edge: hold the first request until
        # there is that much media and a whole segment (the hub's cached GOP gives most
        # of it at once), or it would start at the oldest part and stay that far behind.
        await live.wait_until(lambda: live.startable)
    elif msn > live.next_msn + 2:
        raise web.HTTPBadRequest(text="_HLS_msn is too far ahead")
    else:
        await live.wait_for(msn, part)
    if not live.segments:
        return web.json_response(
            {"message": f"stream {live.name!r} has no live media", "errors": {}}, status=503
        )
    sid = request.query.get("session") or _session(request, live.name)
    text = live.playlist(child_query(request, sid))
    return web.Response(text=text, content_type=PLAYLIST_TYPE,
                        headers={"Cache-Control": "no-cache"})


async def ll_init(request: web.Request) -> web.Response:
    live = _live(request)
    body = live.inits.get(int(request.match_info["id"]))
    if body is None:
        raise not_found("no such init section")
    return web.Response(body=body, content_type="video/mp4",
                        headers={"Cache-Control": "max-age=600"})


async def ll_part(request: web.Request) -> web.Response:
    live = _live(request)
    msn, idx = int(request.match_info["msn"]), int(request.match_info["part"])
    await live.wait_for(msn, idx)
    s = live.find(msn)
    if s is None or idx >= len(s.seg.parts):
        raise not_found("no such part")
    return web.Response(body=s.seg.parts[idx].data, content_type="video/iso.segment",
                        headers={"Cache-Control": "max-age=600"})


async def ll_segment(request: web.Request) -> web.Response:
    live = _live(request)
    msn = int(request.match_info["msn"])
    await live.wait_for(msn, None)
    s = live.find(msn)
    if s is None or not s.seg.complete:
        raise not_found("no such segment")
    return web.Response(body=s.seg.data(), content_type="video/iso.segment",
                        headers={"Cache-Control": "max-age=600"})


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    yield
    tasks = [s.task for s in app[LL].streams.values() if s.task is not None]
    for t in tasks:
        t.cancel()
    if tasks:
        await asyncio.wait(tasks)


def add_routes(app: web.Application) -> None:
    app[LL] = LlState()
    app.cleanup_ctx.append(_lifecycle)
    r = app.router
    r.add_get(f"/{NAME}/ll/index.m3u8", ll_playlist)
    r.add_get(f"/{NAME}/ll/init-{{id:\\d{{1,9}}}}.mp4", ll_init)
    r.add_get(f"/{NAME}/ll/part-{{msn:\\d{{1,9}}}}-{{part:\\d{{1,4}}}}.m4s", ll_part)
    r.add_get(f"/{NAME}/ll/seg-{{msn:\\d{{1,9}}}}.m4s", ll_segment)
