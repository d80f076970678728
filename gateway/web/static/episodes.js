/* camgate status page: motion episodes (thumbnails under each tile, marks on the DVR timeline).
 *
 * Follows GET /api/v1/episodes with the long-poll (updated_at_gt + poll_timeout), so a new
 * episode shows up within a second.  Clicking a thumbnail plays the episode's DVR range
 * (with its pre/post-roll) in the tile.  Uses the hooks of status.js (camgate.hooks).
 */
"use strict";
(function () {
  const camgate = (window.camgate = window.camgate || {});
  camgate.hooks = camgate.hooks || {};
  for (const k of ["tile", "streams", "timelineLayers"]) camgate.hooks[k] = camgate.hooks[k] || [];
  const byMedia = {}; // media -> Map(episode_id -> episode)
  const SHOWN = 6;

  const style = document.createElement("style");
  style.textContent =
    ".episodes{display:flex;gap:6px;overflow-x:auto;padding:4px 10px 8px;min-height:0}" +
    ".episodes figure{margin:0;cursor:pointer;flex:0 0 auto;width:96px;font-size:11px;color:#aaa}" +
    ".episodes img{width:96px;height:54px;object-fit:cover;display:block;background:#222;border-radius:3px}" +
    ".episodes figure.open img{outline:2px solid #e8772e}" +
    ".episodes figcaption{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}";
  document.head.appendChild(style);

  const ts = (s) => (s ? Date.parse(s) / 1000 : null);

  function render(tile) {
    const box = tile.episodesBox;
    if (!box) return;
    const eps = Array.from((byMedia[tile.name] || new Map()).values())
      .sort((a, b) => ts(b.opened_at) - ts(a.opened_at)).slice(0, SHOWN);
    box.replaceChildren(...eps.map((ep) => {
      const fig = document.createElement("figure");
      fig.dataset.episode = ep.episode_id;
      fig.className = ep.closed_at ? "" : "open";
      const opened = new Date(ts(ep.opened_at) * 1000);
      const len = ep.closed_at ? Math.max(1, Math.round(ts(ep.closed_at) - ts(ep.opened_at))) + " s" : "now";
      fig.title = "motion " + opened.toLocaleString() + (ep.zones && ep.zones.length ? " in " + ep.zones.join(", ") : "");
      if (ep.preview) {
        const img = document.createElement("img");
        img.loading = "lazy";
        img.alt = "motion at " + opened.toLocaleTimeString();
        img.src = ep.preview + "?v=" + encodeURIComponent(ep.updated_at);
        fig.appendChild(img);
      }
      const cap = document.createElement("figcaption");
      cap.textContent = opened.toLocaleTimeString() + " · " + len;
      fig.appendChild(cap);
      fig.addEventListener("click", () => camgate.play(tile, {kind: "dvr", from: ep.dvr.from, duration: ep.dvr.duration}));
      return fig;
    }));
  }

  camgate.hooks.tile.push((tile) => {
    const box = document.createElement("div");
    box.className = "episodes";
    box.setAttribute("aria-label", "motion episodes");
    tile.el.appendChild(box);
    tile.episodesBox = box;
  });

  camgate.hooks.timelineLayers.push((ctx, tile, v) => {
    const eps = byMedia[tile.name];
    if (!eps) return;
    ctx.fillStyle = "#e8772e";
    for (const ep of eps.values()) {
      const a = ts(ep.opened_at), b = ts(ep.closed_at) || Date.now() / 1000;
      if (b < v.from || a > v.to) continue;
      const x0 = Math.max(0, v.x(a)), x1 = Math.min(v.width, v.x(b));
      ctx.fillRect(x0, v.height - 5, Math.max(2, x1 - x0), 5);
    }
  });

  function take(list) {
    const touched = new Set();
    for (const ep of list) {
      (byMedia[ep.media] = byMedia[ep.media] || new Map()).set(ep.episode_id, ep);
      touched.add(ep.media);
    }
    for (const media of touched) {
      const tile = camgate.tiles && camgate.tiles[media];
      if (tile) { render(tile); camgate.redraw(tile); }
    }
  }

  async function follow() {
    let since = null;
    for (;;) {
      try {
        let url = "/api/v1/episodes?limit=200";
        url += since ? "&sort=updated_at&poll_timeout=25&updated_at_gt=" + encodeURIComponent(since) : "&sort=-updated_at";
        const r = await camgate.api(url);
        if (!r.ok) throw new Error("HTTP " + r.status);
        const body = await r.json();
        take(body.episodes);
        for (const ep of body.episodes) if (!since || ts(ep.updated_at) > ts(since)) since = ep.updated_at;
        if (!since) since = "0";
      } catch (e) {
        console.warn("camgate: episodes", e);
        await new Promise((ok) => setTimeout(ok, 3000));
      }
    }
  }

  function start() { follow(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
