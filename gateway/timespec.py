"""Time parameters as users write them: RFC 3339 (with an offset) or unix seconds."""

from __future__ import annotations

import math
import re
from datetime import datetime

_UNIX_RE = re.compile(r"^\d+(?:\.\d+)?$")


class BadTime(ValueError):
    """A time parameter is neither RFC 3339 nor unix seconds."""


def parse_time(text: str) -> float:
    """Unix seconds from ``2026-11-22T03:00:00Z`` / ``...+01:00`` or ``1795316400[.5]``."""
    text = text.strip()
    if _UNIX_RE.match(text):
        value = float(text)
    else:
        try:
            dt = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError as exc:
            raise BadTime(text) from exc
        if dt.tzinfo is None:
            raise BadTime(text)
        value = dt.timestamp()
    if not math.isfinite(value) or value < 0 or value > 2**40:
        raise BadTime(text)
    return value
