"""Field-level validation shared by every config section and the HTTP API.

Each parser returns a value or records a :class:`FieldError` (path, value, what is
allowed) and returns a default, so one pass reports every bad field at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
