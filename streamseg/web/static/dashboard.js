// streamseg dashboard: live status over server-sent events, each source's live video (H.264 over a
// WebSocket into Media Source Extensions) with long-polled JPEGs as the fallback, charts drawn as plain
// SVG polylines. No libraries; every URL is relative so a proxy prefix works.
"use strict";

const COLORS = ["#4e9af1", "#f1a94e", "#5fd18b", "#e0605f", "#b084f5", "#e6d85a", "#53c9d6", "#f27fc0"];
const SVG_NS = "http://www.w3.org/2000/svg";
const MiB = 1024 * 1024;
let points = [];
let windowS = 300;
const cards = new Map();

function fmt(v, digits = 1) {
  return v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(digits);
}

function duration(s) {
  s = Math.floor(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}

function setText(id, text) {
  const el = document.getElementById(id);
  if (el.textContent !== text) el.textContent = text;
}

function svg(tag, attrs) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

// series: [{name, values: [[t, v], ...]}]; x spans the last windowS seconds up to the newest point.
function drawChart(id, series, unitDigits = 1) {
  const el = document.getElementById(id);
  const w = el.clientWidth || 400, h = el.clientHeight || 140;
  const left = 38, right = 6, top = 6, bottom = 16;
  el.setAttribute("viewBox", `0 0 ${w} ${h}`);
  el.replaceChildren();
  const tMax = points.length ? points[points.length - 1].t : Date.now() / 1000;
  // The x axis grows with the data, from one minute up to the whole history.
  const span = Math.min(windowS, Math.max(60, points.length ? tMax - points[0].t : 0));
  const tMin = tMax - span;
  let vMax = 0;
  for (const s of series) for (const [t, v] of s.values) if (t >= tMin && v > vMax) vMax = v;
  vMax = vMax > 0 ? vMax * 1.15 : 1;
  const x = (t) => left + ((t - tMin) / span) * (w - left - right);
  const y = (v) => top + (1 - v / vMax) * (h - top - bottom);
  for (const frac of [0, 0.5, 1]) {
    const v = vMax * frac;
    el.append(svg("line", { x1: left, x2: w - right, y1: y(v), y2: y(v), class: "grid" }));
    const label = svg("text", { x: left - 4, y: y(v) + 3, "text-anchor": "end" });
    label.textContent = fmt(v, vMax < 10 ? unitDigits : 0);
    el.append(label);
  }
  const spanLabel = svg("text", { x: left, y: h - 3 });
  spanLabel.textContent = `last ${duration(span)}`;
  el.append(spanLabel);
  const legend = document.getElementById(id.replace("chart-", "legend-"));
  legend.replaceChildren();
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.values.filter(([t, v]) => t >= tMin && v !== null && v !== undefined);
    if (pts.length) {
      const line = svg("polyline", { stroke: color, points: pts.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ") });
      line.dataset.series = s.name;
      el.append(line);
    }
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = color;
    const last = pts.length ? pts[pts.length - 1][1] : null;
    item.append(swatch, `${s.name} ${fmt(last, unitDigits)}`);
    legend.append(item);
  });
}

function keysOf(field) {
  const keys = new Set();
  for (const p of points) for (const k of Object.keys(p[field] || {})) keys.add(k);
  return [...keys];
}

function drawCharts() {
  const col = (f) => points.map((p) => [p.t, f(p)]);
  drawChart("chart-fps", [
    { name: "total", values: col((p) => p.fps) },
    ...keysOf("source_fps").map((n) => ({ name: n, values: col((p) => p.source_fps[n]) })),
  ]);
  drawChart("chart-stages", keysOf("stages").map((n) => ({ name: n, values: col((p) => p.stages[n]) })));
  drawChart("chart-batch", [{ name: "fill", values: col((p) => p.batch_fill * 100) }], 0);
  drawChart("chart-queues", keysOf("queues").map((n) => ({ name: n, values: col((p) => p.queues[n]) })), 0);
  const memory = [{ name: "RSS", values: col((p) => (p.rss_bytes ?? null) && p.rss_bytes / MiB) }];
  if (points.some((p) => p.gpu_memory_bytes !== null && p.gpu_memory_bytes !== undefined)) {
    memory.push({ name: "GPU", values: col((p) => (p.gpu_memory_bytes ?? null) && p.gpu_memory_bytes / MiB) });
  }
  drawChart("chart-memory", memory, 0);
}

function card(name) {
  if (cards.has(name)) return cards.get(name);
  const node = document.getElementById("source-card").content.firstElementChild.cloneNode(true);
  node.dataset.source = name;
  node.querySelector(".name").textContent = name;
  document.getElementById("sources").append(node);
  cards.set(name, node);
  const img = node.querySelector("img.preview");
  previewLoop(name, img);
  liveLoop(name, node);
  for (const el of [img, node.querySelector("video.live")]) {
    el.addEventListener("click", (ev) => clickPrompt(name, el, ev));
    el.addEventListener("contextmenu", (ev) => { ev.preventDefault(); clearPrompts(name, el); });
  }
  return node;
}

// Click to segment (needs a run with --sam or --refine): a click is a point prompt for this source,
// sent as fractions of the picture; right-click clears them. The answer shows up as the tooltip.
async function clickPrompt(name, img, ev) {
  const box = img.getBoundingClientRect();
  const body = { fx: (ev.clientX - box.left) / box.width, fy: (ev.clientY - box.top) / box.height };
  const r = await fetch(`api/prompts/${encodeURIComponent(name)}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  img.title = r.ok ? `${(await r.json()).prompts} prompt(s); right-click clears` : (await r.text()).trim();
}

async function clearPrompts(name, img) {
  const r = await fetch(`api/prompts/${encodeURIComponent(name)}`, { method: "DELETE" });
  img.title = r.ok ? "prompts cleared; click to segment what is there" : (await r.text()).trim();
}

function showStatus(st) {
  setText("version", `v${st.version}`);
  setText("total-fps", fmt(st.total.fps));
  setText("total-processed", String(st.total.processed));
  setText("total-dropped", String(st.total.dropped));
  setText("uptime", duration(st.uptime_s));
  const d = st.degradation;
  setText("degradation", d ? `${d.level}/${d.levels}` : "off");
  document.getElementById("degradation-kpi").title = d
    ? `latency budget ${fmt(d.budget_ms, 0)} ms, p95 frame age ${fmt(d.p95_ms, 0)} ms: ${d.rung}`
    : "no --latency-budget";
  const growth = Object.entries(st.memory_growth_bytes_per_hour || {}).filter(([, v]) => v !== null);
  setText("memory-growth", growth.length
    ? growth.map(([k, v]) => `${k.toUpperCase()} ${v >= 0 ? "+" : ""}${fmt(v / MiB)} MiB/h`).join(", ")
    : "–");
  const ready = document.getElementById("ready");
  ready.textContent = st.ready ? "ready" : "not ready";
  ready.className = `badge ${st.ready ? "ready" : "not-ready"}`;
  const shown = new Set(st.sources.map((s) => s.name));
  for (const [name, node] of cards) {  // sources removed while running
    if (!shown.has(name)) { node.remove(); cards.delete(name); }
  }
  for (const s of st.sources) {
    const node = card(s.name);
    const field = (f) => node.querySelector(`[data-field="${f}"]`);
    field("where").textContent = s.node === undefined ? "" : `${s.group} on ${s.node ? s.node.slice(0, 8) : "no node"}`;
    field("health").textContent = s.health;
    field("health").className = `badge health ${s.health}`;
    field("fps").textContent = fmt(s.fps);
    field("frame_age").textContent = s.frame_age_ms === null ? "–" : `${fmt(s.frame_age_ms, 0)} ms`;
    field("latency").textContent = s.latency_ms === null || s.latency_ms === undefined ? "–" : `${fmt(s.latency_ms, 0)} ms`;
    field("processed").textContent = String(s.processed);
    field("dropped").textContent = String(s.dropped);
    field("reconnects").textContent = String(s.reconnects);
    field("last_error").textContent = s.last_error || "";
    field("scene").textContent = sceneText((st.scene || {}).sources?.[s.name]);
    field("outputs").textContent = outputsText(st, s.name);
    field("privacy").textContent = privacyText((st.privacy || {})[s.name]);
    field("selection").textContent = selectionText(s);
  }
  setText("event-sinks", ((st.events || {}).sinks || [])
    .map((k) => `${k.sink} ${k.state}: ${k.delivered} sent, ${k.dropped} dropped`).join(" · "));
  const body = document.querySelector("#stages tbody");
  body.replaceChildren(...Object.entries(st.stages).map(([name, v]) => {
    const tr = document.createElement("tr");
    for (const text of [name, fmt(v.p50_ms), fmt(v.p99_ms)]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  }));
}

// "2 watching · published: connected, 3012 sent, 0 dropped · 4 clips · disk 1.2 GB": where a source's
// annotated video goes, for the outputs it has.
function outputsText(st, name) {
  const parts = [];
  const live = (st.live || {}).sources?.[name];
  if (live && live.viewers) parts.push(`${live.viewers} watching${live.dropped ? ` (${live.dropped} frames skipped)` : ""}`);
  const p = (st.publish || {})[name];
  if (p) parts.push(`published: ${p.state}, ${p.sent} sent, ${p.dropped} dropped`);
  const clips = (st.clips || {})[name];
  if (clips !== undefined) parts.push(`${clips} clip${clips === 1 ? "" : "s"}`);
  const disk = (st.disk || {})[name];
  if (disk !== undefined) parts.push(`disk ${disk >= 1e9 ? fmt(disk / 1e9) + " GB" : fmt(disk / 1e6) + " MB"}`);
  return parts.join(" · ");
}

// "network: 5.0 fps inferred, 20.0 carried, 5.0 still · motion 30% · 42 ms/s": which frames the network
// saw (detect rate, motion) and what this camera costs it. Empty while every frame is inferred.
function selectionText(s) {
  if (!s.carried_fps && !s.still_fps && s.motion_share === null) return "";
  const parts = [`network: ${fmt(s.inferred_fps)} fps inferred, ${fmt(s.carried_fps)} carried, ${fmt(s.still_fps)} still`];
  if (s.motion_share !== null && s.motion_share !== undefined) parts.push(`motion ${fmt(100 * s.motion_share, 0)}%`);
  parts.push(`${fmt(s.network_ms_per_s, 0)} ms/s`);
  return parts.join(" · ");
}

// "hidden: person (blur), 2 areas · 1520 objects · fallbacks: 12 predicted, 0 carried, 3 whole frames":
// what a source hides, and how often it had to fail closed.
function privacyText(p) {
  if (!p) return "";
  const what = [p.objects.length ? p.objects.join(", ") : "", p.areas ? `${p.areas} area${p.areas === 1 ? "" : "s"}` : ""];
  return `hidden: ${what.filter(Boolean).join(", ")} (${p.style}) · ${p.hidden_objects} objects · ` +
    `fallbacks: ${p.ghosts} predicted, ${p.carried_frames} carried, ${p.full_frames} whole frames`;
}

// "bytetrack · doorway 3 (person 3) · gate in 2 / out 5": the live counts of a source's zones and lines.
function sceneText(scene) {
  if (!scene) return "";
  const parts = [scene.tracker ? `tracking: ${scene.tracker}` : "no tracking"];
  for (const [zone, byClass] of Object.entries(scene.zones)) {
    const total = Object.values(byClass).reduce((a, b) => a + b, 0);
    const classes = Object.entries(byClass).map(([c, n]) => `${c} ${n}`).join(", ");
    parts.push(`${zone}: ${total}${classes ? ` (${classes})` : ""}`);
  }
  for (const [line, rows] of Object.entries(scene.lines)) {
    const sum = (d) => rows.filter((r) => r.direction === d).reduce((a, r) => a + r.count, 0);
    parts.push(`${line}: in ${sum("in")} / out ${sum("out")}`);
  }
  return parts.join(" · ");
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One request at a time per source: the server answers with a JPEG newer than `after`
// (at most the preview rate) or 204 after a while; nothing is encoded for sources nobody shows.
async function previewLoop(name, img) {
  let after = 0;
  while (img.isConnected) {
    if (img.hidden) { await sleep(500); continue; }  // the live video plays instead
    try {
      const r = await fetch(`api/preview/${encodeURIComponent(name)}?after=${after}`, { cache: "no-store" });
      if (r.status === 200) {
        const url = URL.createObjectURL(await r.blob());
        await new Promise((resolve) => { img.onload = resolve; img.onerror = resolve; img.src = url; });
        const old = img.dataset.url;
        if (old) URL.revokeObjectURL(old);
        img.dataset.url = url;
        after = Number(r.headers.get("X-Preview-Seq")) || after + 1;
        img.dataset.seq = String(after);
        img.dataset.frame = r.headers.get("X-Frame-Index") || "";
        img.dataset.updates = String(Number(img.dataset.updates) + 1);
      } else if (r.status !== 204) {
        await sleep(2000);
      }
    } catch (e) {
      await sleep(2000);
    }
  }
}

// Live video. The server sends, in order, {type: "init", codec} + the init segment, then per frame
// {type: "frame", t, age, key} + its fragment; `age` is the seconds from capture to sending, so the
// capture-to-screen latency is age + (shown - received), all on this page's own clock.
function liveLoop(name, node) {
  if (!window.MediaSource) return;  // the JPEG preview stays
  const video = node.querySelector("video.live");
  let retryMs = 1000;
  const open = () => {
    if (!node.isConnected) return;
    const url = new URL(`api/live/${encodeURIComponent(name)}`, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    let player = null, head = null;
    const gone = setInterval(() => { if (!node.isConnected) ws.close(); }, 1000);
    ws.onopen = () => { retryMs = 1000; };
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") { head = JSON.parse(ev.data); return; }
      if (head.type === "init") {
        if (player) player.close();
        player = new LivePlayer(video, head.codec, ev.data, (on) => showLive(node, on));
      } else if (player) {
        player.frame(head, ev.data);
      }
    };
    ws.onclose = () => {
      clearInterval(gone);
      if (player) player.close();
      showLive(node, false);
      setTimeout(open, retryMs);  // a still image, too many viewers, a restart: try again later
      retryMs = Math.min(retryMs * 2, 30000);
    };
  };
  open();
}

function showLive(node, on) {
  node.querySelector("video.live").hidden = !on;
  node.querySelector("img.preview").hidden = on;
  if (!on) node.querySelector('[data-field="screen_latency"]').textContent = "–";
}

class LivePlayer {
  constructor(video, codec, init, onPlaying) {
    this.video = video;
    this.queue = [init];
    this.arrived = [];  // [t, age, received] of recent frames, for the latency of the one shown
    this.onPlaying = onPlaying;
    this.closed = false;
    const mime = `video/mp4; codecs="${codec}"`;
    if (!MediaSource.isTypeSupported(mime)) { this.closed = true; return; }
    this.media = new MediaSource();
    video.src = URL.createObjectURL(this.media);
    this.media.addEventListener("sourceopen", () => {
      this.buffer = this.media.addSourceBuffer(mime);
      this.buffer.mode = "segments";
      this.buffer.addEventListener("updateend", () => { this.catchUp(); this.pump(); });
      this.pump();
    }, { once: true });
    video.addEventListener("waiting", this.onWaiting = () => this.catchUp());
    video.play().catch(() => {});
    this.watchFrames();
  }

  frame(head, data) {
    if (this.closed) return;
    this.arrived.push([head.t, head.age, performance.now()]);
    if (this.arrived.length > 300) this.arrived.splice(0, 100);
    this.queue.push(data);
    this.pump();
  }

  pump() {
    const b = this.buffer, v = this.video;
    if (this.closed || !b || b.updating || !this.queue.length) return;
    if (v.buffered.length && v.currentTime - v.buffered.start(0) > 30) {
      b.remove(0, v.currentTime - 10);  // keep the last seconds only: hours of watching stay small
      return;
    }
    const size = this.queue.reduce((n, d) => n + d.byteLength, 0);
    const all = new Uint8Array(size);
    let at = 0;
    for (const d of this.queue) { all.set(new Uint8Array(d), at); at += d.byteLength; }
    this.queue = [];
    try { b.appendBuffer(all); } catch (e) { this.close(); }
  }

  // Live, not a recording: play the newest frames, jumping over gaps (a slow connection skipped some).
  catchUp() {
    const v = this.video, r = v.buffered;
    if (this.closed || !r.length) return;
    const start = r.start(r.length - 1), end = r.end(r.length - 1), lag = end - v.currentTime;
    if (v.currentTime < start || lag > 1) v.currentTime = Math.max(start, end - 0.1);
    else v.playbackRate = lag > 0.15 ? 1.25 : 1;  // a little behind: catch up smoothly, no jump
    if (v.paused) v.play().catch(() => {});
  }

  watchFrames() {
    const v = this.video;
    if (!v.requestVideoFrameCallback) return;
    const shown = (now, meta) => {
      if (this.closed) return;
      const hit = this.arrived.findLast(([t]) => Math.abs(t - meta.mediaTime) < 0.004);
      if (hit && hit[1] !== null) {
        const ms = (hit[1] + (meta.expectedDisplayTime - hit[2]) / 1000) * 1000;
        v.dataset.latencyMs = ms.toFixed(0);
        v.closest("article").querySelector('[data-field="screen_latency"]').textContent = `${ms.toFixed(0)} ms`;
      }
      v.dataset.frames = String(Number(v.dataset.frames || 0) + 1);
      if (v.dataset.frames === "2") this.onPlaying(true);
      v.requestVideoFrameCallback(shown);
    };
    v.requestVideoFrameCallback(shown);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.video.removeEventListener("waiting", this.onWaiting);
    const src = this.video.src;
    this.video.removeAttribute("src");
    this.video.load();
    if (src) URL.revokeObjectURL(src);
    this.video.dataset.frames = "0";
  }
}

function connect() {
  const conn = document.getElementById("conn");
  const events = new EventSource("api/events");
  events.addEventListener("open", () => { conn.textContent = "live"; conn.className = "badge live"; });
  events.addEventListener("error", () => { conn.textContent = "reconnecting"; conn.className = "badge reconnecting"; });
  events.addEventListener("history", (e) => {
    points = JSON.parse(e.data).points;
    drawCharts();
  });
  events.addEventListener("status", (e) => {
    const st = JSON.parse(e.data);
    windowS = st.history_s || windowS;
    showStatus(st);
    const p = { t: st.timestamp, fps: st.total.fps, source_fps: {}, stages: {}, batch_fill: st.batch.fill,
                queues: st.queues, rss_bytes: st.rss_bytes, gpu_memory_bytes: st.gpu_memory_bytes };
    for (const s of st.sources) p.source_fps[s.name] = s.fps;
    for (const [k, v] of Object.entries(st.stages)) p.stages[k] = v.p50_ms;
    if (!points.length || points[points.length - 1].t < p.t) points.push(p);
    const cutoff = p.t - windowS;
    while (points.length && points[0].t < cutoff) points.shift();
    drawCharts();
  });
}

window.addEventListener("resize", drawCharts);
connect();
