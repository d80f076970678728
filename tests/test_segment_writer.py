"""Segment cutting with real libx264/libx265 packets; files checked by ffprobe."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from gateway.media.hub import GAP
from gateway.media.packet import Packet, StreamInfo, TrackInfo
from gateway.sinks.segment_writer import PART, SegmentWriter
from gateway.sources.tracks import TrackMapper
from gateway.store.recordings import Segment
from tests.peers.clips import TB, encode, packets, video_info

WALL0 = 1_700_000_000.0


def probe(path: Path) -> dict[str, object]:
    r = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
         "stream=codec_name,width,height,nb_read_frames:format=duration", "-of", "json",
         str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0 and not r.stderr, r.stderr
    return dict(json.loads(r.stdout))


def check_files(root: Path, segs: list[Segment]) -> None:
    for s in segs:
        assert s.end_ms > s.start_ms
        assert s.duration_ms < 60_000
        f = root / s.path
        assert f.stat().st_size == s.bytes
        info = probe(f)
        stream = info["streams"][0]  # type: ignore[index]
        assert (stream["width"], stream["height"]) == (s.width, s.height)
        dur = float(info["format"]["duration"])  # type: ignore[index]
        assert abs(dur * 1000 - s.duration_ms) <= 45, (dur, s)
    assert not list(root.rglob("*" + PART))


def test_cuts_on_keyframes_at_the_target(tmp_path: Path) -> None:
    pk = packets(encode(250, gop=25), video_info())  # 10 s, keyframe every second
    w = SegmentWriter(tmp_path, "cam", target=2.0)
    segs = w.feed(pk[:100]) + w.feed(pk[100:])
    last = w.finish()
    assert last is not None
    segs.append(last)
    assert [s.duration_ms for s in segs] == [2000] * 5
    assert segs[0].start_ms == int(WALL0 * 1000)
    for a, b in zip(segs, segs[1:], strict=False):
        assert b.start_ms == a.end_ms  # contiguous
    assert sum(s.duration_ms for s in segs) == 10_000
    check_files(tmp_path, segs)
    assert json.loads(segs[0].codecs)[0]["codec"] == "h264"
    assert segs[0].path.startswith("cam/2023-11-14/")


def test_long_gop_cuts_at_next_keyframe(tmp_path: Path) -> None:
    pk = packets(encode(200, gop=75), video_info())  # keyframes every 3 s
    w = SegmentWriter(tmp_path, "cam", target=2.0)
    segs = w.feed(pk)
    assert [s.duration_ms for s in segs] == [3000, 3000]


def test_starts_at_keyframe(tmp_path: Path) -> None:
    pk = packets(encode(100, gop=25), video_info())
    w = SegmentWriter(tmp_path, "cam", target=2.0)
    assert w.feed(pk[10:70]) == []  # keyframes at 25 and 50: not yet 2 s
    assert w.dropped_before_keyframe == 15
    seg = w.finish()
    assert seg is not None and seg.start_ms == int(WALL0 * 1000) + 1000
    check_files(tmp_path, [seg])


def test_discontinuity_starts_a_new_segment(tmp_path: Path) -> None:
    pk = packets(encode(100, gop=25), video_info())
    i = 35  # not a keyframe: the new segment waits for the next one
    pk[i] = dataclasses.replace(pk[i], discontinuity=True)
    w = SegmentWriter(tmp_path, "cam", target=2.0)
    segs = w.feed(pk)
    last = w.finish()
    assert last is not None
    segs.append(last)
    assert [s.duration_ms for s in segs] == [1400, 2000]
    assert segs[1].start_ms == int(WALL0 * 1000) + 2000
    check_files(tmp_path, segs)


def test_gap_closes_the_segment(tmp_path: Path) -> None:
    pk = packets(encode(60, gop=25), video_info())
    w = SegmentWriter(tmp_path, "cam", target=2.0)
    segs = w.feed([*pk[:30], GAP])
    assert [s.duration_ms for s in segs] == [1200]
    assert w.current_path is None
    check_files(tmp_path, segs)


def test_single_frame_segment_has_positive_duration(tmp_path: Path) -> None:
    pk = packets(encode(1, gop=25), video_info())
    w = SegmentWriter(tmp_path, "cam")
    segs = w.feed([pk[0], GAP])
    assert [s.duration_ms for s in segs] == [40]


def test_resolution_change_through_the_track_mapper(tmp_path: Path) -> None:
    """In-band SPS change → new StreamInfo generation → new segment with the new size."""
    a = encode(50, size=(160, 96), gop=25)
    b = encode(50, size=(320, 192), gop=25, start_pts=50 * 3600)
    clock = iter(100.0 + i / 25 for i in range(101))
    mapper = TrackMapper(
        [TrackInfo(0, "video", "h264", TB, 160, 96)], generation=0, clock=lambda: next(clock)
    )
    pk = [mapper.map(0, e.data, e.pts, e.dts, 3600, e.keyframe) for e in a + b]
    assert pk[50].info is not pk[49].info
    assert pk[50].info.video is not None and pk[50].info.video.width == 320
    w = SegmentWriter(tmp_path, "cam", target=10.0)
    segs = w.feed(pk)
    last = w.finish()
    assert last is not None
    segs.append(last)
    assert [(s.width, s.height) for s in segs] == [(160, 96), (320, 192)]
    assert segs[1].generation == segs[0].generation + 1
    check_files(tmp_path, segs)


def test_bad_camera_timestamps_never_give_bad_durations(tmp_path: Path) -> None:
    """Backwards and jumping timestamps through the real mapper: all durations sane."""
    enc = encode(200, gop=25)
    raw = []
    for i, e in enumerate(enc):
        shift = 0
        if i >= 60:
            shift -= 90000 * 100  # clock stepped back 100 s
        if i >= 130:
            shift += 90000 * 3600  # then forward one hour
        raw.append((e, shift))
    clock = iter(100.0 + i / 25 for i in range(len(raw) + 1))  # packets arrive in real time
    mapper = TrackMapper(
        [TrackInfo(0, "video", "h264", TB, 160, 96)], generation=0, clock=lambda: next(clock)
    )
    pk = [mapper.map(0, e.data, e.pts + s, e.dts + s, 3600, e.keyframe) for e, s in raw]
    assert sum(p.discontinuity for p in pk) == 2
    w = SegmentWriter(tmp_path, "cam", target=2.0)
    segs = w.feed(pk)
    last = w.finish()
    assert last is not None
    segs.append(last)
    assert all(0 < s.duration_ms <= 2100 for s in segs), [s.duration_ms for s in segs]
    starts = [s.start_ms for s in segs]
    assert starts == sorted(starts)
    check_files(tmp_path, segs)


def test_same_start_time_gets_a_distinct_file(tmp_path: Path) -> None:
    pk = packets(encode(30, gop=25), video_info())
    w = SegmentWriter(tmp_path, "cam")
    a = w.feed([*pk[:25], GAP])
    b = w.feed([*pk[:25], GAP])
    assert a[0].path != b[0].path
    assert b[0].path.endswith("-1.mp4")


@pytest.mark.parametrize("size", [(160, 96)])
def test_h265(tmp_path: Path, size: tuple[int, int]) -> None:
    info = StreamInfo((TrackInfo(0, "video", "hevc", TB, *size),))
    pk: list[Packet] = packets(encode(75, size=size, gop=25, codec="libx265"), info)
    w = SegmentWriter(tmp_path, "cam", target=1.0)
    segs = w.feed(pk)
    last = w.finish()
    assert last is not None
    segs.append(last)
    assert [s.duration_ms for s in segs] == [1000, 1000, 1000]
    check_files(tmp_path, segs)
    assert json.loads(segs[0].codecs)[0]["codec"] == "hevc"


def test_repeated_parameter_sets_are_not_a_change() -> None:
    """RTP depayloaders put the SDP's SPS/PPS before the stream's own: same parameters."""
    from gateway.media import nal

    key = next(e for e in encode(1, gop=25) if e.keyframe).data
    params = nal.parameter_sets("h264", key)
    assert params.count(b"\x00\x00\x00\x01") == 2  # SPS, PPS
    assert nal.parameter_sets("h264", params + key) == params
    calls = []
    import gateway.sources.tracks as tracks

    real = tracks.probe_dimensions
    tracks.probe_dimensions = lambda *a: calls.append(a) or real(*a)  # type: ignore[assignment]
    try:
        mapper = TrackMapper([TrackInfo(0, "video", "h264", TB, 160, 96)], generation=0)
        infos = {mapper.map(0, d, i * 3600, i * 3600, 3600, True).info
                 for i, d in enumerate([key, params + key, key, params + key])}
    finally:
        tracks.probe_dimensions = real  # type: ignore[assignment]
    assert len(infos) == 1 and calls == []  # no decode to re-probe a known picture size
