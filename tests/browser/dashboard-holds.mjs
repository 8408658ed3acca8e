// Drives the operator dashboard (/) in Debian's headless Chromium while a user is held: the
// waiting table shows the held user's jobs with the reason in words, the holds list shows the
// hold with who and why; the form holds the video pool behind the confirmation dialog (Keep
// first: nothing happens), and each hold's Release button, confirmed, lifts it. Prints one JSON
// line of findings; exits non-zero on any failure. Run by tests/it/dashboard_page.rs.
import { drive } from './harness.mjs';

const base = process.env.SHOTFARM_BASE;
const opsToken = process.env.SHOTFARM_OPERATOR_TOKEN;
const heldUser = process.env.SHOTFARM_HELD_USER;

async function holdsNow() {
  const resp = await fetch(`${base}/api/v1/holds`, { headers: { Authorization: `Bearer ${opsToken}` } });
  return (await resp.json()).holds.map((h) => `${h.kind}:${h.name}`);
}

await drive({ width: 1440, height: 1000 }, async ({ page, findings }) => {
  await page.goto(`${base}/?token=${encodeURIComponent(opsToken)}`);
  await page.waitForSelector('#board:not([hidden])');

  // The held user's jobs in the waiting table, and the hold in the list.
  await page.waitForSelector('#queue tr[data-reason="user_held"]', { timeout: 15000 });
  findings.table_reason = await page.textContent('#queue tr[data-reason="user_held"] td:last-child');
  findings.table_detail = await page.getAttribute('#queue tr[data-reason="user_held"] td:last-child', 'title');
  const userRow = `#holds li[data-kind="user"][data-name="${heldUser}"]`;
  await page.waitForSelector(userRow, { timeout: 15000 });
  findings.user_row = await page.textContent(userRow);

  // Hold the video pool from the form; Keep first: nothing is held.
  await page.selectOption('#hold-kind', 'pools');
  await page.fill('#hold-name', 'video');
  await page.fill('#hold-reason', 'maintenance window');
  await page.click('#hold-submit');
  await page.waitForSelector('#confirm[open]');
  findings.confirm_text = await page.textContent('#confirm-text');
  await page.click('#confirm button[value="cancel"]');
  findings.after_keep = await holdsNow();
  await page.click('#hold-submit');
  await page.waitForSelector('#confirm[open]');
  await page.click('#confirm-ok');
  const poolRow = '#holds li[data-kind="pool"][data-name="video"]';
  await page.waitForSelector(poolRow, { timeout: 15000 });
  findings.pool_row = await page.textContent(poolRow);
  findings.after_hold = await holdsNow();

  // Release both, each confirmed.
  for (const row of [poolRow, userRow]) {
    await page.click(`${row} button[data-action="release"]`);
    await page.waitForSelector('#confirm[open]');
    await page.click('#confirm-ok');
    await page.waitForSelector(row, { state: 'detached', timeout: 15000 });
  }
  findings.after_release = await holdsNow();
  await page.waitForSelector('#holds-empty:not([hidden])');
});
