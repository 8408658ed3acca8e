// Drives the owner's progress page (/videos/{id}) in Debian's headless Chromium while an
// operator holds the owner: the page says so (`held by an operator: <reason>`); once the driver
// releases the hold through the API, the note goes and the video completes on the page. Prints one JSON line of findings; exits non-zero on any failure.
// Run by tests/it/holds.rs with SHOTFARM_BASE, SHOTFARM_VIDEO, SHOTFARM_TOKEN (the owner) and
// SHOTFARM_OPERATOR_TOKEN (to release the hold).
import { drive } from './harness.mjs';

const base = process.env.SHOTFARM_BASE;
const video = process.env.SHOTFARM_VIDEO;
const token = process.env.SHOTFARM_TOKEN;
const opsToken = process.env.SHOTFARM_OPERATOR_TOKEN;
const heldUser = process.env.SHOTFARM_HELD_USER;

await drive({ width: 1280, height: 900 }, async ({ page, findings }) => {
  await page.goto(`${base}/videos/${encodeURIComponent(video)}?token=${encodeURIComponent(token)}`);
  await page.waitForSelector('#held:not([hidden])', { timeout: 15000 });
  findings.held_text = await page.textContent('#held');

  const resp = await fetch(`${base}/api/v1/users/${encodeURIComponent(heldUser)}/release`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${opsToken}`, 'Content-Type': 'application/json' },
    body: '{}',
  });
  findings.release_status = resp.status;
  // The page reads `held` again within its period; the video then runs to the end.
  await page.waitForSelector('#held', { state: 'hidden', timeout: 15000 });
  await page.waitForFunction(() => document.body.dataset.videoState === 'completed', null, { timeout: 60000 });
  findings.final_state = await page.evaluate(() => document.body.dataset.videoState);
});
