"""Pure helpers over Annex-B H.264/H.265 access units (no decoding)."""

from __future__ import annotations

from collections.abc import Iterator

H264_PARAM_TYPES = frozenset({7, 8})  # SPS, PPS
H265_PARAM_TYPES = frozenset({32, 33, 34})  # VPS, SPS, PPS


def is_annexb(data: bytes) -> bool:
    return data[:3] == b"\x00\x00\x01" or data[:4] == b"\x00\x00\x00\x01"


def split_annexb(data: bytes) -> Iterator[bytes]:
    """Yield the NAL units of an Annex-B buffer, without their start codes."""
    n = len(data)
    i = data.find(b"\x00\x00\x01")
    while 0 <= i < n:
        start = i + 3
        j = data.find(b"\x00\x00\x01", start)
        if j < 0:
            yield data[start:]
            return
        end = j - 1 if data[j - 1] == 0 else j  # a 4-byte start code owns its leading zero
        if end > start:
            yield data[start:end]
        i = j


def nal_type(codec: str, nal: bytes) -> int:
    if not nal:
        return -1
    return nal[0] & 0x1F if codec == "h264" else (nal[0] >> 1) & 0x3F


def parameter_sets(codec: str, data: bytes) -> bytes:
    """The in-band parameter sets (SPS/PPS, and VPS for H.265) of an access unit, Annex-B.

    Each distinct one once, in order: an RTP depayloader that inserts the SDP's sets in
    front of the stream's own must not look like a parameter change.
    """
    wanted = H264_PARAM_TYPES if codec == "h264" else H265_PARAM_TYPES
    if not is_annexb(data):
        return b""
    seen: list[bytes] = []
    for nal in split_annexb(data):
        if nal_type(codec, nal) in wanted and nal not in seen:
            seen.append(nal)
    return b"".join(b"\x00\x00\x00\x01" + nal for nal in seen)
