// Drives the operator dashboard (/) in Debian's headless Chromium on a farm with a video node
// reserved for tenants and work of another tenant waiting: checks that the reserved node's card
// shows whose it is (a `reserved` badge naming the tenants) beside its `simulated` label, that the
// shared node shows none, and that the waiting table names the tenant and the reason in words.
// Prints one JSON line of findings; exits non-zero on any failure. Run by tests/it/tenants.rs.
import { drive, env } from './harness.mjs';

const base = env('SHOTFARM_BASE');
const opsToken = env('SHOTFARM_OPERATOR_TOKEN');
const reserved = env('SHOTFARM_RESERVED_NODE');
const shared = env('SHOTFARM_SHARED_NODE');
const tenant = env('SHOTFARM_WAITING_TENANT');

await drive({ width: 1440, height: 1000 }, async ({ page, findings }) => {
  await page.goto(`${base}/?token=${encodeURIComponent(opsToken)}`);
  await page.waitForSelector('#board:not([hidden])');

  const card = (id) => `article.node[data-node-id="${id}"]`;
  await page.waitForSelector(`${card(reserved)} .badge.reserved:not([hidden])`, { timeout: 15000 });
  findings.reserved_badge = await page.textContent(`${card(reserved)} .badge.reserved`);
  findings.reserved_title = await page.getAttribute(`${card(reserved)} .badge.reserved`, 'title');
  findings.reserved_data = await page.getAttribute(card(reserved), 'data-reserved');
  // The simulated label stays on a dedicated node's card.
  await page.waitForSelector(`${card(reserved)} .badge.simulated:not([hidden])`, { timeout: 15000 });
  findings.reserved_simulated = await page.textContent(`${card(reserved)} .badge.simulated`);
  await page.waitForSelector(card(shared));
  findings.shared_badge_hidden = await page.$eval(`${card(shared)} .badge.reserved`, (b) => b.hidden);

  // The waiting table: the tenant's class, with the reason in words and the detail on hover.
  const row = `#queue tr[data-tenant="${tenant}"]`;
  await page.waitForSelector(`${row}[data-reason="reserved_for_others"]`, { timeout: 15000 });
  findings.row = await page.$eval(row, (r) => [...r.children].map((td) => td.textContent));
  findings.row_detail = await page.$eval(row, (r) => r.children[5].title);
});
