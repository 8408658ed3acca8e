// shotfarm's operator dashboard: follows GET /api/v1/operator/stream (a full frame, then deltas
// every second) and acts through the REST API. Every node, queue row and video is a keyed DOM
// element created once and updated in place; charts are small canvases redrawn only when on
// screen, so 200 nodes stay smooth.
"use strict";

const TOKEN_KEY = "shotfarm.operatorToken";
const HISTORY = 180; // samples kept per GPU: 3 minutes at one a second
const METRICS = [
  // [key, index in tel, max (null: from tel[2] memory total), css class]
  ["util", 0, 100, "k-util"],
  ["mem", 1, null, "k-mem"],
  ["temp", 3, 100, "k-temp"],
  ["power", 4, 500, "k-power"],
];
// Past this many nodes the "auto" layout lists nodes as one-line rows instead of cards.
const ROWS_PAST = 24;
// Natural order of ids: video-od-2 before video-od-10.
const natural = new Intl.Collator("en", { numeric: true, sensitivity: "base" });
const COLORS = ["#1f5fbf", "#b3261e", "#1d7a3e", "#a14d00", "#6b3fa0", "#00838f", "#8d6e00", "#5a5a55"];

const $ = (id) => document.getElementById(id);
let token = null;
let socket = null;
let retry = null;
const nodes = new Map(); // id -> {data, el, parts, hist: [[...per metric arrays]], dirty}
const queueRows = new Map();
const videoRows = new Map();
const visible = new Set();
const fleetGroups = new Map(); // "pool|spot" -> {box, head, cells}, the fleet view's blocks
let fleetMetric = "util"; // what the fleet's cells are coloured by (a METRICS key)
let queuedPools = new Set(); // pools with shots waiting: their idle GPUs are marked
const poolPanels = new Map(); // pool -> {el, dd: {k: element}, canvas, util: [%...], lastAt}
let objectives = {}; // priority -> latency objective, seconds (full frames)
let utilInterval = 1; // seconds between points of a pool's utilization line
const POOL_POINTS = 900; // 15 minutes at one a second
const poolHeads = new Map(); // pool -> heading element, when grouping by pool
// What the node list shows: read from the toolbar by readFilters().
const filters = { search: "", pool: "", capacity: "", state: "", model: "" };
let layoutDirty = false; // nodes came or went: the list's order is rebuilt after the frame
const observer = "IntersectionObserver" in window
  ? new IntersectionObserver((entries) => {
      for (const e of entries) {
        const id = e.target.dataset.nodeId;
        if (e.isIntersecting) { visible.add(id); const n = nodes.get(id); if (n) n.dirty = true; }
        else visible.delete(id);
      }
      // Cards that just came into view are drawn now, not at the next frame (a second later).
      requestAnimationFrame(draw);
    })
  : null;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function setText(e, t) { if (e.textContent !== t) e.textContent = t; }
function money(x) { return "$" + (x < 10 ? x.toFixed(3) : x.toFixed(2)); }

// ---- sign-in ----
async function signIn(candidate) {
  const err = $("login-error");
  err.textContent = "";
  let resp;
  try {
    resp = await fetch("/api/v1/cluster", { headers: { Authorization: "Bearer " + candidate } });
  } catch (e) {
    err.textContent = "The server cannot be reached: " + e.message;
    return false;
  }
  if (resp.status === 403) {
    err.textContent = "This is a user token: the dashboard needs an operator token (shotfarm token --operator).";
    localStorage.removeItem(TOKEN_KEY);
    return false;
  }
  if (resp.status === 401) {
    err.textContent = "This token is not valid (expired, malformed or signed with another secret).";
    localStorage.removeItem(TOKEN_KEY);
    return false;
  }
  if (!resp.ok) { err.textContent = "The server answered " + resp.status + "."; return false; }
  token = candidate;
  localStorage.setItem(TOKEN_KEY, token);
  $("login").hidden = true;
  $("board").hidden = false;
  $("logout").hidden = false;
  connect();
  pollAutoscaler();
  return true;
}

function signOut() {
  token = null;
  localStorage.removeItem(TOKEN_KEY);
  if (socket) socket.close();
  clearTimeout(retry);
  clearTimeout(scalerTimer);
  $("board").hidden = true;
  $("login").hidden = false;
  $("logout").hidden = true;
  setConn("login", "Signed out");
}

function setConn(state, text) {
  document.body.dataset.conn = state;
  setText($("conn"), text);
}

