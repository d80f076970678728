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


def file_pipeline(args) -> str:
    parse = "h265parse ! rtph265pay" if args.codec == "h265" else "h264parse ! rtph264pay"
    # A pre-encoded Annex-B elementary stream, looped, paced by the sink's clock: no encoding.
    return (
        f"( multifilesrc location={args.file} loop=true ! "
        f"video/x-{args.codec},stream-format=byte-stream,framerate={args.fps}/1 ! "
        f"{parse} name=pay0 pt=96 config-interval=1 )"
    )


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
        add(args.mount, file_pipeline(args))
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
