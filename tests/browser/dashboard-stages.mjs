// Drives the operator dashboard (/) in Debian's headless Chromium while story videos wait: the llm
// pool's only node is drained, so their scripts are queued with no fitting node and every later
// job is blocked on the script. Checks that the llm pool's panel shows its script stage queued
// with that reason in words, the video pool's panel its shots blocked on the script, the panels'
// utilization, and the waiting table's rows by stage. Prints one JSON line of findings; exits
// non-zero on any failure. Run by tests/it/dashboard_page.rs.
import { drive } from './harness.mjs';

const base = process.env.SHOTFARM_BASE;
const opsToken = process.env.SHOTFARM_OPERATOR_TOKEN;
const scripts = Number(process.env.SHOTFARM_SCRIPTS);
const shots = Number(process.env.SHOTFARM_SHOTS);

await drive({ width: 1440, height: 1000 }, async ({ page, findings }) => {
  await page.goto(`${base}/?token=${encodeURIComponent(opsToken)}`);
  await page.waitForSelector('#board:not([hidden])');

  // The llm panel: its script stage, queued, and why in words.
  const script = '.pool-panel[data-pool="llm"] .pool-stages li[data-stage="script"]';
  try {
    await page.waitForFunction(([sel, n]) => {
      const li = document.querySelector(sel);
      return li && li.dataset.queued === String(n) && li.dataset.reasons === 'no_fitting_node';
    }, [script, scripts], { timeout: 15000 });
  } catch (e) {
    throw new Error(`llm panel: ${await page.$eval('#pools', (b) => b.innerText)}`);
  }
  findings.llm_script = await page.textContent(script);
  findings.llm_script_detail = await page.getAttribute(script, 'title');

  // The video panel: the shots are not queued, they are blocked on the script.
  const shot = '.pool-panel[data-pool="video"] .pool-stages li[data-stage="shot"]';
  await page.waitForFunction(([sel, n]) => {
    const li = document.querySelector(sel);
    return li && li.dataset.blocked === String(n) && li.dataset.queued === '0';
  }, [shot, shots], { timeout: 15000 });
  findings.video_shot = await page.textContent(shot);
  findings.image_reference = await page.textContent('.pool-panel[data-pool="image"] .pool-stages li[data-stage="reference"]');
  findings.cpu_stitch = await page.textContent('.pool-panel[data-pool="cpu"] .pool-stages li[data-stage="stitch"]');

  // Each panel's utilization, from the nodes' (simulated) telemetry.
  await page.waitForFunction(() => document.querySelector('.pool-panel[data-pool="video"] [data-k=util]')?.dataset.pct !== '');
  findings.video_util = await page.textContent('.pool-panel[data-pool="video"] [data-k=util]');

  // The waiting table: the scripts' class under stage script, the shots' blocked row.
  findings.table = await page.$$eval('#queue tr', (rows) => rows.map((r) => [...r.children].map((td) => td.textContent).join(' | ')));
  findings.table_script_reason = await page.$eval('#queue tr[data-stage="script"]', (r) => r.dataset.reason);
  findings.table_shot_reason = await page.$eval('#queue tr[data-stage="shot"]', (r) => r.dataset.reason);
});
