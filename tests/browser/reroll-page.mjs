// Drives the owner's re-roll on the progress page (/videos/{id}) in Debian's headless Chromium
// against a running server with a completed video: an operator's page has no Re-roll buttons;
// the owner's has one per completed shot; a dismissed confirmation sends nothing; a confirmed
// one re-renders that shot, which completes as version 2 and lists both versions as links.
// Run by tests/it/reroll.rs, which passes SHOTFARM_BASE, SHOTFARM_VIDEO, SHOTFARM_TOKEN (the
// owner) and SHOTFARM_OPERATOR_TOKEN. Prints one JSON line of findings; exits non-zero on the
// first failed expectation.
import { env, expect, launchChromium, videoReader } from './harness.mjs';

const base = env('SHOTFARM_BASE');
const video = env('SHOTFARM_VIDEO');
const token = env('SHOTFARM_TOKEN');
const operator = env('SHOTFARM_OPERATOR_TOKEN');
const TIMEOUT = 60_000;

const readVideo = videoReader(base, video, token);

const visibleRerolls = () => [...document.querySelectorAll('#shots li.card')]
  .filter((c) => !c.querySelector('.reroll').hidden).length;

const browser = await launchChromium();
const findings = {};
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });

  const ops = await context.newPage();
  await ops.goto(`${base}/videos/${video}?token=${encodeURIComponent(operator)}`);
  await ops.waitForFunction(() => document.body.dataset.videoState === 'completed'
    && document.querySelectorAll('#shots li.card').length > 0, null,
  { timeout: TIMEOUT, polling: 50 });
  findings.operatorRerolls = await ops.evaluate(visibleRerolls);
  expect(findings.operatorRerolls === 0, 'no re-roll for an operator');
  await ops.close();

  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const dialogs = [];
  let accept = false;
  page.on('dialog', async (d) => {
    dialogs.push(d.message());
    if (accept) await d.accept();
    else await d.dismiss();
  });
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
  expect(dialogs.length === 1 && /Re-roll shot 2\?/.test(dialogs[0]), `asked first: ${dialogs}`);

  // Confirmed: shot 2 renders again and completes as version 2, both versions listed.
  accept = true;
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
  findings.dialogs = dialogs.length;
  expect(done.shots[1].version === 2, `version 2: ${done.shots[1].version}`);
  expect(done.shots[0].version === 1, 'the other shots are untouched');
  expect(dialogs.length === 2, `one confirmation per click: ${dialogs.length}`);
  expect(errors.length === 0, `no page errors: ${errors}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify(findings));
