"""A WHEP viewer built on aiortc, run as a process (inside the viewer's network namespace).

    python -m tests.peers.whep_client URL [--token T] [--viewers N] [--duration S]
        [--no-decode] [--delete] [--hold]

Each viewer POSTs an offer, plays the answer and counts decoded H.264 frames (or, with
``--no-decode``, complete encoded frames: a cheap sink for CPU benchmarks).  On exit
(duration over, or SIGTERM) it prints one JSON line per viewer:
``{"viewer", "status", "location", "ttff", "frames", "first_key", "times", "keys",
"error"}`` where ``ttff`` is seconds from the POST to the first frame, ``times`` the
wall-clock time of every frame and ``keys`` the indexes of keyframes among them.
A line ``READY`` is printed once every viewer has its first frame.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import aiortc.rtcrtpreceiver as receiver_mod
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError


def _is_key(data: bytes) -> bool:
    i = data.find(b"\x00\x00\x01")
    while 0 <= i < len(data) - 3:
        if data[i + 3] & 0x1F == 5:
            return True
        i = data.find(b"\x00\x00\x01", i + 3)
    return False


class SinkFrame:
    """What a sink receiver hands on per complete frame (marker bit seen)."""

    def __init__(self, key: bool) -> None:
        self.key_frame = key
        self.data = b"\x00\x00\x01\x65" if key else b""


def _first_nal_is_key(payload: bytes) -> bool:
    if not payload:
        return False
    t = payload[0] & 0x1F
    if t == 28:  # FU-A: the fragmented unit's type
        return len(payload) > 1 and payload[1] & 0x1F == 5
    if t == 24:  # STAP-A: parameter sets lead a keyframe
        return len(payload) > 3 and payload[3] & 0x1F in (5, 7)
    return t in (5, 7)


def install_sink() -> None:
    """Receive without depacketizing, buffering or decoding: count frames by marker bit.

    The benchmark's viewers must cost little so that camgate's CPU is what is measured;
    no NACK or PLI is ever sent back."""
    from aiortc.mediastreams import MediaStreamTrack
    from aiortc.rtcrtpreceiver import StreamStatistics

    async def handle(self: Any, packet: Any, arrival_time_ms: int) -> None:
        # receiver reports need the stream statistics: a viewer that never reports is
        # (rightly) ended by camgate as vanished
        streams = self._RTCRtpReceiver__remote_streams
        if packet.ssrc not in streams:
            streams[packet.ssrc] = StreamStatistics(90000)
        streams[packet.ssrc].add(packet)
        st = self.__dict__.setdefault("_sink", {"key": False, "start": True})
        if st["start"]:
            st["key"] = _first_nal_is_key(packet.payload)
            st["start"] = False
        if packet.marker:
            track: MediaStreamTrack | None = self._track
            if track is not None:
                track._queue.put_nowait(SinkFrame(st["key"]))  # type: ignore[attr-defined]
            st["start"] = True

    receiver_mod.RTCRtpReceiver._handle_rtp_packet = handle  # type: ignore[method-assign]


def _post(url: str, body: str, token: str | None) -> tuple[int, str, str]:
    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=body.encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.headers.get("Location", ""), r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, "", exc.read().decode()


def _delete(url: str, token: str | None) -> int:
    req = urllib.request.Request(url, method="DELETE",
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class Viewer:
    def __init__(self, n: int, url: str, token: str | None, decode: bool) -> None:
        self.n, self.url, self.token, self.decode = n, url, token, decode
        self.result: dict[str, Any] = {"viewer": n, "frames": 0, "times": [], "keys": [],
                                       "ttff": None, "first_key": None, "error": None}
        self.first = asyncio.Event()
        self.audio_task: asyncio.Future[None] | None = None
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

    async def _count_audio(self, track: Any) -> None:
        self.result["audio_frames"] = 0
        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            self.result["audio_frames"] += 1

    async def run(self) -> None:
        pc = self.pc
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
        got_track: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "video" and not got_track.done():
                got_track.set_result(track)
            elif track.kind == "audio" and self.decode:
                self.audio_task = asyncio.ensure_future(self._count_audio(track))

        await pc.setLocalDescription(await pc.createOffer())
        t0 = time.monotonic()
        status, location, body = await asyncio.to_thread(
            _post, self.url, pc.localDescription.sdp, self.token)
        self.result.update(status=status, location=location)
        if status != 201:
            self.result["error"] = body
            self.first.set()
            return
        await pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
        track = await got_track
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            now = time.time()
            if self.decode:
                key = bool(frame.key_frame)
            else:
                key = _is_key(frame.data)
            r = self.result
            if r["ttff"] is None:
                r["ttff"] = time.monotonic() - t0
                r["first_key"] = key
                self.first.set()
            if key:
                r["keys"].append(r["frames"])
            r["frames"] += 1
            r["times"].append(round(now, 4))


async def sequential_joins(args: argparse.Namespace) -> int:
    """Join, wait for the first decoded frame, leave (DELETE); repeat at random moments."""
    import random

    for i in range(args.joins):
        await asyncio.sleep(random.uniform(0, args.gap_max))
        v = Viewer(i, args.url, args.token, True)
        task = asyncio.create_task(v.run())
        try:
            await asyncio.wait_for(v.first.wait(), 10)
        except TimeoutError:
            v.result["error"] = v.result["error"] or "no frame within 10 s"
        task.cancel()
        if v.result.get("location"):
            base = args.url.split("/", 3)
            await asyncio.to_thread(_delete, f"{base[0]}//{base[2]}{v.result['location']}",
                                    args.token)
        await v.pc.close()
        r = v.result
        print(json.dumps({"join": i, "ttff": r["ttff"], "first_key": r["first_key"],
                          "error": r["error"]}), flush=True)
    return 0


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--token")
    ap.add_argument("--viewers", type=int, default=1)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--no-decode", action="store_true")
    ap.add_argument("--delete", action="store_true", help="DELETE the session at the end")
    ap.add_argument("--joins", type=int, default=0,
                    help="instead: join this many times one after another (random gaps),"
                    " print each join's time to first frame")
    ap.add_argument("--gap-max", type=float, default=2.0)
    args = ap.parse_args()
    if args.joins:
        return await sequential_joins(args)
    if args.no_decode:
        install_sink()
    viewers = [Viewer(i, args.url, args.token, not args.no_decode) for i in range(args.viewers)]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    tasks = [asyncio.create_task(v.run()) for v in viewers]

    async def ready() -> None:
        await asyncio.gather(*(v.first.wait() for v in viewers))
        print("READY", flush=True)

    ready_task = asyncio.create_task(ready())
    try:
        await asyncio.wait_for(stop.wait(), args.duration)
    except TimeoutError:
        pass
    ready_task.cancel()
    for v in viewers:
        if args.delete and v.result.get("location"):
            base = args.url.split("/", 3)
            v.result["delete_status"] = await asyncio.to_thread(
                _delete, f"{base[0]}//{base[2]}{v.result['location']}", args.token)
    for t in tasks:
        t.cancel()
    for v in viewers:
        if v.audio_task is not None:
            v.audio_task.cancel()
        await v.pc.close()
        print(json.dumps(v.result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
