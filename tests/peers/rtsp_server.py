#!/usr/bin/python3
"""A real RTSP server for the tests: GStreamer's gst-rtsp-server, run by Debian's python3.

    /usr/bin/python3 tests/peers/rtsp_server.py --port 8554 [--codec h264|h265]
        [--user u --password p] [--size 640x360] [--fps 25] [--gop 50] [--bitrate 1000]
        [--mount /stream1] [--mount2 /stream2 --size2 320x180] [--file clip.h264]
        [--launch 'gst pipeline ending in name=pay0']

Prints "READY <port>" on stdout once it listens.  Every mount is shared: all clients of a
mount see the same encoder, like a real camera.
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def encoder(codec: str, gop: int, bitrate: int) -> str:
    if codec == "h265":
        return (
            f"x265enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} "
            f"bitrate={bitrate} ! video/x-h265,profile=main ! rtph265pay name=pay0 pt=96 "
            "config-interval=1"
        )
    return (
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate={bitrate} "
        "threads=1 ! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 "
        "config-interval=1"
    )


def live_pipeline(args, size: str, pattern: str) -> str:
    w, h = size.split("x")
    return (
        f"( videotestsrc is-live=true pattern={pattern} ! "
        f"video/x-raw,width={w},height={h},framerate={args.fps}/1,format=I420 ! "
        f"{encoder(args.codec, args.gop, args.bitrate)} )"
    )


def access_units(data: bytes, codec: str) -> list[bytes]:
    """Split an Annex-B elementary stream into access units (one picture each)."""
    starts = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i - 1 if i > 0 and data[i - 1] == 0 else i)
        i = data.find(b"\x00\x00\x01", i + 3)
    units: list[bytes] = []
    cur_start = None
    seen_vcl = False
    for n, st in enumerate(starts):
        hdr = data.find(b"\x00\x00\x01", st) + 3
        if codec == "h265":
            t = (data[hdr] >> 1) & 0x3F
            vcl = t < 32
            first_slice = vcl and bool(data[hdr + 2] & 0x80)
            opens = t in (32, 33, 34, 35, 39)
        else:
            t = data[hdr] & 0x1F
            vcl = t in (1, 5)
            first_slice = vcl and bool(data[hdr + 1] & 0x80)
            opens = t in (6, 7, 8, 9)
        if cur_start is None:
            cur_start = st
        elif seen_vcl and (opens or first_slice):
            units.append(data[cur_start:st])
            cur_start, seen_vcl = st, False
        seen_vcl = seen_vcl or vcl
        if n == len(starts) - 1:
            units.append(data[cur_start:])
    return units


def file_launch(args) -> str:
    pay = "h265parse ! rtph265pay" if args.codec == "h265" else "h264parse ! rtph264pay"
    return f"( appsrc name=clip ! {pay} name=pay0 pt=96 config-interval=1 )"


def feed_clip(args, element) -> None:
    """Push the clip's pictures with running timestamps, looped: a live camera, no encoder.

    An elementary stream carries no timestamps (GStreamer would send every frame with RTP
    timestamp 0), so each access unit gets one from the frame rate; the timeline runs on
    across loops and the sink paces it in real time.
    """
    with open(args.file, "rb") as f:
        units = access_units(f.read(), args.codec)
    element.set_property("is-live", True)
    element.set_property("format", Gst.Format.TIME)
    element.set_property("max-bytes", 4 * 2**20)
    element.set_property(
        "caps",
        Gst.Caps.from_string(
            f"video/x-{args.codec},stream-format=byte-stream,alignment=au,framerate={args.fps}/1"
        ),
    )
    step = Gst.SECOND // args.fps
    state = {"i": 0}

    def need_data(src, _length) -> None:
        for _ in range(args.fps):  # up to a second ahead; the sink holds it to the clock
            i = state["i"]
            buf = Gst.Buffer.new_wrapped(units[i % len(units)])
            buf.pts = buf.dts = i * step
            buf.duration = step
            state["i"] = i + 1
            if src.emit("push-buffer", buf) != Gst.FlowReturn.OK:
                return

    element.connect("need-data", need_data)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8554)
    ap.add_argument("--codec", choices=["h264", "h265"], default="h264")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--size2", default="320x180")
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--gop", type=int, default=50)
    ap.add_argument("--bitrate", type=int, default=800, help="kbit/s")
    ap.add_argument("--pattern", default="ball")
    ap.add_argument("--mount", default="/stream1")
    ap.add_argument("--mount2", default=None)
    ap.add_argument("--file", default=None)
    ap.add_argument("--launch", default=None)
    args = ap.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()

    def add(mount: str, launch: str) -> None:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        if "appsrc name=clip" in launch:
            factory.connect(
                "media-configure",
                lambda _f, media: feed_clip(
                    args, media.get_element().get_child_by_name("clip")
                ),
            )
        factory.set_shared(True)
        factory.set_stop_on_disconnect(False)
        if args.user:
            factory.add_role_from_structure(
                Gst.Structure.from_string(
                    "user, media.factory.access=(boolean)true, "
                    "media.factory.construct=(boolean)true"
                )[0]
            )
        mounts.add_factory(mount, factory)

    if args.launch:
        add(args.mount, args.launch)
    elif args.file:
        add(args.mount, file_launch(args))
    else:
        add(args.mount, live_pipeline(args, args.size, args.pattern))
    if args.mount2:
        add(args.mount2, live_pipeline(args, args.size2, args.pattern))

    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        basic = GstRtspServer.RTSPAuth.make_basic(args.user, args.password or "")
        auth.add_basic(basic, token)
        server.set_auth(auth)

    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print("FAILED to bind", flush=True)
        return 1
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
