// Drives the owner's controls on the progress page (/videos/{id}) in Debian's headless Chromium
// against a running server: the buttons are the owner's alone (an operator's page has none), a
// dismissed confirmation sends nothing, a confirmed Pause holds the queued shots (cards shown
// `paused`, Resume offered instead of Pause), and a confirmed Resume lets the video complete.
// Run by tests/it/video_control.rs, which starts a one-GPU server, submits a video of paced
// shots and passes what the script needs in the environment:
//   SHOTFARM_BASE, SHOTFARM_VIDEO, SHOTFARM_TOKEN (the owner), SHOTFARM_OPERATOR_TOKEN.
// Prints one JSON line of findings; exits non-zero on the first failed expectation.
import { confirmations, drive, env, expect, videoReader } from './harness.mjs';

const base = env('SHOTFARM_BASE');
const video = env('SHOTFARM_VIDEO');
const token = env('SHOTFARM_TOKEN');
const operator = env('SHOTFARM_OPERATOR_TOKEN');
const TIMEOUT = 60_000;

const readVideo = videoReader(base, video, token);

await drive({ width: 1280, height: 900 }, async ({ context, page, findings }) => {
  // An operator watching the same video is shown no controls.
  const ops = await context.newPage();
  await ops.goto(`${base}/videos/${video}?token=${encodeURIComponent(operator)}`);
  await ops.waitForFunction(() => document.querySelectorAll('#shots li.card').length > 0
    && document.body.dataset.videoState, null, { timeout: TIMEOUT, polling: 50 });
  findings.operatorControls = await ops.evaluate(() => !document.getElementById('controls').hidden);
  expect(!findings.operatorControls, 'no controls for an operator');
  await ops.close();

  const confirm = confirmations(page);
  await page.goto(`${base}/videos/${video}?token=${encodeURIComponent(token)}`);
  await page.waitForFunction(() => !document.getElementById('controls').hidden
    && !document.getElementById('pause').hidden, null, { timeout: TIMEOUT, polling: 50 });

  // Dismissed: nothing is sent.
  await page.click('#pause');
  await page.waitForTimeout(300);
  const untouched = await readVideo();
  findings.afterDismiss = untouched.paused;
  expect(untouched.paused === false, 'a dismissed confirmation pauses nothing');
  expect(confirm.asked.length === 1 && /Pause this video\?/.test(confirm.asked[0]), `asked first: ${confirm.asked}`);

  // Confirmed: the queued shots are held and the page offers Resume.
  confirm.accept = true;
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
  findings.dialogs = confirm.asked.length;
  expect(done.state === 'completed', `completed: ${done.state}`);
  expect(confirm.asked.length === 3, `one confirmation per click: ${confirm.asked.length}`);
});
