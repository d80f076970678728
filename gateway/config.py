"""Configuration: frozen values and one pure loader (defaults → TOML → env → validate).

Every bad field is reported on its own line naming the field path, the value and what is
allowed; nothing half-valid is ever returned.  The same stream parser validates streams
that arrive through the HTTP API, so a bad field reads the same from either door.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.config_fields import (
    ConfigError,
    FieldError,
    StorageLimit,
    _bool,
    _Errors,
    _limit,
    _seconds,
    _str,
    _unknown,
    parse_size,
)
from gateway.config_stream import (
    INPUT_SCHEMES,
    RESERVED_NAMES,
    STREAM_NAME_RE,
    DvrConfig,
    InputConfig,
    StreamConfig,
    _parse_stream,
    parse_stream,
    redact_url,
    validate_input_url,
)

# gateway.config stays the one import for configuration values and validation.
__all__ = [
    "INPUT_SCHEMES", "RESERVED_NAMES", "STREAM_NAME_RE", "Config", "ConfigError",
    "DvrConfig", "FieldError", "IceServer", "InputConfig", "ServerConfig", "StorageConfig",
    "StorageLimit", "StreamConfig", "WebRtcConfig", "load", "load_file", "parse_size",
    "parse_stream", "redact_url", "validate_input_url",
]


@dataclass(frozen=True)
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 8080


@dataclass(frozen=True)
class StorageConfig:
    path: Path = Path("/var/lib/camgate")
    storage_limit: StorageLimit = StorageLimit(share=0.8)
    expiration: int | None = None
    segment_duration: float = 2.0
    # Free space kept on the filesystem at all times (bytes); recording never stops for it.
    reserve: int = 64 * 2**20


@dataclass(frozen=True)
class IceServer:
    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


@dataclass(frozen=True)
class WebRtcConfig:
    """``[webrtc]``: LAN first, so no STUN/TURN unless configured (an unreachable STUN
    server stalls every session for seconds).  ``advertise`` adds host candidates with
    these addresses (1:1 NAT / port forwarding); ``gop_cache`` starts viewers from the
    cached GOP instead of waiting for the camera's next keyframe."""

    ice_servers: tuple[IceServer, ...] = ()
    advertise: tuple[str, ...] = ()
    gop_cache: bool = True


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    streams: tuple[StreamConfig, ...] = ()
    log_level: str = "info"
    webrtc: WebRtcConfig = field(default_factory=WebRtcConfig)


def _parse_listen(raw: Any, errs: _Errors) -> ServerConfig:
    if raw is None:
        return ServerConfig()
    if isinstance(raw, str):
        host, sep, port_s = raw.rpartition(":")
        if sep and port_s.isdigit() and 0 < int(port_s) < 65536:
            return ServerConfig(host=host.strip("[]") or "0.0.0.0", port=int(port_s))
    errs.add("server.listen", raw, 'must be "HOST:PORT" with a port 1..65535')
    return ServerConfig()


_ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


def _parse_webrtc(raw: Any, errs: _Errors) -> WebRtcConfig:
    if raw is None:
        return WebRtcConfig()
    if not isinstance(raw, Mapping):
        errs.add("webrtc", raw, "must be a table")
        return WebRtcConfig()
    _unknown(raw, {"ice_servers", "advertise", "gop_cache"}, "webrtc", errs)
    servers: list[IceServer] = []
    raw_servers = raw.get("ice_servers", [])
    if not isinstance(raw_servers, list):
        errs.add("webrtc.ice_servers", raw_servers, "must be a list")
        raw_servers = []
    for i, item in enumerate(raw_servers):
        path = f"webrtc.ice_servers[{i}]"
        if isinstance(item, str):
            item = {"urls": [item]}
        if not isinstance(item, Mapping):
            errs.add(path, item, 'must be a URL or {urls = [...], username, credential}')
            continue
        _unknown(item, {"urls", "username", "credential"}, path, errs)
        urls = item.get("urls")
        urls = [urls] if isinstance(urls, str) else urls
        if not isinstance(urls, list) or not urls or not all(
            isinstance(u, str) and u.startswith(_ICE_SCHEMES) for u in urls
        ):
            errs.add(f"{path}.urls", item.get("urls"), "must be stun:/turn: URLs")
            continue
        user, cred = item.get("username"), item.get("credential")
        if not isinstance(user, str | None) or not isinstance(cred, str | None):
            errs.add(path, "(credentials)", "username and credential must be strings")
            continue
        servers.append(IceServer(tuple(urls), user, cred))
    advertise: list[str] = []
    raw_adv = raw.get("advertise", [])
    if not isinstance(raw_adv, list):
        errs.add("webrtc.advertise", raw_adv, "must be a list of IP addresses")
        raw_adv = []
    for i, addr in enumerate(raw_adv):
        try:
            advertise.append(str(ipaddress.ip_address(addr)))
        except ValueError:
            errs.add(f"webrtc.advertise[{i}]", addr, "must be an IPv4 or IPv6 address")
    gop_cache = _bool(raw.get("gop_cache"), "webrtc.gop_cache", errs, True)
    return WebRtcConfig(tuple(servers), tuple(advertise), gop_cache)


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """``CAMGATE_SECTION_KEY=value`` → {section: {key: value}} with TOML-typed values."""
    out: dict[str, dict[str, Any]] = {}
    sections = {
        "server": ("listen",),
        "storage": ("path", "storage_limit", "expiration", "segment_duration", "reserve"),
        "log": ("level",),
    }
    for sect, keys in sections.items():
        for key in keys:
            var = f"CAMGATE_{sect.upper()}_{key.upper()}"
            if var in env:
                out.setdefault(sect, {})[key] = _env_value(env[var])
    return out


