// Drives the owner's re-roll on the progress page (/videos/{id}) in Debian's headless Chromium
// against a running server with a completed video: an operator's page has no Re-roll buttons;
// the owner's has one per completed shot; a dismissed confirmation sends nothing; a confirmed
// one re-renders that shot, which completes as version 2 and lists both versions as links.
// Run by tests/it/reroll.rs, which passes SHOTFARM_BASE, SHOTFARM_VIDEO, SHOTFARM_TOKEN (the
// owner) and SHOTFARM_OPERATOR_TOKEN. Prints one JSON line of findings; exits non-zero on the
// first failed expectation.
import { confirmations, drive, env, expect, videoReader } from './harness.mjs';

const base = env('SHOTFARM_BASE');
const video = env('SHOTFARM_VIDEO');
const token = env('SHOTFARM_TOKEN');
const operator = env('SHOTFARM_OPERATOR_TOKEN');
const TIMEOUT = 60_000;

const readVideo = videoReader(base, video, token);

const visibleRerolls = () => [...document.querySelectorAll('#shots li.card')]
  .filter((c) => !c.querySelector('.reroll').hidden).length;

await drive({ width: 1280, height: 900 }, async ({ context, page, findings }) => {
  const ops = await context.newPage();
  await ops.goto(`${base}/videos/${video}?token=${encodeURIComponent(operator)}`);
  await ops.waitForFunction(() => document.body.dataset.videoState === 'completed'
    && document.querySelectorAll('#shots li.card').length > 0, null,
  { timeout: TIMEOUT, polling: 50 });
  findings.operatorRerolls = await ops.evaluate(visibleRerolls);
  expect(findings.operatorRerolls === 0, 'no re-roll for an operator');
  await ops.close();

  const confirm = confirmations(page);
  await page.goto(`${base}/videos/${video}?token=${encodeURIComponent(token)}`);
  const cards = (await readVideo()).shots.length;
  await page.waitForFunction((n) => [...document.querySelectorAll('#shots li.card')]
    .filter((c) => !c.querySelector('.reroll').hidden).length === n, cards,
  { timeout: TIMEOUT, polling: 50 });
  findings.ownerRerolls = cards;

  // Dismissed: nothing is sent.
  await page.click('#shot-1 .reroll-button');
  await page.waitForTimeout(300);
  const untouched = await readVideo();
  expect(untouched.shots[1].version === 1, 'a dismissed confirmation re-rolls nothing');
  expect(confirm.asked.length === 1 && /Re-roll shot 2\?/.test(confirm.asked[0]), `asked first: ${confirm.asked}`);

  // Confirmed: shot 2 renders again and completes as version 2, both versions listed.
  confirm.accept = true;
  await page.click('#shot-1 .reroll-button');
  await page.waitForFunction(() => {
    const card = document.getElementById('shot-1');
    return card.dataset.version === '2' && card.dataset.state === 'completed'
      && card.querySelectorAll('.versions li').length === 2
      && !card.querySelector('.versions').hidden
      && document.body.dataset.videoState === 'completed';
  }, null, { timeout: TIMEOUT, polling: 50 });
  findings.versions = await page.evaluate(() => [...document.querySelectorAll('#shot-1 .versions li')]
    .map((li) => li.dataset.version));
  const done = await readVideo();
  findings.final = done.state;
  findings.version = done.shots[1].version;
  findings.dialogs = confirm.asked.length;
  expect(done.shots[1].version === 2, `version 2: ${done.shots[1].version}`);
  expect(done.shots[0].version === 1, 'the other shots are untouched');
  expect(confirm.asked.length === 2, `one confirmation per click: ${confirm.asked.length}`);
});