// ---- stream ----
function connect() {
  if (!token) return;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${proto}//${location.host}/api/v1/operator/stream?token=${encodeURIComponent(token)}`);
  setConn("connecting", "Connecting…");
  socket.onopen = () => setConn("live", "Live");
  socket.onmessage = (m) => {
    try { apply(JSON.parse(m.data)); } catch (e) { console.error(e); }
  };
  socket.onclose = () => {
    socket = null;
    if (!token) return;
    setConn("offline", "Reconnecting…");
    retry = setTimeout(connect, 1000);
  };
}

function apply(f) {
  if (f.type === "full") {
    for (const id of [...nodes.keys()]) removeNode(id);
  }
  queuedPools = new Set(Object.entries(f.cluster.queue_depth)
    .filter(([, byPrio]) => Object.values(byPrio).some((k) => k > 0)).map(([pool]) => pool));
  cluster(f.cluster, f.window);
  // A full frame carries the server's recent history: charts start with it, not empty.
  const seed = f.type === "full" && f.history ? f.history : null;
  for (const n of f.nodes || []) upsertNode(n, seed);
  for (const id of f.removed || []) removeNode(id);
  if (f.waiting) waiting(f.waiting);
  if (f.videos) videos(f.videos);
  if (layoutDirty) layout();
  refreshList();
  poolPanelsUpdate(f);
  for (const n of nodes.values()) paintFleet(n);
  document.body.dataset.seq = f.seq;
  requestAnimationFrame(draw);
}

function cluster(c, w) {
  setText($("c-queued"), String(c.queued_total));
  const parts = [];
  for (const [pool, byPrio] of Object.entries(c.queue_depth)) {
    parts.push(pool + ": " + Object.entries(byPrio).map(([p, n]) => `${n} ${p}`).join(", "));
  }
  setText($("c-queue-detail"), parts.join(" · ") || "queue empty");
  setText($("c-running"), String(c.shots_running));
  setText($("c-gpus"), `${c.gpus_busy} / ${c.gpus_total}`);
  setText($("c-util"), `${Math.round(c.allocation * 100)}% allocated · ${c.utilization_gpu.toFixed(0)}% utilization`);
  setText($("c-preempt"), String(c.preemptions_total));
  setText($("c-requeue"), String(c.requeues_total));
  const span = w.seconds >= 3540 ? "last hour" : `last ${Math.max(1, Math.round(w.seconds / 60))} min watched`;
  setText($("c-preempt-sub"), `${w.preemptions} in the ${span}`);
  setText($("c-requeue-sub"), `${w.requeues} in the ${span}`);
  setText($("c-cost"), money(c.cost_usd.total));
  setText($("c-cost-sub"), `spot ${money(c.cost_usd.spot)} · on-demand ${money(c.cost_usd.on_demand)}`);
  setText($("c-burn"), money(c.burn_per_hour_usd.total) + "/h");
  setText($("c-burn-sub"), `spot ${money(c.burn_per_hour_usd.spot)} · on-demand ${money(c.burn_per_hour_usd.on_demand)}`);
  setText($("c-source"), c.telemetry_source);
  setText($("c-nodes"), Object.entries(c.nodes_by_state).map(([s, n]) => `${n} ${s}`).join(" · "));
}

// ---- nodes ----
function buildNode(id) {
  const card = el("article", "node");
  card.dataset.nodeId = id;
  const head = el("header", "node-head");
  const name = el("h3", "node-id", id);
  const badges = el("span", "badges");
  const state = el("span", "badge state");
  const kind = el("span", "badge kind");
  const sim = el("span", "badge simulated", "simulated");
  sim.title = "Telemetry is simulated, not read from NVML";
  sim.hidden = true;
  badges.append(state, kind, sim);
  head.append(name, badges);
  const meta = el("p", "node-meta muted");
  const facts = el("p", "node-facts");
  const hb = el("span", "hb");
  const shots = el("span", "shots-n");
  const telText = el("span", "tel-text");
  facts.append(hb, shots, telText);
  const blocked = el("p", "blocked");
  blocked.hidden = true;
  const charts = el("div", "charts");
  const canvases = METRICS.map(([key, , , cls]) => {
    const c = document.createElement("canvas");
    c.className = "chart " + cls;
    c.width = 120; c.height = 32;
    c.setAttribute("role", "img");
    c.setAttribute("aria-label", key + " per GPU");
    charts.append(c);
    return c;
  });
  const actions = el("div", "actions");
  const preempt = el("button", "danger", "Preempt");
  preempt.type = "button";
  preempt.dataset.action = "preempt";
  const drain = el("button", "", "Drain");
  drain.type = "button";
  drain.dataset.action = "drain";
  preempt.onclick = () => confirmAct(`Preempt ${id}? The spot provider reclaims it now; its shots checkpoint and requeue.`,
    `/api/v1/nodes/${encodeURIComponent(id)}/preempt`, `${id} preempted`);
  drain.onclick = () => confirmAct(`Drain ${id}? It finishes its shots, takes no more, then leaves.`,
    `/api/v1/nodes/${encodeURIComponent(id)}/drain`, `${id} draining`);
  actions.append(preempt, drain);
  card.append(head, meta, facts, blocked, charts, actions);
  const fleet = el("span", "fleet-node");
  fleet.dataset.nodeId = id;
  return { el: card, fleet, cells: [], parts: { state, kind, sim, meta, hb, shots, telText, blocked, canvases, preempt, drain } };
}

