// Drives the progress page (/videos/{id}) in Debian's headless Chromium while an ONNX shot runs:
// the owner's page shows the shot's live preview (an <img> of its latent that decodes:
// naturalWidth > 0), and a newer one as the shot moves on; an operator's page of the same video
// shows none. Run by tests/it/preview_page.rs, which starts the server and a long shot and passes:
//   SHOTFARM_BASE, SHOTFARM_VIDEO, SHOTFARM_TOKEN (the owner), SHOTFARM_OPERATOR_TOKEN,
//   SHOTFARM_EVERY (preview_every_steps), SHOTFARM_SCREENSHOT (optional PNG path).
// Every wait is on what the page shows, never on time. Prints one JSON line of findings; exits
// non-zero on the first failed expectation.
import { env, launchChromium } from './harness.mjs';

const base = env('SHOTFARM_BASE');
const video = env('SHOTFARM_VIDEO');
const token = env('SHOTFARM_TOKEN');
const operator = env('SHOTFARM_OPERATOR_TOKEN');
const every = Number(env('SHOTFARM_EVERY'));
const screenshot = process.env.SHOTFARM_SCREENSHOT;
// Generous: a loaded machine starts Chromium slowly; the shot runs far longer than this.
const TIMEOUT = 120_000;

function expect(ok, what) {
  if (!ok) throw new Error(`expectation failed: ${what}`);
}

// The first card's preview as the page shows it.
const previewOf = () => {
  const card = document.querySelector('#shots .card');
  const img = card && card.querySelector('.preview');
  if (!img) return null;
  return {
    hidden: img.hidden,
    complete: img.complete,
    naturalWidth: img.naturalWidth,
    step: Number(img.dataset.step || 0),
    src: (img.getAttribute('src') || '').slice(0, 22),
    state: card.dataset.state,
    cardStep: Number((card.querySelector('.step').textContent || '0').split('/')[0]),
  };
};

const browser = await launchChromium();
const findings = {};
try {
  const context = await browser.newContext();
  const errors = [];
  const watch = (page) => {
    page.on('pageerror', (e) => errors.push(String(e)));
    // A failed load is judged by its response below, which names the URL (the browser's own
    // favicon request is no page's).
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
    });
    page.on('response', (r) => {
      if (r.status() >= 400 && !new URL(r.url()).pathname.endsWith('/favicon.ico')) {
        errors.push(`${r.status()} ${r.url()}`);
      }
    });
  };

  // The owner: a preview that decodes, on a running shot.
  const page = await context.newPage();
  watch(page);
  await page.goto(`${base}/videos/${video}?token=${encodeURIComponent(token)}`);
  await page.waitForFunction(() => {
    const img = document.querySelector('#shots .card .preview');
    return img && !img.hidden && img.complete && img.naturalWidth > 0;
  }, null, { timeout: TIMEOUT, polling: 50 });
  const first = await page.evaluate(previewOf);
  expect(first.state === 'running', `the shot is running while previewed: ${first.state}`);
  expect(first.src === 'data:image/png;base64,', `a PNG data URL: ${first.src}`);
  expect(first.step > 0 && first.step % every === 0, `a preview of every ${every}th step: ${first.step}`);
  findings.first = first;

  // A newer preview as the shot moves on.
  await page.waitForFunction((step) => {
    const img = document.querySelector('#shots .card .preview');
    return img && Number(img.dataset.step) > step && img.complete && img.naturalWidth > 0;
  }, first.step, { timeout: TIMEOUT, polling: 50 });
  findings.next = await page.evaluate(previewOf);
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });

  // An operator's page of the same video: the shot moves on past a preview step, and the page
  // still shows no preview (events reach operators without them).
  // Its own context: the page keeps its token in local storage.
  const ops = await (await browser.newContext()).newPage();
  watch(ops);
  await ops.goto(`${base}/videos/${video}?token=${encodeURIComponent(operator)}`);
  await ops.waitForFunction(() => document.querySelector('#shots .card .step'), null, { timeout: TIMEOUT });
  const from = (await ops.evaluate(previewOf)).cardStep;
  await ops.waitForFunction((past) => {
    const card = document.querySelector('#shots .card');
    return Number(card.querySelector('.step').textContent.split('/')[0]) > past;
  }, from + 2 * every, { timeout: TIMEOUT, polling: 50 });
  const seenByOperator = await ops.evaluate(previewOf);
  expect(seenByOperator.hidden && seenByOperator.src === '', `no preview for an operator: ${JSON.stringify(seenByOperator)}`);
  findings.operator = seenByOperator;

  expect(errors.length === 0, `no page errors: ${errors.join(' | ')}`);
  findings.ok = true;
} finally {
  await browser.close();
}
console.log(JSON.stringify(findings));
