"""The serving benchmarks' rig: a barcode camera over real RTSP, camgate on it, a browser.

The camera is GStreamer's RTSP server (tests/peers/rtsp_server.py) fed over UDP by an
encoder in this process that draws the synthetic scene, whose frames carry their own
wall-clock time as a barcode; camgate (``camgate run`` in a subprocess) and any peer
(``ffmpeg -c copy -f hls``) read the same RTSP URL.  A page measuring an ``<video>``
played by hls.js reads the barcode back from a canvas grab: glass-to-glass latency.
"""

from __future__ import annotations

import multiprocessing
import socket
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from gateway.sources.scene import Scene
from tests.peers.procs import RtspServer, free_port

ROOT = Path(__file__).resolve().parents[1]
NOISE = 12  # amplitude of the grain added to each frame
HLS_JS = ROOT / "gateway/web/static/hls.min.js"


class BarcodeCamera:
    """Encodes the scene in real time; sends Annex-B H.264 to the RTSP server's tcpserversrc.

    The server builds its pipeline (and listens) when the first RTSP client arrives; the
    encoder keeps running and connects as soon as it can, starting at a keyframe.
    """

    def __init__(self, size: str = "1280x720", fps: int = 25, gop: int = 25,
                 bitrate: int = 4_000_000) -> None:
        self.width, self.height = (int(v) for v in size.split("x"))
        self.fps, self.gop, self.bitrate = fps, gop, bitrate
        self.tcp_port = free_port()
        # The encoder runs in its own process: a busy benchmark process must not slow it.
        ctx = multiprocessing.get_context("spawn")
        self.stop_event = ctx.Event()
        self.thread = ctx.Process(target=self._run, name="barcode-camera", daemon=True)
        launch = (
            f"( tcpserversrc host=127.0.0.1 port={self.tcp_port} do-timestamp=true ! "
            f"video/x-h264,stream-format=byte-stream,framerate={fps}/1 ! h264parse ! "
            "rtph264pay name=pay0 pt=96 )"
        )
        self.rtsp = RtspServer("--launch", launch)

    def url(self) -> str:
        return self.rtsp.url()

    def start(self) -> BarcodeCamera:
        self.thread.start()
        self.rtsp.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(5)
        if self.thread.is_alive():
            self.thread.kill()
        self.rtsp.stop()

    def _run(self) -> None:
        enc = av.CodecContext.create("libx264", "w")
        enc.width, enc.height, enc.pix_fmt = self.width, self.height, "yuv420p"  # type: ignore[attr-defined]
        enc.time_base = Fraction(1, 90000)
        enc.framerate = Fraction(self.fps, 1)  # type: ignore[attr-defined]
        enc.gop_size = self.gop  # type: ignore[attr-defined]
        enc.bit_rate = self.bitrate
        enc.options = {
            "preset": "ultrafast", "tune": "zerolatency", "bf": "0", "repeat-headers": "1",
            "keyint_min": str(self.gop), "sc_threshold": "0",
            "vbv-maxrate": str(self.bitrate // 1000), "vbv-bufsize": str(self.bitrate // 1000),
        }
        scene = Scene(self.width, self.height)
        chroma = np.full((self.height // 2, self.width), 128, np.uint8)
        rng = np.random.default_rng(1)
        noise = [rng.integers(0, NOISE, (self.height, self.width), np.uint8) for _ in range(7)]
        sock: socket.socket | None = None
        start = time.monotonic()
        i = 0
        while not self.stop_event.is_set():
            due = start + i / self.fps
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -1.0:
                i = int((time.monotonic() - start) * self.fps)
                continue
            y = scene.render(time.time())
            # Sensor-like noise below the barcode, so the encoder spends its bitrate.
            body = y[scene.bar_h * 2 :]
            np.minimum(body, 255 - NOISE, out=body)
            body += noise[i % len(noise)][: body.shape[0]]
            frame = av.VideoFrame.from_ndarray(np.vstack((y, chroma)), format="yuv420p")
            frame.pts = i * (90000 // self.fps)
            for pkt in enc.encode(frame):  # type: ignore[attr-defined]
                if sock is None and pkt.is_keyframe:
                    sock = self._connect()
                if sock is not None:
                    try:
                        sock.sendall(bytes(pkt))
                    except OSError:
                        sock.close()
                        sock = None
            i += 1
        if sock is not None:
            sock.close()

    def _connect(self) -> socket.socket | None:
        try:
            return socket.create_connection(("127.0.0.1", self.tcp_port), timeout=0.2)
        except OSError:
            return None  # the server builds its pipeline when the first client arrives


# The measuring page: plays SRC with hls.js, reports time to first frame and, every
# 250 ms, the latency read from the barcode on a canvas grab of the video.
PAGE = """<!doctype html><html><body style="margin:0">
<video id=v muted autoplay playsinline width=640 height=360></video>
<canvas id=c style="display:none"></canvas>
<script src="__BENCH__/hls.min.js"></script>
<script>
const CELLS = 48, MARK = [1,0,1,0], BITS = 44;
window.result = {ttff: null, lat: [], errors: []};
function barcode(video, canvas) {
  const w = video.videoWidth, h = video.videoHeight;
  if (!w) return null;
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  ctx.drawImage(video, 0, 0, w, h);
  const barH = Math.max(8, Math.floor(h / 24)), cell = Math.floor(w / CELLS);
  const y0 = Math.floor(barH / 4), y1 = barH - Math.floor(barH / 4);
  const img = ctx.getImageData(0, y0, w, y1 - y0).data;
  const bits = [];
  for (let k = 0; k < CELLS; k++) {
    const x = k * cell + Math.floor(cell / 2);
    let s = 0;
    for (let r = 0; r < y1 - y0; r++) s += img[(r * w + x) * 4];
    bits.push(s / (y1 - y0) > 128 ? 1 : 0);
  }
  for (let k = 0; k < 4; k++) if (bits[k] !== MARK[k]) return null;
  let ms = 0;
  for (let k = 4; k < CELLS; k++) ms = ms * 2 + bits[k];
  return ms / 1000;
}
const v = document.getElementById("v"), c = document.getElementById("c");
const t0 = performance.now();
const hls = new Hls(__CONFIG__);
hls.on(Hls.Events.ERROR, (e, d) => {
  console.log("hls error " + d.details + " fatal=" + d.fatal + " " + (d.url || ""));
  if (d.fatal) window.result.errors.push(d.details);
});
hls.loadSource(__SRC__);
hls.attachMedia(v);
v.requestVideoFrameCallback(() => { window.result.ttff = (performance.now() - t0) / 1000; });
setInterval(() => {
  if (window.result.ttff === null) return;
  const t = barcode(v, c);
  if (t !== null) window.result.lat.push(Date.now() / 1000 - t);
}, 250);
</script></body></html>"""


def page(src: str, config: str = "{}") -> str:
    return (PAGE.replace("__SRC__", repr(src).replace("'", '"')).replace("__CONFIG__", config))


CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
