"""Start-up repair of what a crash or a power cut left between the files and the index.

- ``*.mp4.part`` (the segment in progress): trimmed to its last whole fragment and indexed
  when it still holds video, else removed;
- a whole file with no row: indexed when PyAV reads it, else removed;
- a row with no file: dropped.

Each stream's rows and files are both walked in path order and merge-joined, so memory
stays small however many segments there are.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from gateway.media import mp4
from gateway.media.packet import TrackInfo
from gateway.sinks.segment_writer import PART
from gateway.store.recordings import Recordings, Segment

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^(\d{13})(?:-\d+)?\.mp4$")


@dataclass
class ReconcileReport:
    salvaged: int = 0
    removed_files: int = 0
    indexed_files: int = 0
    dropped_rows: int = 0


def probe_segment(root: Path, relpath: str, stream: str) -> Segment | None:
    """A Segment for a whole file on disk, or None when it holds no playable video."""
    m = _NAME_RE.match(os.path.basename(relpath))
    if not m:
        return None
    start_ms = int(m.group(1))
    path = root / relpath
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                return None
            vs = c.streams.video[0]
            tb = float(vs.time_base or 0)
            first = None
            end = None
            n = 0
            for p in c.demux(vs):
                if p.dts is None:
                    continue
                if first is None:
                    if not p.is_keyframe:
                        return None
                    first = p.dts
                end = p.dts + (p.duration or 0)
                n += 1
            if first is None or end is None or n == 0 or tb <= 0:
                return None
            cc = vs.codec_context
            track = TrackInfo(
                0,
                "video",
                cc.name,
                vs.time_base or Fraction(1, 90000),
                width=cc.width,
                height=cc.height,
            )
    except (av.FFmpegError, OSError, ValueError):
        return None
    duration_ms = int(round((end - first) * tb * 1000))
    if duration_ms <= 0:
        return None
    import json

    return Segment(
        stream=stream,
        start_ms=start_ms,
        end_ms=start_ms + duration_ms,
        bytes=path.stat().st_size,
        path=relpath,
        codecs=json.dumps([track.describe()], separators=(",", ":")),
        width=track.width,
        height=track.height,
    )


def salvage_part(root: Path, relpath_part: str, stream: str) -> Segment | None:
    """Trim a ``.part`` file to its whole fragments and rename it, or remove it."""
    part = root / relpath_part
    final_rel = relpath_part.removesuffix(PART)
    try:
        data = part.read_bytes()
        keep = mp4.whole_prefix(data)
        if keep and keep > mp4.init_size(data) > 0:
            if keep < len(data):
                with open(part, "r+b") as f:
                    f.truncate(keep)
                    f.flush()
                    os.fsync(f.fileno())
            os.rename(part, root / final_rel)
            seg = probe_segment(root, final_rel, stream)
            if seg is not None:
                return seg
            (root / final_rel).unlink(missing_ok=True)
        else:
            part.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("reconcile: cannot salvage %s: %s", relpath_part, exc)
        part.unlink(missing_ok=True)
    return None


def _list_stream(root: Path, stream: str) -> tuple[list[str], list[str]]:
    """Sorted relative paths of whole files and of ``.part`` files of one stream."""
    whole: list[str] = []
    parts: list[str] = []
    sdir = root / stream
    if not sdir.is_dir():
        return whole, parts
    for day in sorted(os.scandir(sdir), key=lambda e: e.name):
        if not day.is_dir():
            continue
        for f in os.scandir(day.path):
            rel = f"{stream}/{day.name}/{f.name}"
            if f.name.endswith(PART):
                parts.append(rel)
            elif f.name.endswith(".mp4"):
                whole.append(rel)
    whole.sort()
    return whole, parts


async def reconcile(recordings: Recordings, root: Path) -> ReconcileReport:
    report = ReconcileReport()
    on_disk = await asyncio.to_thread(lambda: {e.name for e in os.scandir(root) if e.is_dir()})
    streams = sorted(on_disk | set(await recordings.streams()))
    for stream in streams:
        whole, parts = await asyncio.to_thread(_list_stream, root, stream)
        to_index: list[Segment] = []
        for rel in parts:
            seg = await asyncio.to_thread(salvage_part, root, rel, stream)
            if seg is None:
                report.removed_files += 1
            else:
                report.salvaged += 1
                to_index.append(seg)
        # merge-join whole files with rows, both in path order
        drop: list[int] = []
        unindexed: list[str] = []
        i = 0
        after = ""
        while True:
            rows = await recordings.paths_from(stream, after, 5000)
            if not rows:
                break
            for row_id, path in rows:
                while i < len(whole) and whole[i] < path:
                    unindexed.append(whole[i])
                    i += 1
                if i < len(whole) and whole[i] == path:
                    i += 1
                else:
                    drop.append(row_id)
            after = rows[-1][1]
        unindexed += whole[i:]
        for rel in unindexed:
            seg = await asyncio.to_thread(probe_segment, root, rel, stream)
            if seg is None:
                await asyncio.to_thread((root / rel).unlink, True)
                report.removed_files += 1
            else:
                to_index.append(seg)
                report.indexed_files += 1
        if drop:
            await recordings.delete_ids(drop)
            report.dropped_rows += len(drop)
        if to_index:
            await recordings.add(to_index)
    await recordings.load()
    if report.salvaged or report.removed_files or report.indexed_files or report.dropped_rows:
        log.info("reconcile: %s", report)
    return report