// Each GPU's chart history from the node's server-side points (the node's mean: the ring keeps
// per-node aggregates), each point spread over the frames it stood for.
function seedHist(points, gpus, h) {
  const repeat = Math.max(1, Math.round(h.node_interval_s / h.stream_period_s));
  const hist = [];
  for (let g = 0; g < gpus; g++) {
    hist.push(METRICS.map((_, m) => {
      const scale = [100, 100, 100, 500][m];
      const out = [];
      for (const p of points) for (let r = 0; r < repeat; r++) out.push(Math.min(1, Math.max(0, p[m] / scale)));
      return out.slice(-HISTORY);
    }));
  }
  return hist;
}

function upsertNode(patch, seed) {
  let n = nodes.get(patch.id);
  if (!n) {
    const points = seed && seed.nodes[patch.id];
    const hist = points ? seedHist(points, (patch.gpus || []).length, seed) : [];
    n = { data: {}, hist, dirty: true, ...buildNode(patch.id) };
    nodes.set(patch.id, n);
    insertSorted(n);
    if (observer) observer.observe(n.el); else visible.add(patch.id);
  }
  if (("pool" in patch && patch.pool !== n.data.pool) || ("spot" in patch && patch.spot !== n.data.spot)) layoutDirty = true;
  Object.assign(n.data, patch);
  const d = n.data;
  const p = n.parts;
  n.el.dataset.pool = d.pool;
  n.el.dataset.spot = d.spot;
  n.el.hidden = !passes(d);
  n.fleet.dataset.state = d.state;
  const gpuCount = (d.gpus || []).length;
  while (n.cells.length < gpuCount) {
    const c = el("i", "gpu-cell");
    c.dataset.gpu = n.cells.length;
    n.cells.push(c);
    n.fleet.append(c);
  }
  while (n.cells.length > gpuCount) n.cells.pop().remove();
  if ("tel" in patch) {
    patch.tel.forEach((t, g) => {
      if (!n.hist[g]) n.hist[g] = METRICS.map(() => []);
      if (!t) return;
      METRICS.forEach(([, i, max], m) => {
        const h = n.hist[g][m];
        const scale = max === null ? t[2] || 1 : max;
        h.push(Math.min(1, Math.max(0, t[i] / scale)));
        if (h.length > HISTORY) h.shift();
      });
    });
    n.dirty = true;
    const tel = d.tel.filter(Boolean);
    setText(p.telText, tel.length
      ? tel.map((t, g) => `GPU${g} ${t[0].toFixed(0)}% ${(t[1] / 1024).toFixed(1)}G ${t[3].toFixed(0)}°C ${t[4].toFixed(0)}W`).join(" · ")
      : "no telemetry yet");
  }
  setText(p.state, d.state);
  p.state.dataset.state = d.state;
  n.el.dataset.state = d.state;
  setText(p.kind, d.spot ? "spot" : "on-demand");
  p.kind.dataset.spot = d.spot;
  const simulated = (d.gpus || []).some((g) => g.source === "simulated");
  p.sim.hidden = !simulated;
  const g0 = (d.gpus || [])[0];
  setText(p.meta, `${d.pool} · ${(d.gpus || []).length} × ${g0 ? g0.model : "?"} · ${d.provider} · ${money(d.price_per_hour)}/h`);
  const age = d.heartbeat_age_s;
  setText(p.hb, age === null || age === undefined ? "no heartbeat yet" : `heartbeat ${age.toFixed(1)} s ago`);
  const stale = age !== null && age !== undefined && age > 5;
  n.el.classList.toggle("stale", stale);
  n.el.classList.toggle("gone", d.state === "lost" || d.state === "left" || d.state === "preempted");
  n.el.classList.toggle("alarm", d.state === "lost" || stale);
  const inFlight = d.shots_in_flight || [];
  setText(p.shots, `${inFlight.length} shot${inFlight.length === 1 ? "" : "s"} in flight`);
  p.shots.dataset.count = inFlight.length;
  p.shots.title = inFlight.join("\n");
  const blocked = d.blocked_models || [];
  p.blocked.hidden = blocked.length === 0;
  setText(p.blocked, blocked.length ? "Blocklisted: " + blocked.join(", ") : "");
  n.el.classList.toggle("has-blocked", blocked.length > 0);
  const up = d.state === "ready" || d.state === "draining" || d.state === "joining";
  p.preempt.hidden = !d.spot;
  p.preempt.disabled = !up;
  p.drain.disabled = !(d.state === "ready" || d.state === "joining");
}

