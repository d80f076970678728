"""The streams API: ``/api/v1/streams[/{name}]`` in Flussonic Watcher's shape.

``PUT`` creates a stream or partially updates it (top-level fields replace, ``dvr`` and
``onvif`` merge one level, ``null`` resets a field) and applies it at once: a changed input
restarts only that camera.  ``DELETE`` stops it; ``?purge=1`` also deletes its recordings
(also those of a stream deleted earlier without purge).  Streams from the config file can
be updated here (the file wins again at the next start) but not deleted (409).

Input URL passwords are never returned: ``rtsp://user:***@host/...``.  A client may PUT
such a redacted URL back unchanged (e.g. after editing another field of a GET result);
the stored password is kept when the rest of the URL matches a current input.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.cameras import stream_to_json
from gateway.config import ConfigError, StreamConfig, parse_stream, redact_url
from gateway.store.dvr_summary import purge_stream
from gateway.web.app import DEPS
from gateway.web.collection import QueryError, parse_query
from gateway.web.collection import page as collection_page
from gateway.web.errors import ApiError, errors_from_config, read_object
from gateway.web.stream_stats import DVR_INFO, STREAM_METERS, live_stats, motion_stats

SORTABLE = (
    "name",
    "title",
    "disabled",
    "stats.status",
    "stats.alive",
    "stats.bitrate",
    "stats.lifetime",
    "stats.online_clients",
    "stats.dvr_info.bytes",
    "stats.dvr_info.depth",
)
FILTERABLE = ("disabled", "stats.alive", "stats.status")
_MERGED = ("dvr", "onvif")
_REDACTED = ":***@"


def public_config(cfg: StreamConfig) -> dict[str, Any]:
    d = stream_to_json(cfg)
    inputs: list[dict[str, Any]] = d["inputs"]  # type: ignore[assignment]
    d["inputs"] = [{**i, "url": redact_url(str(i["url"]))} for i in inputs]
    return d


async def stream_object(
    request: web.Request, cfg: StreamConfig, *, with_stats: bool = True
) -> dict[str, Any]:
    deps = request.app[DEPS]
    out = public_config(cfg)
    if with_stats:
        stats = live_stats(cfg, deps.cameras.get(cfg.name), request.app[STREAM_METERS])
        stats["dvr_info"] = await request.app[DVR_INFO].get(cfg.name)
        motion = motion_stats(deps, cfg.name)
        if motion is not None:
            stats["motion_detector"] = motion
        out["stats"] = stats
    return out


def _needs_stats(paths: list[str]) -> bool:
    return any(p == "stats" or p.startswith("stats.") for p in paths)


async def list_streams(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    try:
        query = parse_query(request.query, sortable=SORTABLE, filterable=FILTERABLE)
    except QueryError as exc:
        raise ApiError(422, "invalid query", exc.errors) from exc
    used = [f for f, _ in query.sort] + [f for f, _ in query.filters]
    with_stats = query.select is None or _needs_stats([*query.select, *used])
    items = [
        await stream_object(request, cfg, with_stats=with_stats)
        for cfg in list(deps.cameras.configs.values())
    ]
    return web.json_response(collection_page(items, query, "streams"))


def _config_of(request: web.Request) -> StreamConfig:
    name = request.match_info["name"]
    cfg = request.app[DEPS].cameras.configs.get(name)
    if cfg is None:
        raise ApiError(404, f"no stream named {name!r}")
    return cfg


async def get_stream(request: web.Request) -> web.Response:
    cfg = _config_of(request)
    obj = await stream_object(request, cfg)
    select = request.query.get("select")
    if select:
        obj = collection_page(
            [obj], parse_query({"select": select}, sortable=SORTABLE), "streams"
        )["streams"][0]
    return web.json_response(obj)


def _restore_passwords(inputs: Any, current: StreamConfig | None) -> Any:
    """Swap redacted URLs that match a current input back to the stored URL."""
    if current is None or not isinstance(inputs, list):
        return inputs
    stored = {redact_url(i.url): i.url for i in current.inputs}
    out = []
    for item in inputs:
        if isinstance(item, str):
            item = {"url": item}
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            url = item["url"]
            if _REDACTED in url and url in stored:
                item = {**item, "url": stored[url]}
        out.append(item)
    return out


def merge_stream(current: StreamConfig | None, body: dict[str, Any]) -> dict[str, Any]:
    """The full stream object a partial PUT body asks for (pure)."""
    merged: dict[str, Any] = stream_to_json(current) if current else {}
    for key, value in body.items():
        if key == "stats":
            continue  # read-only; tolerated so a GET result can be PUT back
        if value is None:
            merged.pop(key, None)
        elif key in _MERGED and isinstance(value, dict) and isinstance(merged.get(key), dict):
            sub = {**merged[key], **value}
            merged[key] = {k: v for k, v in sub.items() if v is not None}
        elif key == "inputs":
            merged[key] = _restore_passwords(value, current)
        else:
            merged[key] = value
    return merged


async def put_stream(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    name = request.match_info["name"]
    body = await read_object(request)
    current = deps.cameras.configs.get(name)
    merged = merge_stream(current, body)
    merged.setdefault("name", name)
    try:
        cfg = parse_stream(merged, "stream", name=name)
    except ConfigError as exc:
        raise ApiError(
            422, "invalid stream", errors_from_config(exc.errors, strip="stream.")
        ) from exc
    await deps.cameras.put(cfg)
    request.app[DVR_INFO].forget(name)
    return web.json_response(await stream_object(request, cfg))


async def delete_stream(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    name = request.match_info["name"]
    purge = request.query.get("purge", "").lower() in ("1", "true", "yes")
    usage = deps.recordings.usage.get(name)
    if purge and name not in deps.cameras.configs and usage and usage.count:
        # recordings left behind by a stream deleted earlier without purge
        await purge_stream(deps.recordings, deps.cameras.deps.segments_dir, name)
        request.app[DVR_INFO].forget(name)
        return web.Response(status=204)
    cfg = _config_of(request)
    if any(s.name == cfg.name for s in deps.config.streams):
        raise ApiError(
            409, f"stream {cfg.name!r} is defined in the config file; remove it there"
        )
    await deps.cameras.remove(cfg.name)
    if purge:
        await purge_stream(deps.recordings, deps.cameras.deps.segments_dir, cfg.name)
    request.app[DVR_INFO].forget(cfg.name)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/streams", list_streams)
    r.add_get("/api/v1/streams/{name}", get_stream)
    r.add_put("/api/v1/streams/{name}", put_stream)
    r.add_delete("/api/v1/streams/{name}", delete_stream)
