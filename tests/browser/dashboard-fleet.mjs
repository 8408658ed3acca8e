// Drives the operator dashboard (/) at fleet size in Debian's headless Chromium: a server of many
// nodes in two pools, spot and on-demand. Checks the node list's natural order, its compact rows,
// each filter (pool, capacity, state, model loaded, has a stuck shot: exactly the node the test
// hung a shot on, marked, and every node again once the filter is off), the search on node ids
// and grouping by pool;
// then the fleet view: a cell per GPU in blocks by pool and capacity, the colour switch, hover,
// click-to-open, and a preempted node's cells changing state within two telemetry periods; then
// the per-pool panels (GPUs and burn of the nodes up, reclaims, a utilization line from the first
// frame); last, recorded and not asserted, the page's main-thread busy share, long tasks and the
// stream's bytes per second over ten frames (BENCHMARKS.md).
// Prints one JSON line of findings; exits non-zero on any failure. Run by tests/it/dashboard_fleet.rs.
import { drive } from './harness.mjs';
import { measure } from './perf.mjs';

const base = process.env.SHOTFARM_BASE;
const opsToken = process.env.SHOTFARM_OPERATOR_TOKEN;
const preemptId = process.env.SHOTFARM_PREEMPTED;
// The node and shot the test hung (the timing model's injected hang): the truth the "has a stuck
// shot" filter is checked against, from the video's own record, not from the node view.
const stuckNode = process.env.SHOTFARM_STUCK_NODE;
const stuckShot = process.env.SHOTFARM_STUCK_SHOT;
const shotsDir = process.env.SHOTFARM_SCREENSHOTS;
const natural = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });


// What the REST API says about every node: the truth the page is checked against.
async function apiNodes() {
  const r = await fetch(`${base}/api/v1/nodes`, { headers: { Authorization: `Bearer ${opsToken}` } });
  if (!r.ok) throw new Error(`GET /api/v1/nodes: ${r.status}`);
  return (await r.json()).nodes;
}
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

