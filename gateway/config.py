"""Configuration: frozen values and one pure loader (defaults → TOML → env → validate).

Every bad field is reported on its own line naming the field path, the value and what is
allowed; nothing half-valid is ever returned.  The same stream parser validates streams
that arrive through the HTTP API, so a bad field reads the same from either door.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

STREAM_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
RESERVED_NAMES = frozenset({"api", "static", "metrics", "healthz"})
INPUT_SCHEMES = ("rtsp", "rtsps", "file", "synthetic")
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?\s*$", re.IGNORECASE)
_SHARE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_IUNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


@dataclass(frozen=True)
class FieldError:
    path: str
    value: Any
    allowed: str

    def __str__(self) -> str:
        return f"{self.path} = {self.value!r}: {self.allowed}"


class ConfigError(ValueError):
    """One or more fields are invalid; ``errors`` lists each of them."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("\n".join(f"config: {e}" for e in errors))


@dataclass(frozen=True)
class StorageLimit:
    """Either an absolute byte count or a share of the filesystem."""

    bytes: int | None = None
    share: float | None = None

    def resolve(self, filesystem_bytes: int) -> int:
        if self.bytes is not None:
            return self.bytes
        assert self.share is not None
        return int(filesystem_bytes * self.share)

    def __str__(self) -> str:
        if self.bytes is not None:
            return str(self.bytes)
        return f"{(self.share or 0) * 100:g}%"


@dataclass(frozen=True)
class InputConfig:
    url: str
    transport: str = "tcp"  # rtsp only: "tcp" or "udp"


@dataclass(frozen=True)
class DvrConfig:
    expiration: int | None = None  # seconds; None keeps until the byte limit bites
    storage_limit: StorageLimit | None = None


@dataclass(frozen=True)
class StreamConfig:
    name: str
    title: str = ""
    disabled: bool = False
    inputs: tuple[InputConfig, ...] = ()
    dvr: DvrConfig = field(default_factory=DvrConfig)
    # Sections owned by later capabilities, kept as validated-as-mapping raw values.
    vision: Mapping[str, Any] = field(default_factory=dict)
    onvif: Mapping[str, Any] = field(default_factory=dict)

    @property
    def main_url(self) -> str:
        return self.inputs[0].url


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


# ---------------------------------------------------------------------------------------
# parsing helpers: each returns a value or appends a FieldError and returns None


class _Errors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, path: str, value: Any, allowed: str) -> None:
        self.items.append(FieldError(path, value, allowed))


def parse_size(value: Any) -> StorageLimit | None:
    """``20GB``, ``512MiB``, ``1000000``, or ``80%``; None when not understood."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return StorageLimit(bytes=value) if value > 0 else None
    if not isinstance(value, str):
        return None
    m = _SHARE_RE.match(value)
    if m:
        share = float(m.group(1)) / 100
        return StorageLimit(share=share) if 0 < share <= 1 else None
    m = _SIZE_RE.match(value)
    if not m:
        return None
    units = _IUNITS if (m.group(3) or "").lower() == "ib" else _UNITS
    n = int(float(m.group(1)) * units[m.group(2).upper()])
    return StorageLimit(bytes=n) if n > 0 else None


def _limit(raw: Any, path: str, errs: _Errors) -> StorageLimit | None:
    if raw is None:
        return None
    lim = parse_size(raw)
    if lim is None:
        errs.add(path, raw, 'must be a positive size ("20GB", "512MiB", bytes) or "1%".."100%"')
    return lim


def _seconds(raw: Any, path: str, errs: _Errors) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
        errs.add(path, raw, "must be a positive integer number of seconds")
        return None
    return raw


def _bool(raw: Any, path: str, errs: _Errors, default: bool) -> bool:
    if raw is None:
        return default
    if not isinstance(raw, bool):
        errs.add(path, raw, "must be true or false")
        return default
    return raw


def _str(raw: Any, path: str, errs: _Errors, default: str) -> str:
    if raw is None:
        return default
    if not isinstance(raw, str):
        errs.add(path, raw, "must be a string")
        return default
    return raw


def _unknown(raw: Mapping[str, Any], known: set[str], path: str, errs: _Errors) -> None:
    for key in raw:
        if key not in known:
            where = f"{path}.{key}" if path else key
            errs.add(where, raw[key], f"unknown field (allowed: {', '.join(sorted(known))})")


def validate_input_url(url: str) -> str | None:
    """Return a reason when ``url`` is not a usable input URL, else None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "must be a URL"
    if parts.scheme not in INPUT_SCHEMES:
        return f"scheme must be one of {', '.join(s + '://' for s in INPUT_SCHEMES)}"
    if parts.scheme in ("rtsp", "rtsps"):
        if not parts.hostname:
            return "rtsp URL needs a host"
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            return "rtsp URL has a bad port"
    if parts.scheme == "file" and not parts.path:
        return "file URL needs a path (file:///path.mp4)"
    if parts.scheme == "synthetic":
        from gateway.sources.synthetic import SyntheticParams

        try:
            SyntheticParams.from_query(parse_qs(parts.query))
        except ValueError as exc:
            return str(exc)
    return None


