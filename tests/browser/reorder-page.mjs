// Drives the owner's reorder controls on the progress page (/videos/{id}) in Debian's headless
// Chromium against a running server: "Move ahead of" lists the owner's other unfinished videos
// and, confirmed, moves this one ahead of the chosen one; the priority button raises the video to
// `high` (the owner's plan allows it) and lowers it back, each after a confirmation.
// Run by tests/it/video_control.rs, which holds the one GPU with another user's video, submits
// two videos for the owner and passes: SHOTFARM_BASE, SHOTFARM_VIDEO (the page's, the later
// one), SHOTFARM_AHEAD_OF (the earlier one), SHOTFARM_TOKEN (the owner, on a plan with `high`).
// Prints one JSON line of findings; exits non-zero on the first failed expectation.
import { confirmations, drive, env, expect, videoReader } from './harness.mjs';

const base = env('SHOTFARM_BASE');
const video = env('SHOTFARM_VIDEO');
const aheadOf = env('SHOTFARM_AHEAD_OF');
const token = env('SHOTFARM_TOKEN');
const TIMEOUT = 60_000;

const readVideo = videoReader(base, video, token);

await drive({ width: 1280, height: 900 }, async ({ context, page, findings }) => {
  const confirm = confirmations(page, true);
  await page.goto(`${base}/videos/${video}?token=${encodeURIComponent(token)}`);
  await page.waitForFunction(() => !document.getElementById('move').hidden
    && !document.getElementById('priority').hidden, null, { timeout: TIMEOUT, polling: 50 });

  // The choices are the owner's other unfinished videos: here exactly the earlier one.
  findings.choices = await page.evaluate(() => [...document.querySelectorAll('#move-before option')]
    .map((o) => o.value));
  expect(findings.choices.length === 1 && findings.choices[0] === aheadOf,
    `only the other unfinished video is offered: ${findings.choices}`);
  await page.selectOption('#move-before', aheadOf);
  await page.click('#move-button');
  await page.waitForFunction(() => document.body.dataset.lastControl === 'move', null,
    { timeout: TIMEOUT, polling: 50 });
  expect(/Move this video ahead of/.test(confirm.asked.at(-1)), `asked first: ${confirm.asked}`);

  // Raise to high, then lower back to standard.
  findings.raiseLabel = await page.textContent('#priority');
  await page.click('#priority');
  await page.waitForFunction(() => document.body.dataset.lastControl === 'priority'
    && document.getElementById('priority').textContent === 'Lower to standard', null,
  { timeout: TIMEOUT, polling: 50 });
  findings.raised = (await readVideo()).priority;
  expect(findings.raised === 'high', `raised: ${findings.raised}`);
  await page.evaluate(() => { delete document.body.dataset.lastControl; });
  await page.click('#priority');
  await page.waitForFunction(() => document.body.dataset.lastControl === 'priority'
    && document.getElementById('priority').textContent === 'Raise to high', null,
  { timeout: TIMEOUT, polling: 50 });
  findings.lowered = (await readVideo()).priority;
  expect(findings.lowered === 'standard', `lowered: ${findings.lowered}`);
  findings.dialogs = confirm.asked.length;
  findings.notice = await page.evaluate(() => {
    const n = document.getElementById('notice');
    return n && !n.hidden ? n.textContent : null;
  });
  expect(findings.notice === null, `no error shown: ${findings.notice}`);
});
