// Drives the progress page (/videos/{id}) of a story video in Debian's headless Chromium against a
// running server: the stage timeline (a stage waiting on another shown as `waiting`, then all four
// completed), the script's scenes with the "written by splitter" label, the reference image
// decoded, each shot's live preview while it rendered then its clip, and the finished MP4 in the
// player: its metadata loads and its duration is the sum of the shots' clips'; the download link
// is the video's signed artifact_url.
// Run by tests/it/story_page.rs, which starts the server, fills every video GPU with another
// user's long video (so the story's shots wait until the page watches), submits the story and
// passes what the script needs in the environment:
//   SHOTFARM_BASE, SHOTFARM_VIDEO, SHOTFARM_TOKEN (the owner), SHOTFARM_SHOT_COUNT,
//   SHOTFARM_BLOCKER_VIDEO and SHOTFARM_BLOCKER_TOKEN (cancelled here once the page shows the
//   shots queued), SHOTFARM_SCREENSHOT (optional PNG path).
// Prints one JSON line of findings; exits non-zero on the first failed expectation.
import { env, launchChromium } from './harness.mjs';

const base = env('SHOTFARM_BASE');
const video = env('SHOTFARM_VIDEO');
const token = env('SHOTFARM_TOKEN');
const shotCount = Number(env('SHOTFARM_SHOT_COUNT'));
const blocker = env('SHOTFARM_BLOCKER_VIDEO');
const blockerToken = env('SHOTFARM_BLOCKER_TOKEN');
const screenshot = process.env.SHOTFARM_SCREENSHOT;
const TIMEOUT = 90_000;
const STAGES = ['script', 'reference', 'shots', 'stitch'];

function expect(ok, what) {
  if (!ok) throw new Error(`expectation failed: ${what}`);
}