def _env_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load(
    text: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    data_dir: Path | None = None,
    source: str = "config",
) -> Config:
    """Pure: TOML text (or None for defaults) + env + an optional data-dir override → Config."""
    errs = _Errors()
    try:
        raw: dict[str, Any] = tomllib.loads(text) if text else {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([FieldError(source, "(file)", f"is not valid TOML: {exc}")]) from exc
    for sect, values in _env_overrides(env or {}).items():
        if not isinstance(raw.get(sect, {}), dict):
            continue
        raw.setdefault(sect, {}).update(values)

    _unknown(raw, {"server", "storage", "streams", "log", "webrtc"}, "", errs)
    webrtc = _parse_webrtc(raw.get("webrtc"), errs)
    server_raw = raw.get("server", {})
    server = ServerConfig()
    if isinstance(server_raw, Mapping):
        _unknown(server_raw, {"listen"}, "server", errs)
        server = _parse_listen(server_raw.get("listen"), errs)
    else:
        errs.add("server", server_raw, "must be a table")

    storage = StorageConfig()
    st = raw.get("storage", {})
    if isinstance(st, Mapping):
        _unknown(
            st,
            {"path", "storage_limit", "expiration", "segment_duration", "reserve"},
            "storage",
            errs,
        )
        path = _str(st.get("path"), "storage.path", errs, str(storage.path))
        limit = _limit(st.get("storage_limit"), "storage.storage_limit", errs)
        seg = st.get("segment_duration", storage.segment_duration)
        if isinstance(seg, bool) or not isinstance(seg, int | float) or not 0.5 <= seg <= 60:
            errs.add("storage.segment_duration", seg, "must be a number of seconds 0.5..60")
            seg = storage.segment_duration
        reserve_lim = _limit(st.get("reserve"), "storage.reserve", errs)
        if reserve_lim is not None and reserve_lim.bytes is None:
            errs.add("storage.reserve", st.get("reserve"), "must be a size in bytes, not a share")
            reserve_lim = None
        storage = StorageConfig(
            path=Path(path),
            storage_limit=limit or storage.storage_limit,
            expiration=_seconds(st.get("expiration"), "storage.expiration", errs),
            segment_duration=float(seg),
            reserve=reserve_lim.bytes if reserve_lim and reserve_lim.bytes else storage.reserve,
        )
    else:
        errs.add("storage", st, "must be a table")
    if data_dir is not None:
        storage = StorageConfig(
            path=data_dir,
            storage_limit=storage.storage_limit,
            expiration=storage.expiration,
            segment_duration=storage.segment_duration,
            reserve=storage.reserve,
        )

    log_level = "info"
    log_raw = raw.get("log", {})
    if isinstance(log_raw, Mapping):
        _unknown(log_raw, {"level"}, "log", errs)
        log_level = _str(log_raw.get("level"), "log.level", errs, "info").lower()
        if log_level not in ("debug", "info", "warning", "error"):
            errs.add("log.level", log_level, "must be debug, info, warning or error")
    else:
        errs.add("log", log_raw, "must be a table")

    streams: list[StreamConfig] = []
    raw_streams = raw.get("streams", [])
    if not isinstance(raw_streams, list):
        errs.add("streams", raw_streams, "must be an array of tables ([[streams]])")
        raw_streams = []
    seen: set[str] = set()
    for i, item in enumerate(raw_streams):
        s = _parse_stream(item, f"streams[{i}]", errs)
        if s is None:
            continue
        if s.name in seen:
            errs.add(f"streams[{i}].name", s.name, "must be unique")
        seen.add(s.name)
        streams.append(s)

    if errs.items:
        raise ConfigError(errs.items)
    return Config(
        server=server,
        storage=storage,
        streams=tuple(streams),
        log_level=log_level,
        webrtc=webrtc,
    )


def load_file(
    path: Path | None, *, env: Mapping[str, str] | None = None, data_dir: Path | None = None
) -> Config:
    """Read ``path`` (missing file → defaults only when path is None) and call :func:`load`."""
    text = None
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                [FieldError("--config", str(path), f"cannot be read: {exc.strerror}")]
            ) from exc
    return load(text, env=env, data_dir=data_dir, source=str(path) if path else "config")
