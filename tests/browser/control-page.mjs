// Drives the owner's controls on the progress page (/videos/{id}) in Debian's headless Chromium
// against a running server: the buttons are the owner's alone (an operator's page has none), a
// dismissed confirmation sends nothing, a confirmed Pause holds the queued shots (cards shown
// `paused`, Resume offered instead of Pause), and a confirmed Resume lets the video complete.
// Run by tests/it/video_control.rs, which starts a one-GPU server, submits a video of paced
// shots and passes what the script needs in the environment:
//   SHOTFARM_BASE, SHOTFARM_VIDEO, SHOTFARM_TOKEN (the owner), SHOTFARM_OPERATOR_TOKEN.
// Prints one JSON line of findings; exits non-zero on the first failed expectation.
import { env, expect, launchChromium, videoReader } from './harness.mjs';

const base = env('SHOTFARM_BASE');
const video = env('SHOTFARM_VIDEO');
const token = env('SHOTFARM_TOKEN');
const operator = env('SHOTFARM_OPERATOR_TOKEN');
const TIMEOUT = 60_000;

const readVideo = videoReader(base, video, token);

const browser = await launchChromium();
const findings = {};
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });

  // An operator watching the same video is shown no controls.
  const ops = await context.newPage();
  await ops.goto(`${base}/videos/${video}?token=${encodeURIComponent(operator)}`);
  await ops.waitForFunction(() => document.querySelectorAll('#shots li.card').length > 0
    && document.body.dataset.videoState, null, { timeout: TIMEOUT, polling: 50 });
  findings.operatorControls = await ops.evaluate(() => !document.getElementById('controls').hidden);
  expect(!findings.operatorControls, 'no controls for an operator');
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
  await page.waitForFunction(() => !document.getElementById('controls').hidden
    && !document.getElementById('pause').hidden, null, { timeout: TIMEOUT, polling: 50 });

  // Dismissed: nothing is sent.
  await page.click('#pause');
  await page.waitForTimeout(300);
  const untouched = await readVideo();
  findings.afterDismiss = untouched.paused;
  expect(untouched.paused === false, 'a dismissed confirmation pauses nothing');
  expect(dialogs.length === 1 && /Pause this video\?/.test(dialogs[0]), `asked first: ${dialogs}`);

  // Confirmed: the queued shots are held and the page offers Resume.
  accept = true;
  await page.click('#pause');
  await page.waitForFunction(() => !document.getElementById('resume').hidden
    && document.getElementById('pause').hidden
    && [...document.querySelectorAll('#shots li.card')].some((c) => c.dataset.state === 'paused'),
  null, { timeout: TIMEOUT, polling: 50 });
  const paused = await readVideo();
  findings.paused = paused.shots.map((s) => s.state);
  expect(paused.paused === true, 'the server holds the video paused');

  // Resume: the video runs to the end and the controls go away.
  await page.click('#resume');
  await page.waitForFunction(() => document.body.dataset.videoState === 'completed'
    && document.getElementById('controls').hidden, null, { timeout: TIMEOUT, polling: 50 });
  const done = await readVideo();
  findings.final = done.state;
  findings.dialogs = dialogs.length;
  expect(done.state === 'completed', `completed: ${done.state}`);
  expect(dialogs.length === 3, `one confirmation per click: ${dialogs.length}`);
  expect(errors.length === 0, `no page errors: ${errors}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify(findings));
