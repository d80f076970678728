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

  // Non-trickle WHEP: the offer carries the candidates gathered so far.  Chrome needs
  // ~120 ms to gather; the offer does not wait for that (at most opts.gatherWait, 30 ms):
  // the browser is the controlling agent and checks the gateway's candidates from the
  // answer, and the gateway learns the browser's address from those checks
  // (peer-reflexive candidates), so a LAN session connects without them.
  function gathered(pc, ms) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      let early = null;
      const done = () => { clearTimeout(t); clearTimeout(early); resolve(); };
      const t = setTimeout(done, ms);
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") done();
      });
      pc.addEventListener("icecandidate", (ev) => {
        if (!ev.candidate) { done(); return; }
        if (early === null && / udp /i.test(ev.candidate.candidate) &&
            / typ host/.test(ev.candidate.candidate)) early = setTimeout(done, 20);
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
    const marks = {start: performance.now()}; // for diagnostics: where the time goes
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "connected") marks.connected = performance.now();
    });
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
      const offer = await pc.createOffer();
      marks.offered = performance.now();
      await pc.setLocalDescription(offer);
      marks.local = performance.now();
      await gathered(pc, opts.gatherWait === undefined ? 30 : opts.gatherWait);
      marks.gathered = performance.now();
      const resp = await fetch(url, {method: "POST", headers, body: pc.localDescription.sdp});
      marks.answered = performance.now();
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
        const ok = () => { marks.frame = performance.now(); clearTimeout(t); resolve(); };
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
    return {pc, stop, location, marks};
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
