// shotfarm's operator dashboard at fleet size, after dashboard.js (whose globals it shares): the
// per-pool panels, the fleet view of one cell per GPU, and the autoscaler's timeline. dashboard.js
// calls poolPanelsUpdate, poolStagesChanged, layoutFleet, paintFleet, fleetCounts and
// pollAutoscaler; the first frame comes after this script has run (sign-in awaits a fetch first).
"use strict";

const fleetGroups = new Map(); // "pool|spot" -> {box, head, cells}, the fleet view's blocks
let fleetMetric = "util"; // what the fleet's cells are coloured by (a METRICS key)
let queuedPools = new Set(); // pools with shots waiting: their idle GPUs are marked
const poolPanels = new Map(); // pool -> {el, dd: {k: element}, canvas, util: [%...], lastAt}
let objectives = {}; // priority -> latency objective, seconds (full frames)
let utilInterval = 1; // seconds between points of a pool's utilization line
const POOL_POINTS = 900; // 15 minutes at one a second
let poolWaiting = { pools: {}, classes: [] }; // the latest waiting view (frames carry it when it changes)
let stagesDirty = true; // the waiting view changed: every panel's stage list is rewritten once
// The order a story video runs its stages: each panel lists them so.
const STAGE_ORDER = ["script", "reference", "shot", "stitch"];

// States in which a node's GPUs count toward its pool's capacity and busy GPUs.
const LIVE_STATES = ["ready", "draining", "joining"];

// ---- per-pool panels: queue, oldest wait against its objective, GPUs busy and utilization,
// reclaims, burn, and what waits by stage and why ----
function poolPanel(pool) {
  let p = poolPanels.get(pool);
  if (p) return p;
  const box = el("article", "pool-panel");
  box.dataset.pool = pool;
  const dl = el("dl");
  const dd = {};
  for (const [k, label] of [["queue", "Queued"], ["wait", "Oldest wait"], ["gpus", "GPUs busy"], ["util", "Utilization"], ["reclaims", "Spot reclaims"], ["burn", "Burn"]]) {
    dd[k] = el("dd");
    dd[k].dataset.k = k;
    dl.append(el("dt", "", label), dd[k]);
  }
  const canvas = document.createElement("canvas");
  canvas.className = "pool-chart";
  canvas.width = 240; canvas.height = 28;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `${pool} utilization, last 15 minutes`);
  const stages = el("ul", "pool-stages");
  stages.setAttribute("aria-label", `${pool}: waiting by stage`);
  box.append(el("h3", "", pool), dl, stages, canvas);
  p = { el: box, dd, canvas, stages, stageRows: new Map(), util: [], lastAt: 0 };
  poolStages(pool, p);
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
    if (!LIVE_STATES.includes(d.state)) continue;
    const gpus = d.gpus || [];
    s.total += gpus.length;
    s.busy += gpus.filter((g) => g.busy).length;
    s.burn += d.price_per_hour || 0;
    for (const t of d.tel || []) if (t) { s.utilSum += t[0]; s.utilN += 1; }
  }
  // A pool whose jobs wait shows even with no node up (its only node drained, say).
  const pools = new Set([...stats.keys(), ...Object.keys(c.queue_depth), ...Object.keys(poolWaiting.pools || {})]);
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
    const util = s.utilN ? Math.round(s.utilSum / s.utilN) : null;
    setText(p.dd.util, util === null ? "no telemetry" : `${util} % mean of ${s.utilN} GPU${s.utilN === 1 ? "" : "s"}`);
    p.dd.util.dataset.pct = util === null ? "" : util;
    if (stagesDirty) poolStages(pool, p);
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
  stagesDirty = false;
}

// The waiting view changed (dashboard.js's waiting()): the panels' stage lists follow at the next
// poolPanelsUpdate, in the same frame. Between changes nothing in them is touched.
function poolStagesChanged(w) {
  poolWaiting = w;
  stagesDirty = true;
}

// One line per stage with work waiting in `pool`: how many are queued and why no node takes them,
// and how many are not ready yet, blocked on an earlier stage of their videos. Keyed rows, text
// set only when it changes; the reasons' details (the classes') on hover.
function poolStages(pool, p) {
  const stages = ((poolWaiting.pools || {})[pool] || {}).stages || {};
  const names = Object.keys(stages).sort((a, b) => STAGE_ORDER.indexOf(a) - STAGE_ORDER.indexOf(b));
  const details = new Map(); // stage -> the classes' details
  for (const c of poolWaiting.classes || []) {
    if (c.pool !== pool) continue;
    const d = details.get(c.stage) || new Set();
    d.add(c.detail);
    details.set(c.stage, d);
  }
  const keep = new Set();
  for (const name of names) {
    const s = stages[name];
    keep.add(name);
    let li = p.stageRows.get(name);
    if (!li) {
      li = el("li");
      li.dataset.stage = name;
      p.stageRows.set(name, li);
    }
    const parts = [];
    if (s.queued) {
      const reasons = Object.entries(s.reasons || {});
      parts.push(reasons.length === 1 ? `${s.queued} queued, ${REASONS[reasons[0][0]] || reasons[0][0]}`
        : `${s.queued} queued: ${reasons.map(([r, k]) => `${k} ${REASONS[r] || r}`).join(", ")}`);
    }
    for (const [on, k] of Object.entries(s.blocked_on || {})) parts.push(`${k} blocked on ${on}`);
    setText(li, `${name}: ${parts.join(" · ")}`);
    li.dataset.queued = s.queued;
    li.dataset.blocked = s.blocked;
    li.dataset.reasons = Object.keys(s.reasons || {}).join(" ");
    li.title = [...(details.get(name) || [])].join("\n");
  }
  for (const [name, li] of p.stageRows) if (!keep.has(name)) { li.remove(); p.stageRows.delete(name); }
  const rows = names.map((n) => p.stageRows.get(n));
  if (!rows.length) rows.push(p.stagesNone || (p.stagesNone = el("li", "muted", "nothing waiting")));
  // Reordered only when the set of stages changed.
  if (rows.length !== p.stages.children.length || rows.some((r, i) => p.stages.children[i] !== r)) p.stages.replaceChildren(...rows);
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
    for (const n of g.nodes) {
      k += n.cells.length;
      // A node gone (left, lost, preempted) keeps its last GPU readings; they are not work now.
      if (LIVE_STATES.includes(n.data.state)) busy += (n.data.gpus || []).filter((x) => x.busy).length;
    }
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
  const stuck = gpu.shot && (n.data.stuck_shots || []).find((s) => s.shot === gpu.shot);
  lines.push(gpu.shot ? `shot ${gpu.shot}${stuck ? `, stuck at step ${stuck.step}` : ""}` : gpu.busy ? "busy" : "idle");
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
    $("f-stuck").checked = false;
    readFilters();
  }
  for (const e of document.querySelectorAll(".picked")) e.classList.remove("picked");
  n.el.classList.add("picked");
  n.fleet.classList.add("picked");
  n.el.scrollIntoView({ block: "center" });
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

// ---- start ----
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
