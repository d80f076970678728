"""Hub: bounded queues, overflow skips to the next keyframe, GOP cache, publish never waits."""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction

from gateway.media.hub import GAP, Hub
from gateway.media.packet import Packet, StreamInfo, TrackInfo

TB = Fraction(1, 90000)
INFO = StreamInfo(
    (
        TrackInfo(0, "video", "h264", TB, 64, 64),
        TrackInfo(1, "audio", "aac", Fraction(1, 8000), sample_rate=8000, channels=1),
    )
)


def pkt(i: int, key: bool = False, track: int = 0, info: StreamInfo = INFO) -> Packet:
    return Packet(info, track, bytes(10), i * 3600, i * 3600, 3600, key, 1e9 + i / 25, 0.0)


def video(n: int, gop: int = 10, start: int = 0) -> list[Packet]:
    return [pkt(i, key=(i % gop == 0)) for i in range(start, start + n)]


async def test_new_subscriber_starts_at_a_keyframe_with_the_cached_gop() -> None:
    hub = Hub("cam")
    hub.publish_many(video(25))  # keyframes at 0, 10, 20
    assert [p.dts for p in hub.gop] == [i * 3600 for i in range(20, 25)]
    sub = hub.subscribe("s")
    got = sub.drain()
    assert isinstance(got[0], Packet) and got[0].keyframe and got[0].dts == 20 * 3600
    assert len(got) == 5
    late = hub.subscribe("late", from_gop=False)
    hub.publish(pkt(25))
    hub.publish(pkt(26, key=False, track=1))
    assert late.drain() == []  # waits for a keyframe, audio too
    assert late.skipped == 2 and late.drops == 0  # not behind: just joined mid-GOP
    hub.publish(pkt(30, key=True))
    assert [p.dts for p in late.drain() if isinstance(p, Packet)] == [30 * 3600]


async def test_overflow_skips_to_next_keyframe_and_counts_drops() -> None:
    hub = Hub("cam")
    sub = hub.subscribe("slow", maxsize=8)
    fast = hub.subscribe("fast", maxsize=1000)
    hub.publish_many(video(35, gop=10))
    # The fast consumer got everything; the slow one never more than its bound, and
    # everything it holds starts at a keyframe and runs without holes.
    assert fast.qsize() == 35 and fast.drops == 0
    assert sub.qsize() <= 8
    held = [p for p in sub.drain() if isinstance(p, Packet)]
    assert held[0].keyframe
    idx = [p.dts // 3600 for p in held]
    assert idx == list(range(idx[0], idx[0] + len(idx)))
    assert sub.drops == 35 - len(held)
    assert sub.overflows >= 1
    assert hub.drops == sub.drops
    sub.close()
    assert hub.drops == 35 - len(held)  # counted after the subscription ends


async def test_gap_marker_reaches_subscribers_and_resets_gop() -> None:
    hub = Hub("cam")
    sub = hub.subscribe("s")
    hub.publish_many(video(5))
    hub.gap()
    hub.publish(pkt(5))  # not a keyframe: must wait for one after the gap
    hub.publish(pkt(10, key=True))
    items = sub.drain()
    assert items[5] is GAP and len(items) == 7
    assert hub.gop[0].dts == 10 * 3600 and hub.stats.gaps == 1


async def test_new_stream_info_resets_gop_cache() -> None:
    hub = Hub("cam")
    hub.publish_many(video(5))
    info2 = StreamInfo(INFO.tracks, generation=1)
    hub.publish(pkt(5, key=False, info=info2))
    assert hub.gop == []
    assert hub.info is info2


async def test_publish_never_waits_on_a_stuck_consumer() -> None:
    hub = Hub("cam")
    stuck = hub.subscribe("stuck", maxsize=16)
    packets = video(20_000, gop=50)
    t = time.perf_counter()
    for p in packets:
        hub.publish(p)  # synchronous: it cannot await a consumer
    took = time.perf_counter() - t
    assert stuck.qsize() <= 16
    assert stuck.drops >= 20_000 - 16
    assert took < 5.0  # a stuck consumer does not slow the publisher (generous bound)


async def test_consumer_wakes_on_publish_and_ends_on_close() -> None:
    hub = Hub("cam")
    sub = hub.subscribe("s")
    received: list[object] = []

    async def consume() -> None:
        async for item in sub:
            received.append(item)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    hub.publish(pkt(0, key=True))
    await asyncio.sleep(0.01)
    assert len(received) == 1
    hub.close()
    await asyncio.wait_for(task, 1)
    assert hub.subscribers == []


async def test_video_only_subscription() -> None:
    hub = Hub("cam")
    sub = hub.subscribe("v", video_only=True)
    hub.publish(pkt(0, key=True))
    hub.publish(pkt(1, track=1))
    hub.publish(pkt(2))
    assert [p.track for p in sub.drain() if isinstance(p, Packet)] == [0, 0]


async def test_stats() -> None:
    hub = Hub("cam")
    hub.publish_many(video(30, gop=10))
    assert hub.stats.packets == 30 and hub.stats.keyframes == 3 and hub.stats.bytes == 300
