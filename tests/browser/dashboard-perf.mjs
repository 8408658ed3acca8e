// The operator dashboard under load in Debian's headless Chromium: a fleet of 200 nodes with
// more than a thousand shots running and telemetry every second. Waits for the page to show the
// shots running, then records Chromium's performance figures over ten frames (perf.mjs).
// Prints one JSON line of findings; exits non-zero on any failure. Run by tests/it/dashboard_fleet.rs.
import { drive } from './harness.mjs';
import { measure } from './perf.mjs';

const base = process.env.SHOTFARM_BASE;
const opsToken = process.env.SHOTFARM_OPERATOR_TOKEN;
const running = Number(process.env.SHOTFARM_RUNNING);

await drive({ width: 1440, height: 900 }, async ({ context, page, findings }) => {
  await page.goto(`${base}/?token=${encodeURIComponent(opsToken)}`);
  await page.waitForFunction((k) => Number(document.getElementById('c-running').textContent) >= k, running, { timeout: 60000 });
  findings.shots_running = Number(await page.textContent('#c-running'));
  findings.gpu_cells = await page.locator('#fleet .gpu-cell').count();
  // With work waiting for the video pool, its idle GPUs are marked: exactly the A10G nodes'
  // (their model does not fit what waits; every A100 is busy).
  const r = await fetch(`${base}/api/v1/nodes`, { headers: { Authorization: `Bearer ${opsToken}` } });
  const a10g = (await r.json()).nodes.filter((n) => n.gpus[0].model === 'A10G').map((n) => n.id).sort();
  await page.waitForFunction((want) => {
    const got = [...new Set([...document.querySelectorAll('#fleet .gpu-cell[data-idle-queued]')]
      .map((c) => c.closest('.fleet-node').dataset.nodeId))].sort();
    return got.length === want.length && got.every((x, i) => x === want[i]);
  }, a10g, { timeout: 30000 });
  findings.idle_queued_cells = await page.locator('#fleet .gpu-cell[data-idle-queued]').count();
  // Past the placements' burst (shots start within a few frames): the steady state is measured.
  const settled = Number(await page.$eval('body', (b) => b.dataset.seq)) + 10;
  await page.waitForFunction((k) => Number(document.body.dataset.seq) >= k, settled, { timeout: 60000 });
  findings.perf = await measure(page, context);
});
