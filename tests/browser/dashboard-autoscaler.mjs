// The operator dashboard's autoscaler timeline in Debian's headless Chromium: signs in and checks
// that the newest decisions of GET /api/v1/autoscaler are listed, newest first, with their pool,
// action and outcome. Prints one JSON line of findings; exits non-zero on any failure.
// Run by tests/it/dashboard_page.rs.
import { drive } from './harness.mjs';

const base = process.env.SHOTFARM_BASE;
const opsToken = process.env.SHOTFARM_OPERATOR_TOKEN;

await drive({ width: 1440, height: 900 }, async ({ page, findings }) => {
  const decisions = async () => (await (await fetch(`${base}/api/v1/autoscaler`, { headers: { Authorization: `Bearer ${opsToken}` } })).json()).decisions;
  const log = { decisions: await decisions() };
  const adds = log.decisions.filter((d) => d.action && d.action.action === 'add');
  if (!adds.length) throw new Error('the server made no add decision');
  await page.goto(`${base}/?token=${encodeURIComponent(opsToken)}`);
  await page.waitForFunction(() => document.querySelectorAll('#scaler li').length > 0);
  const items = await page.$$eval('#scaler li', (els) => els.map((e) => ({ at: e.dataset.at, action: e.dataset.action, pool: e.dataset.pool, text: e.textContent })));
  findings.items = items.length;
  findings.first = items[0];
  // Newest first, as the route lists them: the page's items are a run of the route's list read
  // after them (the autoscaler may have decided more since: those come first).
  const after = await decisions();
  const k = after.findIndex((d) => d.at === items[0].at);
  const run = after.slice(k, k + items.length);
  if (k < 0 || run.length !== items.length || run.some((d, i) => d.at !== items[i].at || d.pool !== items[i].pool
    || (d.action ? d.action.action : 'budget') !== items[i].action)) {
    throw new Error(`items ${JSON.stringify(items)} are not a run of ${JSON.stringify(after)}`);
  }
  // The add made before the page opened is there with its node count and outcome.
  const add = adds[0];
  const kind = add.action.kind === 'spot' ? 'spot' : 'on-demand';
  if (!items.some((i) => i.action === 'add' && i.text.includes(`${add.pool}: +${add.action.nodes} ${kind}`) && i.text.includes(add.outcome))) {
    throw new Error(`no item for ${JSON.stringify(add)} in ${JSON.stringify(items)}`);
  }
  findings.add = `${add.pool}: +${add.action.nodes} ${kind}`;
});
