/* camgate status page: the WebRTC (WHEP) live player, placed before HLS.
 *
 * camgate.whep(video, url, opts) → Promise<{pc, stop, location}> negotiates one WHEP
 * session (non-trickle: the offer is sent once ICE gathering is complete) and resolves
 * when the first frame is shown; it rejects on an HTTP error, a failed connection or no
 * picture within opts.timeout ms.  The player registered here uses it for live views;
 * when it rejects, camgate.play() falls back to the next player (HLS), and when a
 * running session fails later, the tile switches to HLS by itself.
 */
"use strict";
(function () {
  const camgate = (window.camgate = window.camgate || {});

  function gathered(pc, ms) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { clearTimeout(t); resolve(); };
      const t = setTimeout(done, ms); // LAN host candidates come at once; don't wait long
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") done();
      });
    });
  }

  camgate.whep = async function (video, url, opts) {
    opts = opts || {};
    const timeout = opts.timeout || 5000;
    const pc = new RTCPeerConnection({iceServers: opts.iceServers || []});
    pc.addTransceiver("video", {direction: "recvonly"});
    pc.addTransceiver("audio", {direction: "recvonly"});
    const stream = new MediaStream();
    pc.ontrack = (ev) => {
      stream.addTrack(ev.track);
      if (video.srcObject !== stream) video.srcObject = stream;
    };
    let location = null;
    const headers = {"Content-Type": "application/sdp"};
    if (opts.token) headers.Authorization = "Bearer " + opts.token;
    const stop = () => {
      pc.close();
      if (video.srcObject === stream) video.srcObject = null;
      if (location) {
        fetch(location, {method: "DELETE", headers, keepalive: true}).catch(() => {});
        location = null;
      }
    };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, 1000);
      const resp = await fetch(url, {method: "POST", headers, body: pc.localDescription.sdp});
      if (resp.status !== 201) {
        let msg = "HTTP " + resp.status;
        try { msg += ": " + (await resp.json()).message; } catch (e) { /* not JSON */ }
        throw new Error(msg);
      }
      location = new URL(resp.headers.get("Location"), new URL(url, window.location.href)).href;
      await pc.setRemoteDescription({type: "answer", sdp: await resp.text()});
      video.muted = true; // autoplay policy: a live view starts muted
      video.play().catch(() => {});
      await new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("no picture within " + timeout + " ms")), timeout);
        const ok = () => { clearTimeout(t); resolve(); };
        if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(ok);
        else video.addEventListener("loadeddata", ok, {once: true});
        pc.addEventListener("connectionstatechange", () => {
          if (pc.connectionState === "failed") { clearTimeout(t); reject(new Error("ICE failed")); }
        });
      });
    } catch (err) {
      stop();
      throw err;
    }
    return {pc, stop, location};
  };

  camgate.whepUrl = function (tile) {
    return "/" + encodeURIComponent(tile.name) + "/whep";
  };

  const webrtcPlayer = {
    name: "webrtc",
    canPlay(tile, source) {
      // aioice never offers loopback candidates: a browser on the gateway's own loopback
      // would have to come back in through the LAN address, so it gets HLS instead.
      const loopback = /^(127\.|localhost$|\[::1\]$)/.test(window.location.hostname);
      return source.kind === "live" && typeof RTCPeerConnection === "function" &&
        (!loopback || camgate.webrtcOnLoopback === true);
    },
    async start(tile, source) {
      const session = await camgate.whep(tile.video, camgate.whepUrl(tile));
      tile.whep = session;
      session.pc.addEventListener("connectionstatechange", () => {
        const st = session.pc.connectionState;
        if ((st === "failed" || st === "closed") && tile.whep === session && tile.stop) {
          console.warn("camgate: WebRTC for", tile.name, "ended:", st, "- switching to HLS");
          camgate.play(tile, Object.assign({}, source, {only: "hls"}));
        }
      });
      return () => { if (tile.whep === session) tile.whep = null; session.stop(); };
    },
  };
  camgate.addPlayer(webrtcPlayer, {first: true});
})();
