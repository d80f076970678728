"""Pure HLS media-playlist logic over DVR index rows: entries, discontinuities, rendering.

A run of segments shares one init section (same generation, codec and size); a new run
gets its own ``EXT-X-MAP`` and an ``EXT-X-DISCONTINUITY``, and so does a time gap.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.store.recordings import Segment

GAP_MS = 250  # a hole in the recording longer than this is a discontinuity
VERSION = 7


def run_key(s: Segment) -> tuple[int, str, int, int]:
    return (s.generation, s.codecs, s.width, s.height)


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    segment: Segment
    init_ms: int  # start_ms of the segment whose init section serves this run
    discontinuity: bool


def entries(segments: Sequence[Segment], first_seq: int = 0) -> list[Entry]:
    """Entries for consecutive segments (a DVR range), numbered from ``first_seq``."""
    out: list[Entry] = []
    for i, s in enumerate(segments):
        out.append(_next_entry(out[-1] if out else None, s, first_seq + i))
    return out


def _next_entry(prev: Entry | None, s: Segment, seq: int) -> Entry:
    if prev is None:
        return Entry(seq, s, s.start_ms, False)
    same_run = run_key(prev.segment) == run_key(s)
    gap = s.start_ms - prev.segment.end_ms > GAP_MS
    return Entry(seq, s, prev.init_ms if same_run else s.start_ms, gap or not same_run)


class LiveWindow:
    """The sliding window of one stream's live playlist, fed with the newest index rows.

    Sequence numbers are handed out in the order segments appear, so they stay
    consecutive however the window is refreshed; ``discontinuity_seq`` counts the
    discontinuities that slid out.
    """

    def __init__(self, size: int = 6) -> None:
        self.size = size
        self.items: deque[Entry] = deque()
        self.next_seq = 0
        self.discontinuity_seq = 0
        self.updated = time.monotonic()

    def feed(self, newest: Iterable[Segment]) -> None:
        """Add the segments newer than the window's last one (``newest``: oldest first)."""
        last = self.items[-1].segment.start_ms if self.items else -1
        for s in newest:
            if s.start_ms <= last:
                continue
            e = _next_entry(self.items[-1] if self.items else None, s, self.next_seq)
            if not self.items and self.next_seq > 0:
                e = Entry(e.seq, s, s.start_ms, True)  # resumed after the window emptied
            self.items.append(e)
            self.next_seq += 1
            last = s.start_ms
        while len(self.items) > self.size:
            gone = self.items.popleft()
            if gone.discontinuity:
                self.discontinuity_seq += 1
        if self.items and self.items[0].discontinuity:
            # The first entry needs no tag: its EXT-X-MAP starts the playlist anyway.
            first = self.items.popleft()
            self.items.appendleft(Entry(first.seq, first.segment, first.init_ms, False))
            self.discontinuity_seq += 1
        self.updated = time.monotonic()

    @property
    def last_seq(self) -> int:
        return self.items[-1].seq if self.items else -1


def target_duration(items: Sequence[Entry], floor: float = 1.0) -> int:
    longest = max((e.segment.duration for e in items), default=floor)
    return max(1, math.ceil(max(longest, floor) - 1e-3))


def _pdt(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def render(
    items: Sequence[Entry],
    *,
    vod: bool,
    query: str = "",
    discontinuity_seq: int = 0,
    target: int | None = None,
    hold_back: float | None = None,
) -> str:
    """The playlist text; ``query`` (``?a=b`` or empty) is appended to every URI."""
    tgt = target if target is not None else target_duration(items)
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{VERSION}", f"#EXT-X-TARGETDURATION:{tgt}"]
    if vod:
        lines.append("#EXT-X-PLAYLIST-TYPE:VOD")
    else:
        control = "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES"
        if hold_back is not None:
            control += f",HOLD-BACK={hold_back:.3f}"
        lines.append(control)
    lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    lines.append(f"#EXT-X-MEDIA-SEQUENCE:{items[0].seq if items else 0}")
    if discontinuity_seq:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_seq}")
    init_ms = None
    for e in items:
        s = e.segment
        if e.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if e.init_ms != init_ms:
            lines.append(f'#EXT-X-MAP:URI="init-{e.init_ms}.mp4{query}"')
            init_ms = e.init_ms
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_pdt(s.start_ms)}")
        lines.append(f"#EXTINF:{s.duration:.3f},")
        lines.append(f"seg-{s.start_ms}.m4s{query}")
    if vod:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