// New cards go at the end for now; layout() puts every node in order once the frame is applied.
function insertSorted(n) {
  $("nodes").append(n.el);
  layoutDirty = true;
}

// Puts the list in natural order of ids (by pool first when grouping), with a heading per pool.
// Runs only when nodes come or go or grouping changes: moving 200 elements once is cheap, but
// not every tick.
function layout() {
  layoutDirty = false;
  const group = $("f-group").checked;
  const list = [...nodes.values()].sort((a, b) =>
    (group ? natural.compare(a.data.pool || "", b.data.pool || "") : 0) || natural.compare(a.data.id, b.data.id));
  const frag = document.createDocumentFragment();
  let pool = null;
  for (const n of list) {
    if (group && n.data.pool !== pool) {
      pool = n.data.pool;
      let h = poolHeads.get(pool);
      if (!h) {
        h = el("h3", "pool-head");
        h.dataset.pool = pool;
        poolHeads.set(pool, h);
      }
      frag.append(h);
    }
    frag.append(n.el);
  }
  $("nodes").replaceChildren(frag);
  layoutFleet(list);
}

// ---- per-pool panels: queue, oldest wait against its objective, GPUs busy, reclaims, burn ----
function poolPanel(pool) {
  let p = poolPanels.get(pool);
  if (p) return p;
  const box = el("article", "pool-panel");
  box.dataset.pool = pool;
  const dl = el("dl");
  const dd = {};
  for (const [k, label] of [["queue", "Queued"], ["wait", "Oldest wait"], ["gpus", "GPUs busy"], ["reclaims", "Spot reclaims"], ["burn", "Burn"]]) {
    dd[k] = el("dd");
    dd[k].dataset.k = k;
    dl.append(el("dt", "", label), dd[k]);
  }
  const canvas = document.createElement("canvas");
  canvas.className = "pool-chart";
  canvas.width = 240; canvas.height = 28;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `${pool} utilization, last 15 minutes`);
  box.append(el("h3", "", pool), dl, canvas);
  p = { el: box, dd, canvas, util: [], lastAt: 0 };
  poolPanels.set(pool, p);
  return p;
}

