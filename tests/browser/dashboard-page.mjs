// Drives the operator dashboard (/) in Debian's headless Chromium: a user token is refused,
// an operator signs in, sees nodes and live telemetry change, preempts a spot node and sees its
// shots requeue, drains a node, cancels a video; screenshots at 1440 px and 420 px wide. Charts
// have points from the first frame on (the server's history): counted as each frame lands.
// Prints one JSON line of findings; exits non-zero on any failure. Run by tests/dashboard_page.rs.
import { drive } from './harness.mjs';

const base = process.env.SHOTFARM_BASE;
const opsToken = process.env.SHOTFARM_OPERATOR_TOKEN;
const userToken = process.env.SHOTFARM_TOKEN;
const shotsDir = process.env.SHOTFARM_SCREENSHOTS;

await drive({ width: 1440, height: 1000 }, async ({ context, page, findings }) => {
  await page.goto(`${base}/`);

  // A user token is refused with a clear message.
  await page.fill('#token', userToken);
  await page.click('#login button[type=submit]');
  await page.waitForFunction(() => /user token/.test(document.getElementById('login-error').textContent));
  findings.user_refused = await page.textContent('#login-error');

  // The operator signs in and sees every node, live.
  await page.fill('#token', opsToken);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#board:not([hidden])');
  await page.waitForFunction(() => document.querySelectorAll('.node').length >= 8);
  findings.nodes = await page.locator('.node').count();
  // The nodes came with the first (full) frame, their charts seeded from the server's history;
  // and the charts draw those points.
  findings.first_frame_points = await page.evaluate(() => Math.max(0,
    ...[...document.querySelectorAll('.node')].map((e) => Number(e.dataset.seeded || 0))));
  await page.waitForFunction((want) => [...document.querySelectorAll('.node canvas.chart')]
    .some((c) => Number(c.dataset.points || 0) >= want), findings.first_frame_points);
  await page.waitForFunction(() => document.querySelector('.node .badge.simulated:not([hidden])'));
  const tel = () => page.$$eval('.node .tel-text', (els) => els.map((e) => e.textContent).join('|'));
  const before = await tel();
  await page.waitForFunction((b) => [...document.querySelectorAll('.node .tel-text')]
    .map((e) => e.textContent).join('|') !== b, before, { timeout: 10000 });
  findings.telemetry_changed = true;

  // Preempt a spot node that holds shots; its shots requeue (attempt 2 shows in a video's strip).
  const victim = await page.waitForFunction(() => {
    const card = [...document.querySelectorAll('.node[data-state=ready]')]
      .find((c) => c.querySelector('.badge.kind[data-spot=true]') && Number(c.querySelector('.shots-n').dataset.count) > 0);
    return card && card.dataset.nodeId;
  }, null, { timeout: 20000 });
  const victimId = await victim.jsonValue();
  await page.click(`.node[data-node-id="${victimId}"] button[data-action=preempt]`);
  await page.click('#confirm-ok');
  await page.waitForFunction((id) => {
    const c = document.querySelector(`.node[data-node-id="${id}"]`);
    return !c || c.dataset.state === 'preempted' || c.dataset.state === 'left';
  }, victimId, { timeout: 5000 });
  await page.waitForFunction(() => [...document.querySelectorAll('.strip i')].some((i) => / attempt [2-9]/.test(i.title)),
    null, { timeout: 20000 });
  findings.preempted = victimId;
  findings.requeued = true;
  await page.screenshot({ path: `${shotsDir}/dashboard-desktop.png` });

  // Drain an on-demand node.
  const drainId = await page.$eval('.node[data-state=ready] .badge.kind[data-spot=false]', (b) => b.closest('.node').dataset.nodeId);
  await page.click(`.node[data-node-id="${drainId}"] button[data-action=drain]`);
  await page.click('#confirm-ok');
  await page.waitForFunction((id) => {
    const c = document.querySelector(`.node[data-node-id="${id}"]`);
    return c && ['draining', 'left'].includes(c.dataset.state);
  }, drainId, { timeout: 5000 });
  findings.drained = drainId;

  // Cancel a video that is not final.
  const vid = await page.$eval('.video:not([data-state=completed]):not([data-state=cancelled]):not([data-state=failed])', (li) => li.dataset.videoId);
  await page.click(`.video[data-video-id="${vid}"] button[data-action=cancel]`);
  await page.click('#confirm-ok');
  await page.waitForFunction((id) => document.querySelector(`.video[data-video-id="${id}"]`)?.dataset.state === 'cancelled',
    vid, { timeout: 5000 });
  findings.cancelled = vid;

  await page.setViewportSize({ width: 420, height: 1000 });
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${shotsDir}/dashboard-narrow.png` });
});
