"""Pure HLS logic: playlist entries, the live window, fragment retiming."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import av
import pytest

from gateway.media import fmp4
from gateway.media.hls_playlist import LiveWindow, entries, render
from gateway.media.mp4 import top_level_boxes
from gateway.store.recordings import Segment

CODEC = '[{"content":"video","codec":"h264","width":640,"height":360}]'


def seg(start: int, end: int, gen: int = 0, width: int = 640) -> Segment:
    return Segment("cam", start, end, 1000, f"cam/{start}.mp4", CODEC, width, 360, gen)


def test_vod_playlist_marks_gaps_and_codec_changes() -> None:
    segs = [seg(0, 2000), seg(2000, 4000), seg(9000, 11000), seg(11000, 13000, gen=1),
            seg(13000, 15000, gen=1, width=1280)]
    text = render(entries(segs, 0), vod=True, query="?token=t")
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.endswith("#EXT-X-ENDLIST\n")
    assert "#EXT-X-TARGETDURATION:2" in text and "#EXT-X-VERSION:7" in text
    assert text.count("#EXT-X-DISCONTINUITY") == 3  # gap, new generation, new size
    maps = re.findall(r'#EXT-X-MAP:URI="init-(\d+)\.mp4\?token=t"', text)
    assert maps == ["0", "11000", "13000"]
    assert "seg-2000.m4s?token=t" in text
    assert "#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:09.000Z" in text


def test_live_window_slides_with_stable_sequence_numbers() -> None:
    w = LiveWindow(size=3)
    w.feed([seg(0, 2000), seg(2000, 4000)])
    assert [e.seq for e in w.items] == [0, 1]
    w.feed([seg(2000, 4000), seg(4000, 6000), seg(6000, 8000)])  # overlapping refresh
    assert [e.seq for e in w.items] == [1, 2, 3]
    assert [e.segment.start_ms for e in w.items] == [2000, 4000, 6000]
    w.feed([seg(20000, 22000)])  # the camera was away: a discontinuity
    assert w.items[-1].discontinuity and w.discontinuity_seq == 0
    w.feed([seg(22000, 24000), seg(24000, 26000)])  # ...which then slides out
    assert [e.seq for e in w.items] == [4, 5, 6]
    assert not w.items[0].discontinuity and w.discontinuity_seq == 1
    text = render(list(w.items), vod=False, discontinuity_seq=w.discontinuity_seq,
                  hold_back=2.5)
    assert "#EXT-X-MEDIA-SEQUENCE:4" in text and "#EXT-X-DISCONTINUITY-SEQUENCE:1" in text
    assert "CAN-BLOCK-RELOAD=YES,HOLD-BACK=2.500" in text and "ENDLIST" not in text


@pytest.fixture(scope="module")
def segment_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recorder-style segment: fragmented MP4, one fragment per keyframe, from 0."""
    path = tmp_path_factory.mktemp("seg") / "s.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
         "-t", "2", "-c:v", "libx264", "-g", "25", "-bf", "0", "-movflags",
         "frag_keyframe+empty_moov+default_base_moof", str(path)],
        check=True, timeout=60,
    )
    return path


def test_retime_moves_fragments_onto_the_wall_clock(segment_file: Path) -> None:
    data = segment_file.read_bytes()
    init, _ = fmp4.split(data)
    assert [k for k, _, _ in top_level_boxes(init)] == ["ftyp", "moov"]
    scale = fmp4.timescale(init)
    start_ms = 1_795_000_000_123
    base = fmp4.base_ticks(start_ms, scale)
    out = fmp4.retime(data, base, 77)
    assert {k for k, _, _ in top_level_boxes(out)} == {"moof", "mdat"}
    # every tfdt moved by base, mfhd numbered from 77
    tfdts = [struct.unpack_from(">Q", out, m.start() + 8)[0]
             for m in re.finditer(b"tfdt", out)]
    seqs = [struct.unpack_from(">I", out, m.start() + 8)[0]
            for m in re.finditer(b"mfhd", out)]
    assert tfdts[0] == base and len(tfdts) == 2 and tfdts[1] == base + scale  # 1 s GOP
    assert seqs == [77, 78]
    # init + fragments decode, and start where the wall clock says
    joined = segment_file.with_name("joined.mp4")
    joined.write_bytes(init + out)
    with av.open(str(joined)) as c:
        first = next(c.demux(video=0))
        assert first.is_keyframe
        assert first.pts is not None and first.time_base is not None
        assert abs(float(first.pts * first.time_base) - (start_ms - fmp4.EPOCH_MS) / 1000) < 1e-3