function poolPanelsUpdate(f) {
  const c = f.cluster;
  const at = Date.parse(f.at) / 1000;
  if (f.type === "full") {
    objectives = f.objectives_s || objectives;
    const h = f.history;
    if (h) {
      utilInterval = h.interval_s;
      for (const [pool, pts] of Object.entries(h.pools || {})) {
        const p = poolPanel(pool);
        p.util = pts.map((x) => x[0]).slice(-POOL_POINTS);
        p.lastAt = at;
      }
    }
  }
  const stats = new Map(); // pool -> {busy, total, burn, utilSum, utilN}
  for (const n of nodes.values()) {
    const d = n.data;
    const s = stats.get(d.pool) || { busy: 0, total: 0, burn: 0, utilSum: 0, utilN: 0 };
    stats.set(d.pool, s);
    if (!["ready", "draining", "joining"].includes(d.state)) continue;
    const gpus = d.gpus || [];
    s.total += gpus.length;
    s.busy += gpus.filter((g) => g.busy).length;
    s.burn += d.price_per_hour || 0;
    for (const t of d.tel || []) if (t) { s.utilSum += t[0]; s.utilN += 1; }
  }
  const pools = new Set([...stats.keys(), ...Object.keys(c.queue_depth)]);
  const span = f.window.seconds >= 3540 ? "in the last hour" : `in the last ${Math.max(1, Math.round(f.window.seconds / 60))} min watched`;
  const box = $("pools");
  for (const pool of [...pools].sort(natural.compare)) {
    const p = poolPanel(pool);
    if (p.el.parentNode !== box) box.append(p.el);
    const s = stats.get(pool) || { busy: 0, total: 0, burn: 0, utilSum: 0, utilN: 0 };
    const q = c.queue_depth[pool] || {};
    setText(p.dd.queue, Object.entries(q).map(([prio, k]) => `${k} ${prio}`).join(" · ") || "none");
    const waits = Object.entries((c.queue_oldest_wait_s || {})[pool] || {});
    const over = waits.some(([prio, w]) => objectives[prio] && w > objectives[prio]);
    setText(p.dd.wait, waits.map(([prio, w]) => `${prio} ${Math.round(w)} s of ${objectives[prio] ? Math.round(objectives[prio]) + " s" : "?"}`).join(" · ") || "nothing waits");
    p.dd.wait.classList.toggle("over", over);
    setText(p.dd.gpus, `${s.busy} / ${s.total}`);
    p.dd.gpus.dataset.busy = s.busy;
    p.dd.gpus.dataset.total = s.total;
    const reclaims = ((f.window.preemptions_by_pool || {})[pool]) || 0;
    setText(p.dd.reclaims, `${reclaims} ${span}`);
    p.dd.reclaims.dataset.n = reclaims;
    setText(p.dd.burn, money(s.burn) + "/h");
    p.dd.burn.dataset.usd = s.burn.toFixed(2);
    // Live points join the server's at its interval, so the line keeps one time scale.
    if (s.utilN && at - p.lastAt >= utilInterval - 0.01) {
      p.util.push(s.utilSum / s.utilN);
      if (p.util.length > POOL_POINTS) p.util.shift();
      p.lastAt = at;
    }
    drawPool(p);
  }
  for (const [pool, p] of poolPanels) if (!pools.has(pool)) { p.el.remove(); poolPanels.delete(pool); }
}

