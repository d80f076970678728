"""The stream object (Watcher's shape): its values and its validation.

Used by the config file's ``[[streams]]`` and by ``PUT /api/v1/streams/{name}`` alike, so
a bad field reads the same from either door.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

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
)

STREAM_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
RESERVED_NAMES = frozenset({"api", "static", "metrics", "healthz"})
INPUT_SCHEMES = ("rtsp", "rtsps", "file", "synthetic")


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
