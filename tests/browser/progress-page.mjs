// Drives the progress page (/videos/{id}) in Debian's headless Chromium against a running server:
// every shot reaches 100%, a preempted shot is shown preempted and then recovers, and a dropped
// connection is resumed by the page itself (the page is loaded through a small TCP proxy here,
// which cuts every connection once, mid-video). Run by tests/progress_page.rs, which starts the
// server, prepares the video and passes what the script needs in the environment:
//   SHOTFARM_BASE, SHOTFARM_VIDEO, SHOTFARM_TOKEN (the owner), SHOTFARM_OPERATOR_TOKEN,
//   SHOTFARM_SCREENSHOT (optional PNG path), SHOTFARM_BLOCKER_VIDEO and SHOTFARM_BLOCKER_TOKEN
//   (another user's video holding every GPU, cancelled here once the page shows the cards, so
//   that the video runs while the page watches).
// Prints one JSON line of findings; exits non-zero on the first failed expectation.
import net from 'node:net';
import { env, launchChromium } from './harness.mjs';

const base = env('SHOTFARM_BASE');
const video = env('SHOTFARM_VIDEO');
const token = env('SHOTFARM_TOKEN');
const operator = env('SHOTFARM_OPERATOR_TOKEN');
const blocker = env('SHOTFARM_BLOCKER_VIDEO');
const blockerToken = env('SHOTFARM_BLOCKER_TOKEN');
const screenshot = process.env.SHOTFARM_SCREENSHOT;
const TIMEOUT = 60_000;

function expect(ok, what) {
  if (!ok) throw new Error(`expectation failed: ${what}`);
}

// A TCP proxy in front of the server: the page goes through it, so the test can cut the page's
// connections like a network would. It notes each request line, to see how the page reconnects.
const upstream = new URL(base);
const open = new Set();
const requests = [];
const proxy = net.createServer((client) => {
  const server = net.connect(Number(upstream.port), upstream.hostname);
  open.add(client);
  open.add(server);
  client.once('data', (chunk) => requests.push(chunk.toString('latin1').split('\r\n')[0]));
  client.pipe(server);
  server.pipe(client);
  const gone = () => { client.destroy(); server.destroy(); open.delete(client); open.delete(server); };
  client.on('error', gone).on('close', gone);
  server.on('error', gone).on('close', gone);
});
await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
const pageBase = `http://127.0.0.1:${proxy.address().port}`;
const cutAll = () => { for (const sock of open) sock.destroy(); };

