/* camgate status page: players.
 *
 * camgate.play(tile, source) plays `source` in the tile's <video>:
 *   source = {kind: "live"}                         live view
 *          | {kind: "dvr", from: unixSeconds, duration: seconds}   recorded range
 *   optional source.only = "hls" (a player name) restricts the choice to that player.
 * It tries the entries of camgate.players in order; the first whose canPlay(tile, source)
 * is true and whose start(tile, source) resolves wins; if start() rejects, the next one is
 * tried (so a WebRTC player placed first falls back to HLS).  start() resolves to a stop()
 * function.  Add a player with camgate.addPlayer(player, {first: true}).
 *
 * A tile is {el, name, video, source, stop, mode(text), ...} (see status.js).
 */
"use strict";
(function () {
  const camgate = (window.camgate = window.camgate || {});
  camgate.players = camgate.players || [];

  camgate.addPlayer = function (player, opts) {
    if (opts && opts.first) camgate.players.unshift(player);
    else camgate.players.push(player);
  };

  camgate.hlsUrl = function (tile, source) {
    const base = "/" + encodeURIComponent(tile.name) + "/";
    if (source.kind === "dvr") {
      return base + "index-" + Math.floor(source.from) + "-" + Math.max(1, Math.ceil(source.duration)) + ".m3u8";
    }
    return base + "index.m3u8";
  };

  function isApple() {
    return /Apple/.test(navigator.vendor || "") && !/Chrome|Chromium|CriOS|Android/.test(navigator.userAgent);
  }

  function nativeHls(video) {
    return !!video.canPlayType && video.canPlayType("application/vnd.apple.mpegurl") !== "";
  }

  // HLS: hls.js (Media Source Extensions) where available; native HLS on Safari/iOS.
  const hlsPlayer = {
    name: "hls",
    canPlay(tile) {
      return (window.Hls && window.Hls.isSupported()) || nativeHls(tile.video);
    },
    start(tile, source) {
      const video = tile.video;
      const url = camgate.hlsUrl(tile, source);
      const useNative = nativeHls(video) && (isApple() || !(window.Hls && window.Hls.isSupported()));
      if (useNative) {
        video.src = url;
        video.play().catch(() => {});
        return Promise.resolve(() => { video.removeAttribute("src"); video.load(); });
      }
      return new Promise((resolve, reject) => {
        const hls = new window.Hls({
          backBufferLength: 30,
          liveSyncDurationCount: 2,
          manifestLoadingMaxRetry: 6,
          levelLoadingMaxRetry: 6,
          fragLoadingMaxRetry: 6,
        });
        let started = false;
        let recoveries = 0;
        tile.hls = hls;
        hls.on(window.Hls.Events.MANIFEST_PARSED, () => {
          started = true;
          video.play().catch(() => {});
          resolve(() => { hls.destroy(); if (tile.hls === hls) tile.hls = null; });
        });
        hls.on(window.Hls.Events.ERROR, (_ev, data) => {
          if (!data.fatal) return;
          if (!started) { hls.destroy(); reject(new Error("hls: " + data.details)); return; }
          if (recoveries++ > 20) { hls.destroy(); tile.mode("error: " + data.details); return; }
          if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
          else setTimeout(() => hls.startLoad(), 1000);
        });
        hls.loadSource(url);
        hls.attachMedia(video);
      });
    },
  };
  camgate.addPlayer(hlsPlayer);

  camgate.stop = function (tile) {
    if (tile.stop) {
      try { tile.stop(); } catch (e) { /* already gone */ }
      tile.stop = null;
    }
  };

  camgate.play = async function (tile, source) {
    camgate.stop(tile);
    tile.source = source;
    const token = (tile.playToken = {});
    for (const player of camgate.players) {
      if (source.only && player.name !== source.only) continue;
      if (!player.canPlay(tile, source)) continue;
      try {
        const stop = await player.start(tile, source);
        if (tile.playToken !== token) { stop(); return null; } // superseded meanwhile
        tile.stop = stop;
        tile.player = player.name;
        tile.mode(source.kind === "live" ? "LIVE · " + player.name
          : "DVR " + new Date(source.from * 1000).toLocaleTimeString() + " · " + player.name);
        return player.name;
      } catch (err) {
        console.warn("camgate: player", player.name, "failed for", tile.name, err);
      }
    }
    tile.mode("cannot play");
    return null;
  };
})();
