"""Pure ISO-BMFF helpers: walk top-level boxes, find where a truncated file stops being whole."""

from __future__ import annotations

import struct
from collections.abc import Iterator


def top_level_boxes(data: bytes | memoryview) -> Iterator[tuple[str, int, int]]:
    """Yield (type, offset, size) of each complete top-level box; stops at a torn one."""
    off, n = 0, len(data)
    while off + 8 <= n:
        size, kind = struct.unpack_from(">I4s", data, off)
        header = 8
        if size == 1:
            if off + 16 > n:
                return
            size = struct.unpack_from(">Q", data, off + 8)[0]
            header = 16
        elif size == 0:
            size = n - off
        if size < header or off + size > n:
            return
        yield kind.decode("latin-1"), off, size
        off += size


def whole_prefix(data: bytes | memoryview) -> int:
    """Length of the longest prefix made of complete boxes that ends after a whole fragment.

    A fragmented MP4 cut short by a crash keeps every finished ``moof``+``mdat`` pair; the
    rest (a torn box, or a ``moof`` without its ``mdat``) is dropped.
    """
    end = 0
    last_kind = ""
    has_moov = False
    for kind, off, size in top_level_boxes(data):
        if kind == "moov":
            has_moov = True
        if kind == "mdat" and last_kind == "moof":
            end = off + size
        elif kind not in ("moof", "mdat") and off == end:
            end = off + size  # ftyp, moov, or index boxes between whole fragments
        last_kind = kind
    return end if has_moov else 0


def init_size(data: bytes | memoryview) -> int:
    """Bytes before the first ``moof``: the ftyp+moov initialisation section."""
    for kind, off, _ in top_level_boxes(data):
        if kind == "moof":
            return off
    return 0
