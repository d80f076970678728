"""Pure fragmented-MP4 rewriting for HLS: split a recorder segment into its init section and
its fragments, and move the fragments onto a continuous timeline.

Every recorder segment is a self-contained fMP4 (ftyp+moov, then moof+mdat pairs, maybe an
mfra) whose timestamps start at 0.  HLS needs one timeline across segments, so each
``tfdt`` baseMediaDecodeTime is shifted by the segment's wall-clock start, counted in the
track's timescale from :data:`EPOCH_MS` (small enough for JavaScript's 53-bit numbers).
"""

from __future__ import annotations

import struct

from gateway.media.mp4 import init_size, top_level_boxes

Buf = bytes | bytearray | memoryview

EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z: the origin of the HLS media timeline


class Mp4Error(ValueError):
    """The data is not the fragmented MP4 the recorder writes."""


def _children(data: Buf, start: int, end: int) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    off = start
    while off + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, off)
        if size < 8 or off + size > end:
            raise Mp4Error(f"torn box at {off}")
        out.append((kind.decode("latin-1"), off, size))
        off += size
    return out


def _find(data: Buf, start: int, end: int, path: list[str]) -> tuple[int, int]:
    """(offset, size) of the first box along ``path`` under [start, end)."""
    for kind, off, size in _children(data, start, end):
        if kind == path[0]:
            if len(path) == 1:
                return off, size
            header = 8
            return _find(data, off + header, off + size, path[1:])
    raise Mp4Error(f"no {'/'.join(path)} box")


def timescale(init: bytes | memoryview) -> int:
    """The (first) track's media timescale, from its ``mdhd``."""
    for kind, off, size in top_level_boxes(init):
        if kind == "moov":
            mo, _ = _find(init, off + 8, off + size, ["trak", "mdia", "mdhd"])
            version = init[mo + 8]
            pos = mo + 12 + (16 if version == 1 else 8)
            return int(struct.unpack_from(">I", init, pos)[0])
    raise Mp4Error("no moov")


def split(data: bytes | memoryview) -> tuple[bytes, int]:
    """(init section, offset of the first fragment)."""
    n = init_size(data)
    if n == 0:
        raise Mp4Error("no fragment")
    return bytes(data[:n]), n


def retime(data: bytes | memoryview, base: int, first_seq: int) -> bytes:
    """The moof/mdat pairs of ``data`` with tfdt shifted by ``base`` ticks and mfhd
    sequence numbers counting from ``first_seq``; ftyp/moov/mfra are left out."""
    out = bytearray()
    seq = first_seq
    for kind, off, size in top_level_boxes(data):
        if kind not in ("moof", "mdat"):
            continue
        box = bytearray(data[off : off + size])
        if kind == "moof":
            for ck, co, cs in _children(box, 8, size):
                if ck == "mfhd":
                    struct.pack_into(">I", box, co + 12, seq & 0xFFFFFFFF)
                    seq += 1
                elif ck == "traf":
                    _shift_traf(box, co, cs, base)
        out += box
    return bytes(out)


def _shift_traf(box: bytearray, start: int, size: int, base: int) -> None:
    for kind, off, _ in _children(box, start + 8, start + size):
        if kind == "tfdt":
            if box[off + 8] == 1:
                old = struct.unpack_from(">Q", box, off + 12)[0]
                struct.pack_into(">Q", box, off + 12, old + base)
            else:
                old = struct.unpack_from(">I", box, off + 12)[0]
                if old + base > 0xFFFFFFFF:
                    raise Mp4Error("32-bit tfdt cannot hold the shifted time")
                struct.pack_into(">I", box, off + 12, old + base)


def base_ticks(start_ms: int, scale: int) -> int:
    """The tfdt shift of a segment starting at ``start_ms`` (unix ms)."""
    return (start_ms - EPOCH_MS) * scale // 1000


def first_sequence(start_ms: int) -> int:
    """A 32-bit mfhd sequence number that grows with wall-clock time (10 per second)."""
    return ((start_ms - EPOCH_MS) // 100) & 0xFFFFFFFF
