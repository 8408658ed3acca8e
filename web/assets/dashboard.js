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
const poolHeads = new Map(); // pool -> heading element, when grouping by pool
// What the node list shows: read from the toolbar by readFilters().
const filters = { search: "", pool: "", capacity: "", state: "", model: "", stuck: false };
let frameAt = 0; // the latest frame's server time, ms: how long a stuck shot has stalled
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
  frameAt = Date.parse(f.at);
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
  const stuck = el("span", "badge stuck");
  stuck.hidden = true;
  // A dedicated node: it runs only its tenants' work (reserved_for), shown beside its kind.
  const reserved = el("span", "badge reserved");
  reserved.hidden = true;
  badges.append(state, kind, reserved, sim, stuck);
  head.append(name, badges);
  const meta = el("p", "node-meta muted");
  const facts = el("p", "node-facts");
  const hb = el("span", "hb");
  const shots = el("span", "shots-n");
  const telText = el("span", "tel-text");
  facts.append(hb, shots, telText);
  // A node that batches (slots_per_gpu > 1): each GPU's jobs out of its slots.
  const slots = el("p", "slots muted");
  slots.hidden = true;
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
  card.append(head, meta, facts, slots, blocked, charts, actions);
  const fleet = el("span", "fleet-node");
  fleet.dataset.nodeId = id;
  return { el: card, fleet, cells: [], parts: { state, kind, reserved, sim, stuck, meta, hb, shots, telText, slots, blocked, canvases, preempt, drain } };
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
    // The points its charts start with from the server's history, for tests and tools (what is
    // drawn, and when, is the browser's business: data-points on each chart).
    n.el.dataset.seeded = String(Math.max(0, ...hist.flatMap((g) => (g || []).map((h) => h.length))));
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
  // A dedicated node says whose it is: it runs only those tenants' work.
  const reserved = d.reserved_for || [];
  p.reserved.hidden = reserved.length === 0;
  setText(p.reserved, reserved.length ? `reserved: ${reserved.join(", ")}` : "");
  p.reserved.title = reserved.length
    ? `Runs only the work of ${reserved.join(", ")} (their tokens' org); theirs overflows to shared nodes when it is full`
    : "";
  n.el.dataset.reserved = reserved.join(",");
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
  // Shared GPUs: how many of its slots each one's jobs take, and which jobs, on hover.
  const shared = (d.gpus || []).filter((g) => (g.slots || 1) > 1);
  p.slots.hidden = shared.length === 0;
  const counts = shared.map((g) => `${(g.jobs || []).length}/${g.slots}`).join(",");
  if (p.slots.dataset.jobs !== counts) {
    p.slots.dataset.jobs = counts;
    setText(p.slots, shared.map((g) => `GPU${g.index} ${(g.jobs || []).length}/${g.slots} slots busy`).join(" · "));
    p.slots.title = shared.map((g) => `GPU${g.index}: ${(g.jobs || []).join(", ") || "no jobs"}`).join("\n");
  }
  const blocked = d.blocked_models || [];
  p.blocked.hidden = blocked.length === 0;
  setText(p.blocked, blocked.length ? "Blocklisted: " + blocked.join(", ") : "");
  n.el.classList.toggle("has-blocked", blocked.length > 0);
  stuckMark(n);
  const up = d.state === "ready" || d.state === "draining" || d.state === "joining";
  p.preempt.hidden = !d.spot;
  p.preempt.disabled = !up;
  p.drain.disabled = !(d.state === "ready" || d.state === "joining");
}