await drive({ width: 1440, height: 900 }, async ({ context, page, findings }) => {
  const all = await apiNodes();
  const ids = all.map((n) => n.id).sort(natural.compare);
  findings.nodes = ids.length;
  findings.gpus = all.reduce((k, n) => k + n.gpus.length, 0);

  await page.goto(`${base}/?token=${encodeURIComponent(opsToken)}`);
  await page.waitForFunction((n) => document.querySelectorAll('.node').length === n, ids.length, { timeout: 30000 });

  // The ids of the nodes the list shows, in the order it shows them.
  const shown = () => page.$$eval('#nodes .node:not([hidden])', (els) => els.map((e) => e.dataset.nodeId));
  const waitShown = async (want, what) => {
    try {
      await page.waitForFunction((w) => {
        const got = [...document.querySelectorAll('#nodes .node:not([hidden])')].map((e) => e.dataset.nodeId);
        return got.length === w.length && got.every((x, i) => x === w[i]);
      }, want, { timeout: 10000 });
    } catch (e) {
      throw new Error(`${what}: wanted ${want.length} nodes [${want.slice(0, 8)}...], shown [${(await shown()).slice(0, 8)}...]`);
    }
  };

  // Natural order: video-od-2 before video-od-10, and the whole list in natural order of ids.
  await waitShown(ids, 'natural order');
  const order = await shown();
  if (!(order.indexOf('video-od-2') < order.indexOf('video-od-10'))) throw new Error('video-od-2 is not before video-od-10');
  findings.natural_order = true;

  // Hundreds of nodes: one compact row each, not cards.
  findings.view = await page.$eval('#nodes', (e) => e.dataset.view);
  if (findings.view !== 'rows') throw new Error(`view ${findings.view} at ${ids.length} nodes`);
  findings.row_height_px = await page.$$eval('#nodes .node', (els) => Math.max(...els.map((e) => e.getBoundingClientRect().height)));
  if (findings.row_height_px > 40) throw new Error(`a row is ${findings.row_height_px} px tall`);

  // Each filter alone, against the REST API's view of the same nodes.
  const filter = async (sel, value, pred, what) => {
    await page.selectOption(sel, value);
    const now = await apiNodes();
    const want = now.filter(pred).map((n) => n.id).sort(natural.compare);
    if (want.length === 0 || want.length === now.length) throw new Error(`${what}: a filter that keeps ${want.length} of ${now.length} proves nothing`);
    await waitShown(want, what);
    await page.selectOption(sel, '');
    await waitShown(now.map((n) => n.id).sort(natural.compare), `${what} cleared`);
    return want.length;
  };
  findings.pool_image = await filter('#f-pool', 'image', (n) => n.pool === 'image', 'pool image');
  findings.capacity_spot = await filter('#f-capacity', 'spot', (n) => n.spot, 'capacity spot');
  findings.capacity_on_demand = await filter('#f-capacity', 'on-demand', (n) => !n.spot, 'capacity on-demand');
  await page.waitForFunction((id) => document.querySelector(`.node[data-node-id="${id}"]`)?.dataset.state !== 'ready',
    preemptId, { timeout: 10000 });
  const victimState = await page.$eval(`.node[data-node-id="${preemptId}"]`, (e) => e.dataset.state);
  findings.state_victim = await filter('#f-state', victimState, (n) => n.state === victimState, `state ${victimState}`);
  findings.state_ready = await filter('#f-state', 'ready', (n) => n.state === 'ready', 'state ready');
  await page.waitForFunction(() => [...document.querySelectorAll('#f-model option')].some((o) => o.value === 'cogvideox-5b'));
  findings.model_loaded = await filter('#f-model', 'cogvideox-5b', (n) => n.loaded_models.includes('cogvideox-5b'), 'model loaded');

  // "Has a stuck shot": the node the hung shot is on, and no other, marked in the list and in
  // the fleet view; with the filter off, every node again.
  await page.check('#f-stuck');
  await waitShown([stuckNode], 'has a stuck shot');
  findings.stuck_filter = await shown();
  const badge = await page.$eval(`#nodes .node[data-node-id="${stuckNode}"] .badge.stuck`,
    (b) => ({ hidden: b.hidden, text: b.textContent, title: b.title }));
  if (badge.hidden || !badge.title.includes(stuckShot)) throw new Error(`${stuckNode}'s stuck mark: ${JSON.stringify(badge)}`);
  findings.stuck_mark = badge.title;
  findings.stuck_marked = await page.$$eval('.has-stuck', (els) => els.map((e) => `${e.classList.contains('fleet-node') ? 'fleet' : 'list'}:${e.dataset.nodeId}`).sort());
  if (!same(findings.stuck_marked, [`fleet:${stuckNode}`, `list:${stuckNode}`])) throw new Error(`stuck marks on ${findings.stuck_marked}`);
  await page.uncheck('#f-stuck');
  const everyNode = (await apiNodes()).map((n) => n.id).sort(natural.compare);
  await waitShown(everyNode, 'has a stuck shot off');
  findings.stuck_off = everyNode.length;

  // Search on node ids: a substring, case-insensitive.
  await page.fill('#f-search', 'OD-1');
  const present = (await apiNodes()).map((n) => n.id).sort(natural.compare);
  const found = present.filter((id) => id.includes('od-1'));
  await waitShown(found, 'search od-1');
  findings.search_od_1 = found.length;
  await page.fill('#f-search', 'image-spot-7');
  await waitShown(['image-spot-7'], 'search image-spot-7');
  await page.fill('#f-search', '');
  await waitShown(present, 'search cleared');

  // Grouping by pool: a heading per pool, each followed by that pool's nodes in natural order.
  await page.check('#f-group');
  const grouped = await page.$$eval('#nodes > *', (els) => els.map((e) => (e.classList.contains('pool-head') ? `#${e.dataset.pool}` : `${e.dataset.pool}/${e.dataset.nodeId}`)));
  const heads = grouped.filter((x) => x.startsWith('#'));
  if (!same(heads, ['#image', '#video'])) throw new Error(`pool headings ${heads}`);
  let pool = null;
  for (const x of grouped) {
    if (x.startsWith('#')) pool = x.slice(1);
    else if (!x.startsWith(`${pool}/`)) throw new Error(`${x} under pool ${pool}`);
  }
  const groupedIds = grouped.filter((x) => !x.startsWith('#')).map((x) => x.split('/')[1]);
  const byPool = [...present].sort((a, b) => natural.compare(a.split('-')[0], b.split('-')[0]) || natural.compare(a, b));
  if (!same(groupedIds, byPool)) throw new Error('grouped nodes are not in natural order within their pools');
  findings.grouped = heads;

  // ---- the fleet view: one cell per GPU ----
  const gpuNow = (await apiNodes()).reduce((k, n) => k + n.gpus.length, 0);
  await page.waitForFunction((k) => document.querySelectorAll('#fleet .gpu-cell').length === k, gpuNow, { timeout: 10000 });
  findings.fleet_cells = gpuNow;
  findings.fleet_px = await page.$eval('#fleet', (e) => { const r = e.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; });
  if (findings.fleet_px[0] > 1440 || findings.fleet_px[1] > 600) throw new Error(`the fleet view takes ${findings.fleet_px} px`);
  findings.fleet_groups = await page.$$eval('#fleet .fleet-group', (els) => els.map((e) => `${e.dataset.pool}/${e.dataset.spot === 'true' ? 'spot' : 'on-demand'}`));
  if (!same(findings.fleet_groups, ['image/on-demand', 'image/spot', 'video/on-demand', 'video/spot'])) throw new Error(`fleet groups ${findings.fleet_groups}`);
  // Every cell in its own pool and capacity's block.
  const misplaced = await page.$$eval('#fleet .fleet-node', (els) => els.filter((e) => {
    const g = e.closest('.fleet-group');
    return !e.dataset.nodeId.startsWith(`${g.dataset.pool}-${g.dataset.spot === 'true' ? 'spot' : 'od'}-`);
  }).length);
  if (misplaced) throw new Error(`${misplaced} nodes in another block`);

  // The colour switch recolours cells by another reading.
  const levels = () => page.$$eval('#fleet .gpu-cell', (els) => els.map((e) => e.dataset.level).join(','));
  const byUtil = await levels();
  await page.selectOption('#fleet-metric', 'power');
  findings.metric_switch = (await levels()) !== byUtil;
  if (!findings.metric_switch) throw new Error('switching to power changed no cell');
  await page.selectOption('#fleet-metric', 'util');

  // Hover: the GPU's readings; click: its node, opened in the list even when filtered out.
  await page.hover('#fleet .fleet-node[data-node-id="video-od-2"] .gpu-cell[data-gpu="3"]');
  await page.waitForFunction(() => {
    const t = document.getElementById('fleet-tip');
    return !t.hidden && /video-od-2 · GPU 3/.test(t.textContent) && /% util/.test(t.textContent);
  });
  findings.hover = await page.textContent('#fleet-tip');
  await page.selectOption('#f-pool', 'image');
  await page.click('#fleet .fleet-node[data-node-id="video-od-2"] .gpu-cell[data-gpu="0"]');
  await page.waitForFunction(() => {
    const n = document.querySelector('#nodes .node[data-node-id="video-od-2"]');
    if (!n || n.hidden || !n.classList.contains('picked')) return false;
    const r = n.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= innerHeight;
  });
  findings.click_opens = true;

  // A preempted node's cells change state within two telemetry periods: the frame that shows
  // it is at most two frames (one per period) after the preemption was accepted.
  const target = 'video-spot-5';
  await page.evaluate((id) => {
    const e = document.querySelector(`.fleet-node[data-node-id="${id}"]`);
    window.changedAt = null;
    new MutationObserver(() => {
      if (e.dataset.state !== 'ready' && window.changedAt === null) window.changedAt = Number(document.body.dataset.seq);
    }).observe(e, { attributes: true, attributeFilter: ['data-state'] });
  }, target);
  const pr = await fetch(`${base}/api/v1/nodes/${target}/preempt`, { method: 'POST', headers: { Authorization: `Bearer ${opsToken}` } });
  if (pr.status !== 202) throw new Error(`preempt ${target}: ${pr.status}`);
  const seq0 = Number(await page.$eval('body', (b) => b.dataset.seq));
  await page.waitForFunction(() => window.changedAt !== null, null, { timeout: 10000 });
  const changedAt = await page.evaluate(() => window.changedAt);
  findings.preempt_frames = changedAt - seq0;
  findings.preempt_cell_state = await page.$eval(`.fleet-node[data-node-id="${target}"]`, (e) => e.dataset.state);
  if (findings.preempt_frames > 2) throw new Error(`${target}'s cells changed ${findings.preempt_frames} frames after its preemption`);

  // ---- per-pool panels ----
  // Utilization over 15 minutes from the first frame on (the server's history).
  findings.pool_chart_points = await page.$eval('.pool-panel[data-pool="video"] canvas', (c) => Number(c.dataset.points));
  if (!(findings.pool_chart_points >= 2)) throw new Error(`the video pool's chart has ${findings.pool_chart_points} points`);
  // GPUs and burn of the nodes up, by pool, as the REST API counts them. Both are read afresh
  // until they agree: the preempted node comes back (`replace_preempted_after`) while a loaded
  // machine is still waiting, so a count taken once can be out of date by the time the panel is.
  for (const pool of ['image', 'video']) {
    const deadline = Date.now() + 10000;
    for (;;) {
      const mine = (await apiNodes()).filter((n) => n.pool === pool && ['ready', 'draining', 'joining'].includes(n.state));
      const want = { total: mine.reduce((k, n) => k + n.gpus.length, 0), usd: mine.reduce((k, n) => k + n.price_per_hour, 0).toFixed(2) };
      const shown = await page.$eval(`.pool-panel[data-pool="${pool}"]`, (b) => ({
        total: b.querySelector('[data-k=gpus]').dataset.total,
        usd: b.querySelector('[data-k=burn]').dataset.usd,
      }));
      if (shown.total === String(want.total) && shown.usd === want.usd) {
        findings[`panel_${pool}`] = want;
        break;
      }
      if (Date.now() > deadline) {
        throw new Error(`pool ${pool}: wanted ${JSON.stringify(want)}, panel says ${await page.$eval(`.pool-panel[data-pool="${pool}"]`, (b) => b.textContent)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  // The reclaim made while watching counts in its pool's panel, not in the other's.
  await page.waitForFunction(() => Number(document.querySelector('.pool-panel[data-pool="video"] [data-k=reclaims]').dataset.n) >= 1);
  findings.reclaims = await page.$$eval('.pool-panel [data-k=reclaims]', (els) => els.map((e) => `${e.closest('.pool-panel').dataset.pool}: ${e.textContent}`));
  if (await page.$eval('.pool-panel[data-pool="image"] [data-k=reclaims]', (e) => e.dataset.n) !== '0') throw new Error(`reclaims ${findings.reclaims}`);

  await page.evaluate(() => scrollTo(0, 0));
  await page.hover(`#fleet .fleet-node[data-node-id="video-spot-9"] .gpu-cell[data-gpu="2"]`);
  await page.waitForFunction(() => !document.getElementById('fleet-tip').hidden);
  await page.screenshot({ path: `${shotsDir}/dashboard-fleet.png` });

  // The card view stays available for a few nodes, or by choice.
  await page.selectOption('#f-view', 'cards');
  await page.waitForFunction(() => document.getElementById('nodes').dataset.view === 'cards');
  await page.selectOption('#f-view', 'auto');

  findings.perf = await measure(page, context);
});