const browser = await launchChromium();
const findings = {};
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // The browser's own favicon request finds none (the pages have no icon): not the page's error.
  page.on('response', (r) => {
    if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') errors.push(`${r.status()} ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) errors.push(m.text());
  });

  // Record every state each stage shows, as it shows it.
  await page.addInitScript(() => {
    window.__stages = {};
    new MutationObserver((muts) => {
      for (const m of muts) {
        const t = m.target;
        if (t.nodeType !== 1 || !t.classList.contains('stage')) continue;
        const list = (window.__stages[t.dataset.stage] ||= []);
        if (list[list.length - 1] !== t.dataset.state) list.push(t.dataset.state);
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
    // And the steps of the live previews each shot card showed, in order.
    window.__previews = {};
    new MutationObserver((muts) => {
      for (const m of muts) {
        const t = m.target;
        if (t.nodeType !== 1 || !t.classList.contains('preview')) continue;
        const card = t.closest('li.card');
        (window.__previews[card.dataset.index] ||= []).push(Number(t.dataset.step));
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-step'] });
  });

  await page.goto(`${base}/videos/${video}?token=${encodeURIComponent(token)}`);

  // While every video GPU is taken: the script and the reference are done, the shots wait in
  // the queue, and the stitch waits on them (shown as waiting, not queued).
  await page.waitForFunction((n) => {
    const st = (name) => document.getElementById(`stage-${name}`)?.dataset.state;
    const img = document.getElementById('reference');
    return st('script') === 'completed' && st('reference') === 'completed'
      && st('shots') === 'queued' && st('stitch') === 'waiting'
      && document.querySelectorAll('#scenes li.scene').length === n
      && img.complete && img.naturalWidth > 0;
  }, shotCount, { timeout: TIMEOUT, polling: 50 });
  const before = await page.evaluate(() => ({
    stitchBadge: document.querySelector('#stage-stitch .state').textContent,
    playerShown: !document.getElementById('final').hidden,
    story: document.body.dataset.story,
  }));
  findings.before = before;
  expect(before.stitchBadge === 'waiting', `the stitch says waiting: ${before.stitchBadge}`);
  expect(!before.playerShown, 'no player before the video is finished');
  expect(before.story === 'true', 'the page knows a story video');

  // The page watches: let the story's shots onto the GPUs.
  const freed = await fetch(`${base}/api/v1/videos/${blocker}/cancel`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${blockerToken}` },
  });
  expect(freed.ok, `the blocking video was cancelled (${freed.status})`);

  // The video completes; the player and every clip load their MP4's metadata.
  await page.waitForFunction((n) => {
    const player = document.getElementById('final-video');
    const clips = [...document.querySelectorAll('#shots li.card video.clip')];
    return document.body.dataset.videoState === 'completed'
      && !document.getElementById('final').hidden
      && player && player.readyState >= 1 && Number.isFinite(player.duration)
      && clips.length === n && clips.every((c) => !c.hidden && c.readyState >= 1);
  }, shotCount, { timeout: TIMEOUT, polling: 50 });

  const end = await page.evaluate(() => {
    const player = document.getElementById('final-video');
    const img = document.getElementById('reference');
    return {
      stages: [...document.querySelectorAll('#stages li.stage')].map((li) => ({
        name: li.dataset.stage, state: li.dataset.state, progress: li.dataset.progress,
      })),
      seen: window.__stages,
      scenes: [...document.querySelectorAll('#scenes li.scene')].map((li) => ({
        text: li.querySelector('.scene-text').textContent,
        prompt: li.querySelector('.scene-prompt').textContent,
      })),
      source: document.getElementById('script-source').textContent,
      sourceVisible: document.getElementById('script-source').offsetParent !== null,
      character: document.getElementById('character').textContent,
      reference: { width: img.naturalWidth, src: img.getAttribute('src') },
      player: {
        duration: player.duration,
        readyState: player.readyState,
        controls: player.controls,
        poster: player.getAttribute('poster'),
        src: player.getAttribute('src'),
        width: player.videoWidth,
      },
      previews: window.__previews,
      clips: [...document.querySelectorAll('#shots li.card')].map((c) => ({
        previewHidden: c.querySelector('img.preview').hidden,
        duration: c.querySelector('video.clip').duration,
        muted: c.querySelector('video.clip').muted,
        loop: c.querySelector('video.clip').loop,
        prompt: c.querySelector('.prompt').textContent,
      })),
      download: {
        href: document.getElementById('download').getAttribute('href'),
        download: document.getElementById('download').getAttribute('download'),
      },
    };
  });
  findings.stages = end.stages;
  findings.seen = end.seen;
  findings.player = end.player;
  findings.clips = end.clips.map((c) => c.duration);

  expect(end.stages.map((s) => s.name).join() === STAGES.join(), `four stages in order: ${JSON.stringify(end.stages)}`);
  expect(end.stages.every((s) => s.state === 'completed' && s.progress === '100'), `every stage completed: ${JSON.stringify(end.stages)}`);
  expect((end.seen.stitch || []).includes('waiting'), `the stitch was shown waiting: ${JSON.stringify(end.seen)}`);

  expect(end.scenes.length === shotCount, `${shotCount} scenes: ${end.scenes.length}`);
  expect(end.scenes.every((s) => s.text && s.prompt.startsWith('Prompt')), 'each scene shows its text and prompt');
  expect(end.source === 'written by splitter' && end.sourceVisible, `the splitter label: ${end.source}`);
  expect(end.character.length > 0, 'the character sheet is shown');
  expect(end.reference.width > 0, 'the reference image decoded');

  expect(end.player.controls && end.player.readyState >= 1, 'the player has controls and metadata');
  expect(end.player.width > 0, 'the player knows the video size');
  const clipSum = end.clips.reduce((sum, c) => sum + c.duration, 0);
  findings.duration = end.player.duration;
  findings.clip_sum = clipSum;
  // tiny-video's clips are 8 frames at 8 fps: one second each.
  expect(Math.abs(end.player.duration - clipSum) <= 0.05, `duration ${end.player.duration} = the clips' ${clipSum}`);
  expect(Math.abs(end.player.duration - shotCount) <= 0.05, `duration ${end.player.duration} = ${shotCount} s`);
  expect(end.clips.every((c) => c.muted && c.loop && c.prompt.length > 0), 'each clip is muted, loops and has its prompt');
  // Each shot's live preview while it rendered (the page watched from before the shots started),
  // then its clip in its place.
  findings.previews = end.previews;
  for (let i = 0; i < shotCount; i += 1) {
    const steps = end.previews[i] || [];
    expect(steps.length > 0 && steps.every((s) => s > 0 && s % 4 === 0), `shot ${i + 1} showed previews: ${JSON.stringify(steps)}`);
  }
  expect(end.clips.every((c) => c.previewHidden), 'each clip took its preview\'s place');

  // The links are the server's: the download is the video's artifact_url (signed again on each
  // read, whose expiry may have moved by a minute, so compared up to the query), and it serves
  // the MP4; the poster is the video's poster.
  const rest = await (await fetch(`${base}/api/v1/videos/${video}`, { headers: { Authorization: `Bearer ${token}` } })).json();
  const path = (u) => new URL(u, base).pathname;
  expect(typeof rest.artifact_url === 'string', 'the video has an artifact_url');
  expect(end.download.href && path(end.download.href) === path(rest.artifact_url), `download ${end.download.href} is ${rest.artifact_url}`);
  expect(end.download.href === end.player.src, 'the download is what the player plays');
  expect(end.download.download.endsWith('.mp4'), `download name: ${end.download.download}`);
  expect(path(end.player.poster) === path(rest.poster_url), `poster ${end.player.poster}`);
  expect(path(end.reference.src) === path(rest.reference_url), `reference ${end.reference.src}`);
  const mp4 = await fetch(new URL(end.download.href, base));
  expect(mp4.status === 200 && mp4.headers.get('content-type') === 'video/mp4', `download answers ${mp4.status} ${mp4.headers.get('content-type')}`);
  expect(rest.script.scenes.length === shotCount, 'the server wrote as many scenes');

  // Accessible: named bars, a language, no script or media errors.
  const a11y = await page.evaluate(() => ({
    unnamedBars: [...document.querySelectorAll('[role=progressbar]')].filter((b) => !b.getAttribute('aria-labelledby')).length,
    lang: document.documentElement.lang,
    imgAlt: document.getElementById('reference').alt,
  }));
  expect(a11y.unnamedBars === 0 && a11y.lang === 'en' && a11y.imgAlt, `accessibility: ${JSON.stringify(a11y)}`);
  expect(errors.length === 0, `no page errors: ${errors.join('; ')}`);

  if (screenshot) {
    // The finished page as a person sees it: the stream closed, clips at their first frame,
    // the player with its first frame decoded (not a loading spinner).
    await page.evaluate(() => {
      for (const v of document.querySelectorAll('video.clip')) { v.pause(); v.currentTime = 0; }
      document.getElementById('final-video').preload = 'auto';
    });
    await page.waitForFunction(() => {
      const player = document.getElementById('final-video');
      return document.body.dataset.conn === 'done' && player.readyState >= 4
        && player.networkState !== HTMLMediaElement.NETWORK_LOADING;
    }, null, { timeout: TIMEOUT });
    await page.screenshot({ path: screenshot, fullPage: true });
  }
  console.log(JSON.stringify({ ok: true, ...findings }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e.message || e), ...findings }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