function drawPool(p) {
  const cv = p.canvas;
  const ctx = cv.getContext("2d");
  ctx.clearRect(0, 0, cv.width, cv.height);
  cv.dataset.points = p.util.length;
  if (p.util.length < 2) return;
  ctx.strokeStyle = COLORS[0];
  ctx.beginPath();
  const dx = cv.width / (POOL_POINTS - 1);
  const x0 = cv.width - (p.util.length - 1) * dx;
  p.util.forEach((v, i) => {
    const x = x0 + i * dx, y = cv.height - 1 - Math.min(1, v / 100) * (cv.height - 2);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

// ---- fleet view: one cell per GPU, blocks by pool and capacity ----
function layoutFleet(list) {
  const sorted = [...list].sort((a, b) => natural.compare(a.data.pool || "", b.data.pool || "")
    || Number(a.data.spot) - Number(b.data.spot) || natural.compare(a.data.id, b.data.id));
  const used = new Set();
  const frag = document.createDocumentFragment();
  for (const n of sorted) {
    const key = `${n.data.pool}|${n.data.spot}`;
    let g = fleetGroups.get(key);
    if (!g) {
      const box = el("div", "fleet-group");
      box.dataset.pool = n.data.pool;
      box.dataset.spot = n.data.spot;
      const head = el("h3");
      const cells = el("div", "fleet-cells");
      box.append(head, cells);
      g = { box, head, cells, nodes: [] };
      fleetGroups.set(key, g);
    }
    if (!used.has(key)) { used.add(key); g.nodes = []; frag.append(g.box); }
    g.nodes.push(n);
  }
  for (const key of used) {
    const g = fleetGroups.get(key);
    g.cells.replaceChildren(...g.nodes.map((n) => n.fleet));
  }
  for (const key of [...fleetGroups.keys()]) if (!used.has(key)) fleetGroups.delete(key);
  $("fleet").replaceChildren(frag);
}

// Colours a node's cells by the chosen reading, in ten steps, touching only cells whose step
// changed: 1,600 cells a second stay cheap.
function paintFleet(n) {
  const d = n.data;
  const [, i, max] = METRICS.find(([k]) => k === fleetMetric);
  const queued = d.state === "ready" && queuedPools.has(d.pool);
  (d.tel || []).forEach((t, g) => {
    const c = n.cells[g];
    if (!c) return;
    const level = t ? String(Math.round(Math.min(1, Math.max(0, t[i] / (max === null ? t[2] || 1 : max))) * 10)) : "";
    if (c.dataset.level !== level) {
      c.dataset.level = level;
      c.style.backgroundColor = level === "" ? "" : `hsl(210 ${30 + 6 * level}% ${88 - 5.3 * level}%)`;
    }
    const idle = queued && !((d.gpus || [])[g] || {}).busy;
    if (idle !== c.hasAttribute("data-idle-queued")) c.toggleAttribute("data-idle-queued", idle);
  });
}

function fleetCounts() {
  let gpus = 0;
  for (const g of fleetGroups.values()) {
    let k = 0;
    let busy = 0;
    for (const n of g.nodes) { k += n.cells.length; busy += (n.data.gpus || []).filter((x) => x.busy).length; }
    gpus += k;
    const pool = g.box.dataset.pool;
    setText(g.head, `${pool} · ${g.box.dataset.spot === "true" ? "spot" : "on-demand"} · ${g.nodes.length} nodes · ${busy}/${k} GPUs busy`);
  }
  setText($("fleet-count"), `(${gpus} GPUs)`);
}

function fleetTip(cell) {
  const tip = $("fleet-tip");
  const box = cell && cell.closest(".fleet-node");
  const n = box && nodes.get(box.dataset.nodeId);
  if (!n) { tip.hidden = true; return; }
  const g = Number(cell.dataset.gpu || 0);
  const t = (n.data.tel || [])[g];
  const gpu = (n.data.gpus || [])[g] || {};
  const lines = [`${n.data.id} · GPU ${g} · ${n.data.state}${n.data.spot ? " · spot" : ""}`];
  lines.push(t ? `${t[0].toFixed(0)}% util · ${(t[1] / 1024).toFixed(1)}/${(t[2] / 1024).toFixed(0)} GiB · ${t[3].toFixed(0)} °C · ${t[4].toFixed(0)} W` : "no telemetry yet");
  lines.push(gpu.shot ? `shot ${gpu.shot}` : gpu.busy ? "busy" : "idle");
  tip.textContent = lines.join("\n");
  const r = cell.getBoundingClientRect();
  tip.style.left = `${Math.min(r.right + 8, innerWidth - 320)}px`;
  tip.style.top = `${r.bottom + 6}px`;
  tip.hidden = false;
}

// A click on a GPU opens its node in the list: filters that hide it are cleared.
function pickNode(id) {
  const n = nodes.get(id);
  if (!n) return;
  if (n.el.hidden) {
    for (const f of ["f-search", "f-pool", "f-capacity", "f-state", "f-model"]) $(f).value = "";
    readFilters();
  }
  for (const e of document.querySelectorAll(".picked")) e.classList.remove("picked");
  n.el.classList.add("picked");
  n.fleet.classList.add("picked");
  n.el.scrollIntoView({ block: "center" });
}

function passes(d) {
  const f = filters;
  if (f.search && !String(d.id).toLowerCase().includes(f.search)) return false;
  if (f.pool && d.pool !== f.pool) return false;
  if (f.capacity && (d.spot ? "spot" : "on-demand") !== f.capacity) return false;
  if (f.state && d.state !== f.state) return false;
  if (f.model && !(d.loaded_models || []).includes(f.model)) return false;
  return true;
}

function readFilters() {
  filters.search = $("f-search").value.trim().toLowerCase();
  filters.pool = $("f-pool").value;
  filters.capacity = $("f-capacity").value;
  filters.state = $("f-state").value;
  filters.model = $("f-model").value;
  for (const n of nodes.values()) n.el.hidden = !passes(n.data);
  refreshList();
}

// Keeps a select's options equal to `values` (after its first, "any" option), keeping the choice.
function setOptions(select, values) {
  const have = [...select.options].slice(1).map((o) => o.value);
  if (have.length === values.length && have.every((v, i) => v === values[i])) return;
  const chosen = select.value;
  select.replaceChildren(select.options[0], ...values.map((v) => el("option", "", v)));
  select.value = values.includes(chosen) ? chosen : "";
}

// Counts, pool headings, the filters' choices and the layout, after every frame or filter change.
function refreshList() {
  let shown = 0;
  const pools = new Map(); // pool -> [shown nodes, shown GPUs, nodes]
  const models = new Set();
  for (const n of nodes.values()) {
    const d = n.data;
    const p = pools.get(d.pool) || [0, 0, 0];
    p[2] += 1;
    if (!n.el.hidden) { shown += 1; p[0] += 1; p[1] += (d.gpus || []).length; }
    pools.set(d.pool, p);
    for (const m of d.loaded_models || []) models.add(m);
  }
  setText($("nodes-count"), shown === nodes.size ? `(${nodes.size})` : `(${shown} of ${nodes.size})`);
  $("nodes-none").hidden = shown > 0 || nodes.size === 0;
  for (const [pool, h] of poolHeads) {
    const [k, g, all] = pools.get(pool) || [0, 0, 0];
    setText(h, `${pool} · ${k} of ${all} nodes · ${g} GPUs`);
    h.hidden = k === 0;
  }
  fleetCounts();
  setOptions($("f-pool"), [...pools.keys()].sort(natural.compare));
  setOptions($("f-model"), [...models].sort(natural.compare));
  const view = $("f-view").value;
  const rows = view === "rows" || (view === "auto" && nodes.size > ROWS_PAST);
  $("nodes").dataset.view = rows ? "rows" : "cards";
}

function removeNode(id) {
  const n = nodes.get(id);
  if (!n) return;
  if (observer) observer.unobserve(n.el);
  n.el.remove();
  n.fleet.remove();
  nodes.delete(id);
  visible.delete(id);
  layoutDirty = true;
}

function draw() {
  for (const id of visible) {
    const n = nodes.get(id);
    if (!n || !n.dirty) continue;
    n.dirty = false;
    n.parts.canvases.forEach((c, m) => {
      const ctx = c.getContext("2d");
      ctx.clearRect(0, 0, c.width, c.height);
      // The points drawn, for tests and tools: the longest GPU line.
      c.dataset.points = Math.max(0, ...n.hist.map((g) => (g && g[m] ? g[m].length : 0)));
      n.hist.forEach((g, gi) => {
        const h = g && g[m];
        if (!h || h.length < 2) return;
        ctx.strokeStyle = COLORS[gi % COLORS.length];
        ctx.lineWidth = 1;
        ctx.beginPath();
        const dx = c.width / (HISTORY - 1);
        const x0 = c.width - (h.length - 1) * dx;
        h.forEach((v, i) => {
          const x = x0 + i * dx, y = c.height - 1 - v * (c.height - 2);
          if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
        });
        ctx.stroke();
      });
    });
  }
}

// ---- queue ----
const REASONS = {
  no_fitting_node: "no fitting node",
  pinned_to_on_demand: "pinned to on-demand",
  model_blocklisted: "model blocklisted everywhere",
  waiting_for_capacity: "waiting for capacity",
};
function waiting(w) {
  const body = $("queue");
  const keep = new Set();
  for (const c of w.classes) {
    const key = [c.pool, c.priority, c.model, c.on_demand_only].join("|");
    keep.add(key);
    let row = queueRows.get(key);
    if (!row) {
      row = el("tr");
      for (let i = 0; i < 5; i++) row.append(el("td"));
      queueRows.set(key, row);
      body.append(row);
    }
    const td = row.children;
    setText(td[0], c.pool);
    setText(td[1], c.priority);
    setText(td[2], c.model + (c.on_demand_only ? " (on-demand only)" : ""));
    setText(td[3], String(c.shots));
    setText(td[4], REASONS[c.reason] || c.reason);
    td[4].title = c.detail;
    row.dataset.reason = c.reason;
  }
  for (const [key, row] of queueRows) if (!keep.has(key)) { row.remove(); queueRows.delete(key); }
  $("queue-empty").hidden = w.classes.length > 0;
}

// ---- videos ----
function videos(list) {
  const box = $("videos");
  const keep = new Set();
  list.forEach((v, i) => {
    keep.add(v.id);
    let row = videoRows.get(v.id);
    if (!row) {
      const li = el("li", "video");
      li.dataset.videoId = v.id;
      const a = el("a", "video-link");
      const meta = el("span", "muted video-meta");
      const state = el("span", "badge vstate");
      const strip = el("span", "strip");
      const cancel = el("button", "danger small", "Cancel");
      cancel.type = "button";
      cancel.dataset.action = "cancel";
      cancel.onclick = () => confirmAct(`Cancel video ${v.id}? Every unfinished shot stops.`,
        `/api/v1/videos/${encodeURIComponent(v.id)}/cancel`, `${v.id} cancelled`);
      li.append(a, state, meta, strip, cancel);
      row = { li, a, meta, state, strip, cancel };
      videoRows.set(v.id, row);
    }
    if (box.children[i] !== row.li) box.insertBefore(row.li, box.children[i] || null);
    row.a.href = `/videos/${encodeURIComponent(v.id)}?token=${encodeURIComponent(token)}`;
    row.a.target = "_blank";
    row.a.rel = "noopener";
    setText(row.a, v.title || v.id);
    setText(row.state, v.state);
    row.state.dataset.state = v.state;
    row.li.dataset.state = v.state;
    setText(row.meta, `${v.owner} · ${v.priority} · ${v.shots_done}/${v.shots.length} shots done`);
    while (row.strip.children.length < v.shots.length) row.strip.append(el("i"));
    v.shots.forEach(([s, attempt], k) => {
      const cell = row.strip.children[k];
      if (cell.dataset.state !== s) cell.dataset.state = s;
      cell.title = `shot ${k}: ${s}, attempt ${attempt}`;
    });
    row.cancel.disabled = ["completed", "failed", "cancelled"].includes(v.state);
  });
  for (const [id, row] of videoRows) if (!keep.has(id)) { row.li.remove(); videoRows.delete(id); }
}

// ---- autoscaler timeline: its last decisions, newest first (GET /api/v1/autoscaler) ----
const SCALER_SHOWN = 20;
const SCALER_EVERY_MS = 5000; // decisions come every autoscaler period at most: no need per frame
let scalerTimer = null;
async function pollAutoscaler() {
  clearTimeout(scalerTimer);
  if (!token) return;
  try {
    const resp = await fetch("/api/v1/autoscaler", { headers: { Authorization: "Bearer " + token } });
    if (resp.ok) scaler(await resp.json());
  } catch (_) { /* offline: the stream's state says so; try again later */ }
  scalerTimer = setTimeout(pollAutoscaler, SCALER_EVERY_MS);
}

function scaler(s) {
  const list = $("scaler");
  const shown = (s.decisions || []).slice(0, SCALER_SHOWN);
  list.replaceChildren(...shown.map((d) => {
    const li = el("li");
    const a = d.action;
    li.dataset.action = a ? a.action : "budget";
    li.dataset.pool = d.pool;
    li.dataset.at = d.at;
    li.classList.toggle("failed", /^failed/.test(d.outcome));
    const t = el("time", "", new Date(d.at).toLocaleTimeString());
    t.dateTime = d.at;
    const what = !a ? `${d.pool}: budget ${d.budget}`
      : a.action === "add" ? `${d.pool}: +${a.nodes} ${a.kind === "spot" ? "spot" : "on-demand"}`
      : `${d.pool}: release ${a.node}`;
    li.append(t, el("span", "what", what), document.createTextNode(" · " + d.reason + " · "), el("span", "outcome", d.outcome));
    return li;
  }));
  setText($("scaler-empty"), s.enabled ? "No decisions yet." : "The autoscaler is off.");
  $("scaler-empty").hidden = shown.length > 0;
}

// ---- actions ----
function confirmAct(text, path, done) {
  const dlg = $("confirm");
  setText($("confirm-text"), text);
  dlg.returnValue = "";
  dlg.onclose = async () => {
    if (dlg.returnValue !== "ok") return;
    try {
      const resp = await fetch(path, {
        method: "POST",
        headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
        body: "{}",
      });
      if (resp.ok) toast(done);
      else {
        let detail = resp.statusText;
        try { detail = (await resp.json()).detail || detail; } catch (_) { /* not JSON */ }
        toast(`Refused (${resp.status}): ${detail}`, true);
      }
    } catch (e) {
      toast("The request failed: " + e.message, true);
    }
  };
  dlg.showModal();
}

let toastTimer = null;
function toast(text, bad) {
  const t = $("toast");
  t.textContent = text;
  t.classList.toggle("bad", !!bad);
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

// ---- start ----
$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  signIn($("token").value.trim());
});
$("logout").addEventListener("click", signOut);
$("f-search").addEventListener("input", readFilters);
for (const id of ["f-pool", "f-capacity", "f-state", "f-model", "f-view"]) $(id).addEventListener("change", readFilters);
$("fleet").addEventListener("mouseover", (e) => fleetTip(e.target.closest(".gpu-cell")));
$("fleet").addEventListener("mouseleave", () => { $("fleet-tip").hidden = true; });
$("fleet").addEventListener("click", (e) => {
  const box = e.target.closest(".fleet-node");
  if (box) pickNode(box.dataset.nodeId);
});
$("fleet-metric").addEventListener("change", () => {
  fleetMetric = $("fleet-metric").value;
  setText($("fleet-scale-text"), { util: "0–100 %", mem: "0–100 % of memory", temp: "0–100 °C", power: "0–500 W" }[fleetMetric]);
  for (const n of nodes.values()) paintFleet(n);
});
$("f-group").addEventListener("change", () => { layout(); refreshList(); });
(function start() {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get("token");
  if (fromUrl) {
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search);
  }
  const saved = fromUrl || localStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
})();