def parse_stream(raw: Any, path: str = "stream", *, name: str | None = None) -> StreamConfig:
    """Validate one Watcher-shaped stream object; raises ConfigError listing every bad field."""
    errs = _Errors()
    stream = _parse_stream(raw, path, errs, name)
    if errs.items or stream is None:
        raise ConfigError(errs.items or [FieldError(path, raw, "must be a table")])
    return stream


def _parse_stream(
    raw: Any, path: str, errs: _Errors, name: str | None = None
) -> StreamConfig | None:
    if not isinstance(raw, Mapping):
        errs.add(path, raw, "must be a table/object")
        return None
    _unknown(
        raw,
        {"name", "title", "disabled", "inputs", "dvr", "vision", "onvif", "stats"},
        path,
        errs,
    )
    sname = raw.get("name", name)
    if name is not None and sname != name:
        errs.add(f"{path}.name", sname, f"must match the URL's stream name {name!r}")
    if not isinstance(sname, str) or not STREAM_NAME_RE.match(sname):
        errs.add(f"{path}.name", sname, "must match ^[a-z0-9][a-z0-9_-]{0,63}$")
        sname = None
    elif sname in RESERVED_NAMES:
        errs.add(f"{path}.name", sname, f"is reserved ({', '.join(sorted(RESERVED_NAMES))})")
    title = _str(raw.get("title"), f"{path}.title", errs, sname or "")
    disabled = _bool(raw.get("disabled"), f"{path}.disabled", errs, False)

    inputs: list[InputConfig] = []
    raw_inputs = raw.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        errs.add(f"{path}.inputs", raw_inputs, "must be a non-empty list of {url = ...}")
    elif len(raw_inputs) > 2:
        errs.add(f"{path}.inputs", raw_inputs, "at most two inputs: main and substream")
    else:
        for i, item in enumerate(raw_inputs):
            ipath = f"{path}.inputs[{i}]"
            if isinstance(item, str):
                item = {"url": item}
            if not isinstance(item, Mapping):
                errs.add(ipath, item, "must be a table with a url")
                continue
            _unknown(item, {"url", "transport"}, ipath, errs)
            url = item.get("url")
            if not isinstance(url, str):
                errs.add(f"{ipath}.url", url, "must be a string URL")
                continue
            reason = validate_input_url(url)
            if reason:
                errs.add(f"{ipath}.url", _redact(url), reason)
                continue
            transport = item.get("transport", "tcp")
            if transport not in ("tcp", "udp"):
                errs.add(f"{ipath}.transport", transport, 'must be "tcp" or "udp"')
                continue
            inputs.append(InputConfig(url=url, transport=transport))

    dvr = DvrConfig()
    raw_dvr = raw.get("dvr")
    if raw_dvr is not None:
        if not isinstance(raw_dvr, Mapping):
            errs.add(f"{path}.dvr", raw_dvr, "must be a table")
        else:
            _unknown(raw_dvr, {"expiration", "storage_limit"}, f"{path}.dvr", errs)
            dvr = DvrConfig(
                expiration=_seconds(raw_dvr.get("expiration"), f"{path}.dvr.expiration", errs),
                storage_limit=_limit(
                    raw_dvr.get("storage_limit"), f"{path}.dvr.storage_limit", errs
                ),
            )
    vision = raw.get("vision") or {}
    if not isinstance(vision, Mapping):
        errs.add(f"{path}.vision", vision, "must be a table")
        vision = {}
    else:
        from gateway.motion.zones import validate_vision  # zones, motion settings

        for fpath, fvalue, allowed in validate_vision(vision, f"{path}.vision"):
            errs.add(fpath, fvalue, allowed)
    onvif = raw.get("onvif") or {}
    if not isinstance(onvif, Mapping):
        errs.add(f"{path}.onvif", onvif, "must be a table")
        onvif = {}
    if sname is None:
        return None
    return StreamConfig(
        name=sname,
        title=title,
        disabled=disabled,
        inputs=tuple(inputs),
        dvr=dvr,
        vision=dict(vision),
        onvif=dict(onvif),
    )


def _redact(url: str) -> str:
    """Hide the password of a URL shown in an error or a log line."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


redact_url = _redact


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
