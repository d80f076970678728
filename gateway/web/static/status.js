/* camgate status page: tiles, live figures, DVR timelines, system health.
 *
 * Extension points (for other capabilities, e.g. motion episodes):
 *   camgate.hooks.tile.push(fn(tile))                      called once per tile at start
 *   camgate.hooks.streams.push(fn(tile, stream))           after each streams API poll
 *   camgate.hooks.timelineLayers.push(fn(ctx, tile, view)) draw extra marks on a timeline;
 *       view = {from, to, width, height, x(t) -> px}; call camgate.redraw(tile) to repaint
 *   camgate.api(path, options) -> Promise<Response>        fetch with the session cookie;
 *       a 401 reloads the page (which then shows the login form)
 */
"use strict";
(function () {
  const camgate = (window.camgate = window.camgate || {});
  camgate.hooks = camgate.hooks || {};
  for (const k of ["tile", "streams", "timelineLayers"]) camgate.hooks[k] = camgate.hooks[k] || [];
  camgate.tiles = {};
  let span = 3600; // seconds shown on the timelines

  camgate.api = async function (path, options) {
    const r = await fetch(path, Object.assign({credentials: "same-origin"}, options || {}));
    if (r.status === 401) { location.reload(); throw new Error("logged out"); }
    return r;
  };

  function fmtBytes(n) {
    if (n == null) return "–";
    const u = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return (i ? n.toFixed(1) : n) + " " + u[i];
  }
  function fmtDuration(s) {
    if (s == null) return "–";
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    return m + "m " + (s % 60) + "s";
  }
  camgate.format = {bytes: fmtBytes, duration: fmtDuration};

  function field(tile, name) { return tile.el.querySelector('[data-field="' + name + '"]'); }

  function makeTile(el) {
    const tile = {
      el, name: el.dataset.stream, video: el.querySelector("video"),
      canvas: el.querySelector(".timeline canvas"), ranges: [], stream: null,
      source: null, stop: null, player: null,
    };
    tile.mode = (text) => {
      const m = field(tile, "mode");
      m.textContent = text;
      m.classList.toggle("live", !!(tile.source && tile.source.kind === "live"));
    };
    tile.canvas.addEventListener("click", (ev) => onTimelineClick(tile, ev));
    el.querySelector('[data-action="live"]').addEventListener("click", () => camgate.play(tile, {kind: "live"}));
    tile.video.addEventListener("timeupdate", () => showPosition(tile));
    return tile;
  }

  function showPosition(tile) {
    const pos = field(tile, "position");
    if (tile.source && tile.source.kind === "dvr") {
      const t = tile.source.from + (tile.video.currentTime || 0);
      pos.textContent = new Date(t * 1000).toLocaleString();
    } else {
      pos.textContent = "";
    }
  }

  // ---- live figures -------------------------------------------------------------------
  // the set of streams the page was rendered with; a change reloads the page
  const boot = JSON.parse(document.getElementById("boot").textContent || "{}");
  const signature = (streams) => streams.map((s) => s.name + (s.disabled ? "!" : "")).sort().join(",");
  camgate.boot = boot;
  let known = boot.streams ? signature(boot.streams) : null;
  async function pollStreams() {
    try {
      const r = await camgate.api("/api/v1/streams?limit=1000&select=name,title,disabled,stats");
      if (!r.ok) return;
      const body = await r.json();
      const names = signature(body.streams);
      if (known !== null && names !== known) { location.reload(); return; } // cameras changed
      known = names;
      for (const s of body.streams) {
        const tile = camgate.tiles[s.name];
        if (!tile) continue;
        tile.stream = s;
        const st = s.stats || {};
        const state = field(tile, "status");
        state.textContent = st.alive ? "live" : (st.status || "?");
        state.className = "state " + (st.alive ? "alive" : (st.status === "disabled" ? "" : "down"));
        field(tile, "bitrate").textContent = st.alive ? (st.bitrate + " kbit/s") : "no signal";
        field(tile, "clients").textContent = st.online_clients ? (st.online_clients + " watching") : "";
        const dvr = st.dvr_info || {};
        field(tile, "storage").textContent = "DVR " + fmtBytes(dvr.bytes) + " · " + fmtDuration(dvr.depth);
        for (const fn of camgate.hooks.streams) fn(tile, s);
      }
    } catch (e) { console.warn("camgate: streams poll", e); }
  }

  // ---- system health ------------------------------------------------------------------
  async function pollSystem() {
    try {
      const r = await camgate.api("/api/v1/system");
      if (!r.ok) return;
      const s = await r.json();
      const set = (k, text, hot) => {
        const el = document.querySelector('[data-sys="' + k + '"]');
        el.textContent = text;
        el.classList.toggle("hot", !!hot);
      };
      const cpu = s.cpu && s.cpu.percent;
      set("cpu", "CPU " + (cpu == null ? "–" : cpu.toFixed(0) + "%") +
        (s.load ? " (load " + s.load[0].toFixed(2) + ")" : ""), cpu > 85);
      if (s.memory) {
        set("memory", "Memory " + fmtBytes(s.memory.used) + " / " + fmtBytes(s.memory.total),
          s.memory.available < s.memory.total * 0.1);
      }
      if (s.disk) {
        set("disk", "Disk " + fmtBytes(s.disk.used) + " / " + fmtBytes(s.disk.total),
          s.disk.free < s.disk.total * 0.05);
      }
      set("temperature", s.temperature == null ? "" : s.temperature.toFixed(0) + " °C", s.temperature > 75);
      set("uptime", "Up " + fmtDuration(s.uptime));
    } catch (e) { console.warn("camgate: system poll", e); }
  }

  // ---- DVR timeline -------------------------------------------------------------------
  function view(tile) {
    const c = tile.canvas;
    const width = c.clientWidth || 400, height = c.clientHeight || 28;
    const to = Date.now() / 1000, from = to - span;
    return {from, to, width, height, x: (t) => (t - from) / span * width};
  }

  camgate.redraw = function (tile) {
    const c = tile.canvas, v = view(tile);
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(v.width * dpr)) { c.width = Math.round(v.width * dpr); c.height = Math.round(v.height * dpr); }
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, v.width, v.height);
    ctx.fillStyle = "#2f7de1";
    for (const r of tile.ranges) {
      const x0 = Math.max(0, v.x(r.from)), x1 = Math.min(v.width, v.x(r.from + r.duration));
      if (x1 > x0) ctx.fillRect(x0, 6, Math.max(1, x1 - x0), v.height - 12);
    }
    // hour / minute ticks
    ctx.fillStyle = "#555";
    const step = span <= 600 ? 60 : span <= 7200 ? 600 : 3600;
    for (let t = Math.ceil(v.from / step) * step; t < v.to; t += step) ctx.fillRect(v.x(t), 0, 1, 4);
    for (const fn of camgate.hooks.timelineLayers) {
      try { fn(ctx, tile, v); } catch (e) { console.warn("camgate: timeline layer", e); }
    }
    if (tile.source && tile.source.kind === "dvr") {
      ctx.fillStyle = "#ffcc33";
      ctx.fillRect(v.x(tile.source.from + (tile.video.currentTime || 0)) - 1, 0, 2, v.height);
    }
  };

  async function loadRanges(tile) {
    const to = Math.ceil(Date.now() / 1000), from = Math.floor(to - span);
    try {
      const r = await camgate.api("/" + encodeURIComponent(tile.name) +
        "/recording_status.json?from=" + from + "&to=" + (to + 60));
      if (!r.ok) return;
      const body = await r.json();
      const entry = Array.isArray(body) ? body[0] : body;
      tile.ranges = (entry && entry.ranges) || [];
      camgate.redraw(tile);
    } catch (e) { console.warn("camgate: recording_status", e); }
  }

  function onTimelineClick(tile, ev) {
    const v = view(tile);
    const rect = tile.canvas.getBoundingClientRect();
    let t = v.from + (ev.clientX - rect.left) / rect.width * span;
    // inside a range, or snap forward to the next recorded range
    let range = tile.ranges.find((r) => t >= r.from && t < r.from + r.duration);
    if (!range) {
      range = tile.ranges.find((r) => r.from > t);
      if (!range) return;
      t = range.from;
    }
    const end = Math.min(range.from + range.duration, Date.now() / 1000);
    const duration = Math.max(2, Math.min(86400, end - t));
    camgate.play(tile, {kind: "dvr", from: Math.floor(t), duration: Math.ceil(duration)});
  }

  // ---- start --------------------------------------------------------------------------
  function start() {
    for (const el of document.querySelectorAll(".tile[data-stream]")) {
      const tile = makeTile(el);
      camgate.tiles[tile.name] = tile;
      for (const fn of camgate.hooks.tile) fn(tile);
      if ("disabled" in el.dataset) tile.mode("disabled");
      else camgate.play(tile, {kind: "live"});
    }
    for (const b of document.querySelectorAll("[data-span]")) {
      b.addEventListener("click", () => {
        span = Number(b.dataset.span);
        for (const o of document.querySelectorAll("[data-span]")) o.classList.toggle("on", o === b);
        for (const tile of Object.values(camgate.tiles)) loadRanges(tile);
      });
    }
    document.getElementById("logout").addEventListener("click", async () => {
      await fetch("/api/v1/logout", {method: "POST", credentials: "same-origin"});
      location.reload();
    });
    const everyTile = (fn) => () => Object.values(camgate.tiles).forEach(fn);
    pollStreams(); pollSystem(); everyTile(loadRanges)();
    setInterval(pollStreams, 3000);
    setInterval(pollSystem, 5000);
    setInterval(everyTile(loadRanges), 10000);
    setInterval(everyTile(camgate.redraw), 1000);
    window.addEventListener("resize", everyTile(camgate.redraw));
  }
  camgate.setSpan = (s) => { span = s; };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