// The stuck mark: the shots the server shows stuck on this node (no progress for several of
// their expected step times; its job decides, see docs/API.md), on the card or row and on the
// node's fleet block, with each shot's step and how long it has stalled on hover.
function stuckMark(n) {
  const stuck = n.data.stuck_shots || [];
  const b = n.parts.stuck;
  // Touched only when the count changes: 200 nodes a second must not restyle for nothing.
  if (n.el.dataset.stuck !== String(stuck.length)) {
    b.hidden = stuck.length === 0;
    n.el.classList.toggle("has-stuck", stuck.length > 0);
    n.fleet.classList.toggle("has-stuck", stuck.length > 0);
    n.el.dataset.stuck = stuck.length;
    setText(b, stuck.length === 1 ? "stuck shot" : `${stuck.length} stuck shots`);
  }
  if (!stuck.length) return;
  b.title = stuck.map((s) => {
    const stalled = Math.max(0, Math.round((frameAt - Date.parse(s.since)) / 1000));
    return `${s.shot} (attempt ${s.attempt}): no progress past step ${s.step} for ${stalled} s`;
  }).join("\n");
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

function passes(d) {
  const f = filters;
  if (f.search && !String(d.id).toLowerCase().includes(f.search)) return false;
  if (f.pool && d.pool !== f.pool) return false;
  if (f.capacity && (d.spot ? "spot" : "on-demand") !== f.capacity) return false;
  if (f.state && d.state !== f.state) return false;
  if (f.model && !(d.loaded_models || []).includes(f.model)) return false;
  if (f.stuck && !(d.stuck_shots || []).length) return false;
  return true;
}

function readFilters() {
  filters.search = $("f-search").value.trim().toLowerCase();
  filters.pool = $("f-pool").value;
  filters.capacity = $("f-capacity").value;
  filters.state = $("f-state").value;
  filters.model = $("f-model").value;
  filters.stuck = $("f-stuck").checked;
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
  let stuckNodes = 0;
  for (const n of nodes.values()) {
    const d = n.data;
    if ((d.stuck_shots || []).length) stuckNodes += 1;
    const p = pools.get(d.pool) || [0, 0, 0];
    p[2] += 1;
    if (!n.el.hidden) { shown += 1; p[0] += 1; p[1] += (d.gpus || []).length; }
    pools.set(d.pool, p);
    for (const m of d.loaded_models || []) models.add(m);
  }
  setText($("nodes-count"), shown === nodes.size ? `(${nodes.size})` : `(${shown} of ${nodes.size})`);
  $("nodes-none").hidden = shown > 0 || nodes.size === 0;
  setText($("f-stuck-n"), `(${stuckNodes})`);
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
  pool_held: "pool held by an operator",
  user_held: "user held by an operator",
  reserved_for_others: "nodes reserved for other tenants",
};
// One row per waiting class (pool, stage, priority, model, pinning) and per pool and stage of
// story jobs not ready yet (blocked on an earlier stage: not in the queue).
function waiting(w) {
  const body = $("queue");
  const keep = new Set();
  const row = (key) => {
    keep.add(key);
    let r = queueRows.get(key);
    if (!r) {
      r = el("tr");
      for (let i = 0; i < 6; i++) r.append(el("td"));
      queueRows.set(key, r);
      body.append(r);
    }
    return r;
  };
  for (const c of w.classes) {
    const r = row([c.pool, c.stage, c.priority, c.model, c.on_demand_only, c.owner || "", c.tenant || ""].join("|"));
    const td = r.children;
    setText(td[0], c.pool);
    setText(td[1], c.stage || "shot");
    setText(td[2], c.priority);
    setText(td[3], c.model + (c.on_demand_only ? " (on-demand only)" : "") + (c.tenant ? ` · org ${c.tenant}` : ""));
    r.dataset.tenant = c.tenant || "";
    setText(td[4], String(c.shots));
    setText(td[5], (REASONS[c.reason] || c.reason) + (c.owner ? ` (${c.owner})` : ""));
    td[5].title = c.detail;
    r.dataset.stage = c.stage || "shot";
    r.dataset.reason = c.reason;
  }
  for (const [pool, p] of Object.entries(w.pools || {})) {
    for (const [stage, s] of Object.entries(p.stages || {})) {
      for (const [on, k] of Object.entries(s.blocked_on || {})) {
        const r = row(["blocked", pool, stage, on].join("|"));
        const td = r.children;
        setText(td[0], pool);
        setText(td[1], stage);
        setText(td[2], "–");
        setText(td[3], "–");
        setText(td[4], String(k));
        setText(td[5], `blocked on ${on}`);
        td[5].title = `not ready: its video's ${on} has not completed, so it is not queued yet`;
        r.dataset.stage = stage;
        r.dataset.reason = "blocked";
      }
    }
  }
  for (const [key, r] of queueRows) if (!keep.has(key)) { r.remove(); queueRows.delete(key); }
  $("queue-empty").hidden = keep.size > 0;
  if (w.holds) holds(w.holds);
  poolStagesChanged(w);
}

// ---- holds ----
// One row per hold (pool or user) with who, why and since when, and a release behind the
// confirmation dialog; the form below holds a pool or a user, confirmed the same way.
function holds(h) {
  const list = $("holds");
  const rows = [];
  for (const [name, hold] of Object.entries(h.pools || {})) rows.push(["pools", "pool", name, hold]);
  for (const [name, hold] of Object.entries(h.users || {})) rows.push(["users", "user", name, hold]);
  list.replaceChildren(...rows.map(([path, kind, name, hold]) => {
    const li = el("li");
    li.dataset.kind = kind;
    li.dataset.name = name;
    const release = el("button", "small", "Release");
    release.type = "button";
    release.dataset.action = "release";
    release.onclick = () => confirmAct(
      `Release ${kind} ${name}? Its queued work is placed again.`,
      `/api/v1/${path}/${encodeURIComponent(name)}/release`, `${kind} ${name} released`);
    li.append(el("span", "hold-what", `${kind} ${name}`),
      el("span", "hold-why", hold.reason),
      el("span", "muted", `${hold.by} · ${new Date(hold.at).toLocaleString()}`), release);
    return li;
  }));
  $("holds-empty").hidden = rows.length > 0;
}

$("hold-form").onsubmit = (e) => {
  e.preventDefault();
  const path = $("hold-kind").value;
  const kind = path === "pools" ? "pool" : "user";
  const name = $("hold-name").value.trim();
  const reason = $("hold-reason").value.trim();
  if (!name || !reason) return;
  confirmAct(
    `Hold ${kind} ${name}? ${kind === "pool" ? "Nothing new is placed on it" : "None of their queued work is placed"} until released; running work finishes.`,
    `/api/v1/${path}/${encodeURIComponent(name)}/hold`, `${kind} ${name} held`,
    JSON.stringify({ reason }));
};

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

// ---- actions ----
function confirmAct(text, path, done, body = "{}") {
  const dlg = $("confirm");
  setText($("confirm-text"), text);
  dlg.returnValue = "";
  dlg.onclose = async () => {
    if (dlg.returnValue !== "ok") return;
    try {
      const resp = await fetch(path, {
        method: "POST",
        headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
        body,
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
for (const id of ["f-pool", "f-capacity", "f-state", "f-model", "f-stuck", "f-view"]) $(id).addEventListener("change", readFilters);
$("f-group").addEventListener("change", () => { layout(); refreshList(); });
// After every deferred script (dashboard-fleet.js too) has run: frames need all of them.
document.addEventListener("DOMContentLoaded", function start() {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get("token");
  if (fromUrl) {
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search);
  }
  const saved = fromUrl || localStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
});
