"""WebRTC pieces without a network: SDP choices and the viewer feed over a real Hub."""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction

import pytest

from gateway.media.hub import Hub
from gateway.media.packet import Packet, StreamInfo, TrackInfo
from gateway.sinks import webrtc_sdp as wsdp
from gateway.sinks.webrtc import LIVE_SLACK, ViewerFeed

SPS_HIGH = b"\x00\x00\x00\x01\x67\x64\x00\x28\xac"  # High profile, level 4.0
PPS = b"\x00\x00\x00\x01\x68\xee\x3c\x80"
CHROME_OFFER = "\r\n".join([
    "v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8", "c=IN IP4 0.0.0.0", "a=mid:0", "a=recvonly",
    "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 106 107 112 113", "c=IN IP4 0.0.0.0",
    "a=mid:1", "a=recvonly",
    "a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 nack", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96",
    "a=rtpmap:102 H264/90000", "a=rtcp-fb:102 nack pli",
    "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
    "a=rtpmap:103 rtx/90000", "a=fmtp:103 apt=102",
    "a=rtpmap:106 H264/90000",
    "a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
    "a=rtpmap:107 rtx/90000", "a=fmtp:107 apt=106",
    "a=rtpmap:112 H264/90000",
    "a=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f",
    "a=rtpmap:113 rtx/90000", "a=fmtp:113 apt=112",
]) + "\r\n"


def test_choose_video_matches_the_camera_profile() -> None:
    fmts = wsdp.offered_formats(CHROME_OFFER, "video")
    assert [f.pt for f in fmts] == [96, 97, 102, 103, 106, 107, 112, 113]
    track = TrackInfo(0, "video", "h264", Fraction(1, 90000), extradata=SPS_HIGH + PPS)
    assert wsdp.sps_profile_level_id(track, None) == "640028"
    high = wsdp.choose_video(fmts, "640028")
    assert (high.pt, high.rtx) == (112, 113)
    assert wsdp.choose_video(fmts, "42c01e").pt == 106  # constrained baseline
    assert wsdp.choose_video(fmts, "4d0028").pt == 112  # main: a High decoder plays it
    assert wsdp.choose_video(fmts, None).pt == 102  # unknown: the viewer's first choice


def test_offer_rewrite_and_answer_fix() -> None:
    fmt = wsdp.choose_video(wsdp.offered_formats(CHROME_OFFER, "video"), "640028")
    offer = wsdp.restrict_offer(CHROME_OFFER, "video", fmt)
    video = offer.split("m=video")[1]
    assert video.startswith(" 9 UDP/TLS/RTP/SAVPF 112 113\r\n")
    assert "a=rtpmap:102" not in video and "profile-level-id=42e01f" in video
    assert "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8" in offer  # audio untouched
    answer = "a=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
    assert wsdp.fix_answer(answer, fmt).endswith("profile-level-id=64001f")


def test_offer_without_usable_h264_is_refused() -> None:
    vp8_only = CHROME_OFFER.split("a=rtpmap:102")[0]
    with pytest.raises(wsdp.OfferError, match="no H.264"):
        wsdp.choose_video(wsdp.offered_formats(vp8_only, "video"), "640028")
    mode0 = CHROME_OFFER.replace("packetization-mode=1", "packetization-mode=0")
    with pytest.raises(wsdp.OfferError, match="packetization-mode=1"):
        wsdp.choose_video(wsdp.offered_formats(mode0, "video"), "640028")


def test_audio_passes_through_only_when_offered_unchanged() -> None:
    fmts = wsdp.offered_formats(CHROME_OFFER, "audio")
    pcma = wsdp.choose_audio(fmts, "pcm_alaw")
    assert pcma is not None and (pcma.pt, pcma.clock) == (8, 8000)
    opus = wsdp.choose_audio(fmts, "opus")
    assert opus is not None and opus.pt == 111
    assert wsdp.choose_audio(fmts, "aac") is None  # AAC: video only


def test_advertised_addresses_become_host_candidates() -> None:
    sdp = "a=candidate:abc 1 udp 2130706431 10.0.0.5 40000 typ host\r\n"
    out = wsdp.add_advertised(sdp, ("203.0.113.5",))
    assert "a=candidate:abca0 1 udp 2130706430 203.0.113.5 40000 typ host" in out


# -- the feed over a real hub -------------------------------------------------------------
INFO = StreamInfo((TrackInfo(0, "video", "h264", Fraction(1, 90000), 640, 360,
                             extradata=SPS_HIGH + PPS),))


def frame(n: int, key: bool, arrival: float | None = None) -> Packet:
    nal = b"\x65" if key else b"\x41"
    return Packet(INFO, 0, b"\x00\x00\x00\x01" + nal + bytes([n % 256]) * 2000, n * 3600,
                  n * 3600, 3600, key, time.time(), time.monotonic() if arrival is None
                  else arrival)