const browser = await launchChromium();
const findings = {};
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Network failures while the test holds the page offline are expected; anything else is not.
  const network = /WebSocket|ERR_INTERNET_DISCONNECTED|Failed to load resource|Failed to fetch/;
  page.on('console', (m) => { if (m.type() === 'error' && !network.test(m.text())) errors.push(m.text()); });

  // Record every state each card shows, as it shows it (transient ones included).
  await page.addInitScript(() => {
    window.__seen = {};
    const record = (card) => {
      const i = card.dataset.index;
      if (i === undefined) return;
      const list = (window.__seen[i] ||= []);
      const entry = `${card.dataset.state}#${card.dataset.attempt}`;
      if (list[list.length - 1] !== entry) list.push(entry);
    };
    new MutationObserver((muts) => {
      for (const m of muts) {
        const t = m.target;
        if (t.nodeType === 1 && t.classList.contains('card')) record(t);
        for (const n of m.addedNodes || []) if (n.nodeType === 1 && n.classList.contains('card')) record(n);
      }
    }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state', 'data-attempt'] });
  });

  await page.goto(`${pageBase}/videos/${video}?token=${encodeURIComponent(token)}`);

  // The token left the address bar for local storage.
  const stored = await page.evaluate(() => ({ search: location.search, token: localStorage.getItem('shotfarm.token') }));
  expect(!stored.search.includes('token='), 'the token is removed from the address');
  expect(stored.token === token, 'the token is kept in local storage');

  await page.waitForSelector('#shots li.card', { timeout: TIMEOUT });
  const cards = await page.locator('#shots li.card').count();
  expect(cards === 8, `eight shot cards (found ${cards})`);

  // The page watches: let the video's shots onto the GPUs the other video held.
  const freed = await fetch(`${base}/api/v1/videos/${blocker}/cancel`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${blockerToken}` },
  });
  expect(freed.ok, `the blocking video was cancelled (${freed.status})`);
  findings.cards = cards;

  // Preempt the node of a shot running on spot, a few steps in.
  const victim = await page.waitForFunction(() => {
    for (const c of document.querySelectorAll('#shots li.card')) {
      const step = Number(c.querySelector('.step').textContent.split('/')[0]);
      if (c.dataset.state === 'running' && c.dataset.node.includes('spot') && step >= 3) {
        return { index: c.dataset.index, node: c.dataset.node };
      }
    }
    return null;
  }, null, { timeout: TIMEOUT, polling: 20 }).then((h) => h.jsonValue());
  findings.victim = victim;
  const resp = await fetch(`${base}/api/v1/nodes/${victim.node}/preempt`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${operator}` },
  });
  expect(resp.status === 202, `preempt answered ${resp.status}`);

  // The card shows the preemption as it happens.
  await page.waitForSelector(`#shot-${victim.index}.was-preempted`, { timeout: TIMEOUT });

  // Cut the connection while the video runs: the page must resume by itself, with `since`.
  const sockets = requests.filter((r) => r.includes('/progress')).length;
  cutAll();
  await page.waitForFunction(() => document.body.dataset.conn !== 'live', null, { timeout: TIMEOUT, polling: 10 });
  findings.dropped = await page.evaluate(() => document.body.dataset.conn);
  await page.waitForFunction(() => document.body.dataset.conn === 'live' || document.body.dataset.conn === 'done',
    null, { timeout: TIMEOUT, polling: 10 });
  const resumed = requests.filter((r) => r.includes('/progress')).slice(sockets);
  findings.resumed = resumed.map((r) => r.replace(/token=[^&\s]+/, 'token=…'));
  expect(resumed.length >= 1 && /[?&]since=\d+/.test(resumed[0]), `reconnected with since: ${findings.resumed}`);

  // Every shot reaches 100% and the video completes.
  await page.waitForFunction(() => {
    const cs = [...document.querySelectorAll('#shots li.card')];
    return cs.length === 8 && cs.every((c) => c.dataset.state === 'completed' && c.dataset.progress === '100')
      && document.body.dataset.videoState === 'completed';
  }, null, { timeout: TIMEOUT, polling: 50 });
  // ...and the server then closes the stream normally.
  await page.waitForFunction(() => document.body.dataset.conn === 'done', null, { timeout: TIMEOUT });

  const end = await page.evaluate((i) => {
    const card = document.getElementById(`shot-${i}`);
    return {
      seen: window.__seen[i],
      history: [...card.querySelectorAll('.history li')].map((li) => li.dataset.state),
      attempt: Number(card.dataset.attempt),
      preemptions: Number(card.dataset.preemptions),
      note: card.querySelector('.preempt').textContent,
      bars: [...document.querySelectorAll('#shots .bar')].map((b) => b.getAttribute('aria-valuenow')),
      videoPct: document.getElementById('video-pct').textContent,
      conn: document.body.dataset.conn,
      lastSeq: Number(document.body.dataset.lastSeq),
    };
  }, victim.index);
  findings.end = end;

  const states = end.seen.map((e) => e.split('#')[0]);
  const p = states.indexOf('preempted');
  expect(p >= 0, `the victim card showed "preempted" (saw ${end.seen.join(' ')})`);
  expect(states.indexOf('queued', p) > p, 'then "queued"');
  expect(states.indexOf('running', p) > p, 'then "running" again');
  expect(end.history.includes('preempted'), 'the card keeps the preemption in its history');
  expect(end.attempt >= 2 && end.preemptions >= 1, `attempt ${end.attempt}, preemptions ${end.preemptions}`);
  expect(/Recovered after preemption/.test(end.note), `recovery note: ${end.note}`);
  expect(end.bars.every((v) => v === '100'), `every bar at 100: ${end.bars}`);
  expect(end.videoPct === '100%', `video at 100%: ${end.videoPct}`);
  expect(end.conn === 'done', `connection finished cleanly: ${end.conn}`);

  // What the page shows is what the server has.
  const rest = await (await fetch(`${base}/api/v1/videos/${video}`, { headers: { Authorization: `Bearer ${token}` } })).json();
  expect(end.lastSeq === rest.seq, `page at seq ${end.lastSeq}, server at ${rest.seq}`);
  const shown = await page.evaluate(() => [...document.querySelectorAll('#shots li.card')].map((c) => ({
    state: c.dataset.state, attempt: Number(c.dataset.attempt), node: c.dataset.node,
  })));
  rest.shots.forEach((s, i) => {
    expect(shown[i].state === s.state && shown[i].attempt === s.attempt && shown[i].node === (s.node || ''),
      `card ${i} ${JSON.stringify(shown[i])} matches the server's shot ${JSON.stringify({ state: s.state, attempt: s.attempt, node: s.node })}`);
  });

  // Accessible: named bars, a heading, a live region, no script errors.
  const a11y = await page.evaluate(() => ({
    h1: document.querySelector('h1')?.textContent,
    unnamedBars: [...document.querySelectorAll('[role=progressbar]')].filter((b) => !b.getAttribute('aria-labelledby')).length,
    live: document.querySelectorAll('[aria-live]').length,
    lang: document.documentElement.lang,
  }));
  expect(a11y.unnamedBars === 0 && a11y.live >= 1 && a11y.lang === 'en' && a11y.h1, `accessibility: ${JSON.stringify(a11y)}`);
  expect(errors.length === 0, `no page errors: ${errors.join('; ')}`);
  expect(!(await page.locator('#token-form').isVisible()), 'no token prompt while watching');

  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ ok: true, ...findings }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e.message || e), ...findings }));
  process.exitCode = 1;
} finally {
  await browser.close();
  cutAll();
  proxy.close();
}