async def test_first_packet_is_the_cached_keyframe_with_parameter_sets() -> None:
    hub = Hub("t")
    old = time.monotonic() - 1.0
    for n in range(25):
        hub.publish(frame(n, n == 0, old + n * 0.04))
    feed = ViewerFeed(hub, "v")
    first = await feed.next_video()
    data = bytes(first)
    assert data.startswith(SPS_HIGH + PPS)  # SPS/PPS put in front of a keyframe without
    assert data[len(SPS_HIGH + PPS) + 4] == 0x65
    start = feed.stats.starts[0]
    assert start.keyframe and start.cached and start.reason == "join"
    # the rest of the cached GOP follows, paced but quickly, with growing timestamps
    t = time.monotonic()
    pts = [first.pts]
    for _ in range(24):
        pts.append((await feed.next_video()).pts)
    assert time.monotonic() - t < 0.5
    assert pts == sorted(pts) and len(set(pts)) == 25
    # RTP time follows the send clock: the backlog spans its send time, not its 1 s of video
    assert (pts[-1] - pts[0]) / 90000 < 0.5
    feed.close()
    assert hub.subscribers == []


async def test_without_gop_cache_the_viewer_waits_for_the_next_keyframe() -> None:
    hub = Hub("t")
    for n in range(5):
        hub.publish(frame(n, n == 0))
    feed = ViewerFeed(hub, "v", gop_cache=False)
    waiting = asyncio.ensure_future(feed.next_video())
    await asyncio.sleep(0.05)
    hub.publish(frame(5, False))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    hub.publish(frame(6, True))
    got = await asyncio.wait_for(waiting, 1)
    assert feed.stats.starts[0].keyframe and not feed.stats.starts[0].cached
    assert bytes(got).endswith(bytes([6]) * 2000)
    feed.close()


async def test_a_paused_sender_resumes_at_a_keyframe_and_never_blocks_the_hub() -> None:
    hub = Hub("t")
    hub.publish(frame(0, True))
    fast = ViewerFeed(hub, "fast", queue=20)
    slow = ViewerFeed(hub, "slow", queue=20)
    await slow.next_video()
    got_fast = [await fast.next_video()]
    # the slow viewer's sender stops pulling while 60 frames arrive (3 GOPs of 20)
    for n in range(1, 61):
        hub.publish(frame(n, n % 20 == 0))
        got_fast.append(await fast.next_video())  # the other viewer is never held up
    assert len(got_fast) == 61
    assert slow.subscription.drops > 0
    nxt = bytes(await slow.next_video())
    assert nxt[4 + len(SPS_HIGH + PPS)] == 0x65  # it restarts at a keyframe (with SPS/PPS)
    fast.close()
    slow.close()


async def test_pli_restarts_from_the_cached_keyframe() -> None:
    hub = Hub("t")
    for n in range(10):
        hub.publish(frame(n, n == 0))
    feed = ViewerFeed(hub, "v")
    for _ in range(10):
        await feed.next_video()
    feed.request_keyframe()  # within the rate limit after the join: ignored
    assert feed._resync is None
    feed.resync_interval = 0.0
    feed.request_keyframe()
    again = await feed.next_video()
    assert feed.stats.starts[-1].reason == "pli" and feed.stats.starts[-1].keyframe
    assert bytes(again)[4 + len(SPS_HIGH + PPS)] == 0x65
    assert len(hub.subscribers) == 1  # the old subscription was replaced, not leaked
    feed.close()


async def test_live_frames_go_out_at_once_and_are_timed() -> None:
    hub = Hub("t")
    hub.publish(frame(0, True))
    feed = ViewerFeed(hub, "v")
    await feed.next_video()
    for n in range(1, 6):
        await asyncio.sleep(0.02)
        hub.publish(frame(n, False))
        t = time.monotonic()
        await feed.next_video()
        assert time.monotonic() - t < LIVE_SLACK
        await asyncio.sleep(0)  # let the "sent" callback run
    assert len(feed.stats.delays) == 6 and max(feed.stats.delays) < 0.1
    feed.close()


def test_configured_ice_servers_are_announced_in_link_headers() -> None:
    from gateway.config import IceServer, WebRtcConfig, load
    from gateway.sinks.webrtc_session import Sessions
    from gateway.web.whep import _link_headers

    cfg = load('[webrtc]\nice_servers = ["stun:stun.example.net:3478",'
               ' {urls = ["turn:turn.example.net"], username = "u", credential = "c"}]\n'
               'advertise = ["203.0.113.5"]').webrtc
    assert cfg.ice_servers[1] == IceServer(("turn:turn.example.net",), "u", "c")
    assert WebRtcConfig().ice_servers == ()  # LAN first: no STUN unless configured
    links = _link_headers(Sessions(cfg))
    assert links[0] == '<stun:stun.example.net:3478>; rel="ice-server"'
    assert links[1].startswith('<turn:turn.example.net>; rel="ice-server"; username="u"')
