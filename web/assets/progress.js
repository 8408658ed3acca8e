// shotfarm's progress page: follows one video over its progress websocket and draws a card per
// shot. Reconnects by itself with `since`, so a dropped connection loses nothing; the token comes
// from `?token=` (then leaves the address bar) or from local storage. A story video's stages,
// script, reference image and finished video are drawn by progress-story.js (StoryView). Its
// owner gets controls (pause, pause now, resume, retry, priority, move ahead of another of their
// unfinished videos), each confirmed before it is sent, and
// on each completed shot of a completed video a Re-roll button (confirmed too) with the shot's
// finished versions listed as download links.
'use strict';

(() => {
  const TOKEN_KEY = 'shotfarm.token';
  const FINAL = new Set(['completed', 'failed', 'cancelled']);
  const STATE_TEXT = {
    queued: 'queued', assigned: 'assigned', running: 'running', preempted: 'preempted',
    paused: 'paused', completed: 'completed', failed: 'failed', cancelled: 'cancelled',
  };
  const MAX_BACKOFF_MS = 10000;

  const $ = (id) => document.getElementById(id);
  const videoId = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] || '');

  const view = {
    lastSeq: null,      // the last seq applied; sent back as `since` on reconnect
    videoState: null,
    videoProgress: 0,   // the server's, which counts a story video's stages too
    final: false,
    shots: [],          // per index: { el, state, attempt, node, step, steps, progress, eta, preemptions, checkpoint }
    socket: null,
    retries: 0,
    retryTimer: null,
    token: null,
    reading: false,     // a read of the video JSON is in flight
    readAgain: false,   // and another was asked for meanwhile
    owner: false,       // the snapshot showed us the prompts: we own the video
    rerolling: false,   // some shot is being re-rolled (the video JSON's `rerolling`)
    paused: false,      // some of its shots are held by the owner's pause
    priority: 'standard', // the video's priority (the owner may change it within their plan)
  };

  // ---- token ---------------------------------------------------------------------------------

  function loadToken() {
    const params = new URLSearchParams(location.search);
    const fromUrl = params.get('token');
    if (fromUrl) {
      store(fromUrl);
      params.delete('token');
      const rest = params.toString();
      history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
      return fromUrl;
    }
    try {
      return localStorage.getItem(TOKEN_KEY);
    } catch (_) {
      return null;
    }
  }

  function store(token) {
    try {
      localStorage.setItem(TOKEN_KEY, token);
    } catch (_) {
      // Storage may be off (private mode): the token then lives as long as the page.
    }
  }

  function askForToken(why) {
    setConn('needs-token', 'Not connected');
    $('token-why').textContent = why;
    $('token-form').hidden = false;
    $('token-input').focus();
  }

  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('token-input').value.trim();
    if (!token) return;
    store(token);
    view.token = token;
    $('token-form').hidden = true;
    $('token-input').value = '';
    hideNotice();
    connect();
  });

  // ---- connection ----------------------------------------------------------------------------

  function setConn(state, text) {
    document.body.dataset.conn = state;
    $('conn').textContent = text;
  }

  function connect() {
    clearTimeout(view.retryTimer);
    if (!view.token) {
      askForToken('This page needs an access token: open it with ?token=… or paste one here.');
      return;
    }
    const params = new URLSearchParams({ token: view.token });
    if (view.lastSeq !== null) params.set('since', String(view.lastSeq));
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const url = `${scheme}://${location.host}/api/v1/videos/${encodeURIComponent(videoId)}/progress?${params}`;
    let opened = false;
    const ws = new WebSocket(url);
    view.socket = ws;
    setConn('connecting', view.retries ? 'Reconnecting…' : 'Connecting…');

    ws.addEventListener('open', () => {
      opened = true;
      view.retries = 0;
      setConn('live', 'Live');
      hideNotice();
    });
    ws.addEventListener('message', (e) => {
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch (_) {
        return;
      }
      apply(msg);
    });
    ws.addEventListener('close', (e) => {
      if (view.socket !== ws) return;
      view.socket = null;
      if (view.final) {
        setConn('done', 'Finished');
        return;
      }
      if (e.code === 1008) {
        askForToken('Your access token has expired. Paste a new one to keep watching.');
        return;
      }
      if (!opened) {
        diagnose();
        return;
      }
      retry();
    });
  }

  function retry() {
    view.retries += 1;
    const base = Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(view.retries, 6));
    const wait = base / 2 + Math.random() * base / 2;
    setConn('reconnecting', `Reconnecting in ${Math.ceil(wait / 1000)} s…`);
    view.retryTimer = setTimeout(connect, wait);
  }

  // A socket that never opened says nothing about why: ask the REST API, which does.
  async function diagnose() {
    try {
      const resp = await fetch(`/api/v1/videos/${encodeURIComponent(videoId)}`, {
        headers: { Authorization: `Bearer ${view.token}` },
      });
      if (resp.status === 401) {
        askForToken('The access token was refused (expired or not valid). Paste another one.');
        return;
      }
      if (resp.status === 404) {
        setConn('not-found', 'Not found');
        showNotice(`There is no video ${videoId} for this token.`);
        return;
      }
      if (resp.ok) {
        const video = await resp.json();
        if (view.lastSeq === null || video.seq > view.lastSeq) {
          // Draw what the server has while the socket cannot connect.
          renderSnapshot(video, video.seq);
        }
        if (view.final) {
          setConn('done', 'Finished');
          return;
        }
      }
    } catch (_) {
      // Offline or the server is down: keep trying.
    }
    retry();
  }

  window.addEventListener('online', () => {
    if (!view.socket && !view.final && view.token) connect();
  });

  // ---- events --------------------------------------------------------------------------------

  function apply(msg) {
    if (msg.type === 'snapshot') {
      renderSnapshot(msg.video, msg.seq);
      return;
    }
    // Each event is applied once, in order; anything at or below what we have is old news.
    if (typeof msg.seq !== 'number' || (view.lastSeq !== null && msg.seq <= view.lastSeq)) return;
    view.lastSeq = msg.seq;
    document.body.dataset.lastSeq = String(msg.seq);
    if (msg.type === 'shot' && msg.stage) {
      // A story video's script, reference or stitch job: a stage, not a shot card.
      if (StoryView.applyStage(msg)) readVideo();
    } else if (msg.type === 'shot') {
      applyShot(msg);
      if (msg.state === 'completed') readVersions();
      if (StoryView.isStory()) {
        StoryView.shotsStage(view.shots);
        if (msg.state === 'completed') readVideo();
      }
    } else if (msg.type === 'video') {
      view.videoProgress = msg.progress;
      applyVideo(msg.state);
    }
  }

  // Events carry no text and no links: once a stage or shot completes, the video JSON has what
  // it left (the script, the signed links of the reference, the clip, the finished video). One
  // read at a time; asks made meanwhile become one more read after it.
  async function readVideo() {
    if (view.reading) {
      view.readAgain = true;
      return;
    }
    view.reading = true;
    try {
      const resp = await fetch(`/api/v1/videos/${encodeURIComponent(videoId)}`, {
        headers: { Authorization: `Bearer ${view.token}` },
      });
      if (resp.ok) {
        const video = await resp.json();
        // Its stages only if no newer event was applied while it was read.
        StoryView.render(video, view.lastSeq === null || video.seq >= view.lastSeq, card);
      }
    } catch (_) {
      // Offline: the next completion (or the reconnect's snapshot) brings it.
    } finally {
      view.reading = false;
      if (view.readAgain) {
        view.readAgain = false;
        readVideo();
      }
    }
  }

  function card(index) {
    return view.shots[index] ? view.shots[index].el : null;
  }

  // An operator's hold is no event of the video: its JSON's `held` says it. Read on every
  // snapshot and then every HELD_EVERY_MS while the video is unfinished.
  const HELD_EVERY_MS = 5000;
  let heldTimer = null;
  async function readHeld() {
    try {
      const resp = await fetch(`/api/v1/videos/${encodeURIComponent(videoId)}`, {
        headers: { Authorization: `Bearer ${view.token}` },
      });
      if (!resp.ok) return;
      const video = await resp.json();
      const held = $('held');
      held.textContent = video.held || '';
      held.hidden = !video.held;
    } catch (_) {
      // Offline: the next read tells.
    }
    if (heldTimer === null && !view.final) {
      heldTimer = setInterval(() => {
        if (view.final) {
          clearInterval(heldTimer);
          $('held').hidden = true;
          return;
        }
        readHeld();
      }, HELD_EVERY_MS);
    }
  }

  function renderSnapshot(video, seq) {
    view.lastSeq = seq;
    readHeld();
    renderVersions(video);
    document.body.dataset.lastSeq = String(seq);
    $('title').textContent = video.title || 'Untitled video';
    document.title = `${video.title || 'Video'} · shotfarm`;
    $('video-id').textContent = video.id;
    ensureCards(video.shots.length);
    for (const shot of video.shots) {
      const s = view.shots[shot.index];
      if (!s) continue;
      if (s.state === null) {
        s.preemptions = shot.preemptions || 0;
      } else if (shot.preemptions > s.preemptions) {
        s.preemptions = shot.preemptions;
      }
      update(s, shot);
      // The owner's snapshot carries each running shot's latest preview.
      if (shot.preview) drawPreview(s.el, shot.preview);
    }
    view.videoProgress = video.progress;
    StoryView.render(video, true, card);
    // Only the owner is shown prompts (an empty one for a story shot not yet scripted).
    view.owner = video.shots.some((shot) => typeof shot.prompt === 'string');
    view.paused = Boolean(video.paused);
    if (video.priority) view.priority = video.priority;
    applyVideo(video.state);
    if (view.owner && !view.final) listOthers();
  }

  function applyShot(ev) {
    ensureCards(ev.index + 1);
    const s = view.shots[ev.index];
    if (ev.state === 'preempted' && s.state !== 'preempted') s.preemptions += 1;
    update(s, ev);
    if (ev.preview) drawPreview(s.el, ev.preview);
    if (ev.state === 'paused') view.paused = true;
    else if (view.paused && !view.shots.some((sh) => sh.state === 'paused')) view.paused = false;
    showControls();
  }

  // A running shot's live preview: a small picture of its latent every few steps, carried on
  // its step events to the owner only (as an image `data:` URL, never stored). It stays until
  // the next one, and gives way to the clip where the page shows clips.
  function drawPreview(el, preview) {
    if (typeof preview.image !== 'string' || !preview.image.startsWith('data:image/')) return;
    const img = el.querySelector('.preview');
    img.src = preview.image;
    img.dataset.step = String(preview.step);
    img.alt = `Shot ${Number(el.dataset.index) + 1} taking shape, step ${preview.step}`;
    img.title = `Live preview at step ${preview.step}`;
    img.hidden = !el.querySelector('.clip').hidden;
  }

  function applyVideo(state) {
    view.videoState = state;
    const badge = $('video-state');
    badge.textContent = STATE_TEXT[state] || state;
    badge.dataset.state = state;
    document.body.dataset.videoState = state;
    if (FINAL.has(state) && !view.final) {
      view.final = true;
      announce(`Video ${state}.`);
    } else if (!FINAL.has(state)) {
      view.final = false; // retried
    }
    summarize();
    showControls();
    showRerolls();
  }

  // ---- re-rolls --------------------------------------------------------------------------------

  // Events carry no links: a shot's versions (each with its signed link) come from the video
  // JSON, read on every snapshot, after each completion and after a re-roll.
  async function readVersions() {
    try {
      const resp = await fetch(`/api/v1/videos/${encodeURIComponent(videoId)}`, {
        headers: { Authorization: `Bearer ${view.token}` },
      });
      if (resp.ok) renderVersions(await resp.json());
    } catch (_) {
      // Offline: the next completion or snapshot reads them again.
    }
  }

  function renderVersions(video) {
    view.rerolling = Boolean(video.rerolling);
    ensureCards(video.shots.length);
    for (const shot of video.shots) {
      const s = view.shots[shot.index];
      if (!s) continue;
      s.version = shot.version || 1;
      s.el.dataset.version = String(s.version);
      const list = s.el.querySelector('.versions');
      list.replaceChildren();
      for (const v of shot.versions || []) {
        const item = document.createElement('li');
        item.dataset.version = String(v.version);
        const label = `Version ${v.version} (seed ${v.seed})`;
        if (v.artifact_url) {
          const link = document.createElement('a');
          link.href = v.artifact_url;
          link.textContent = label;
          link.setAttribute('download', '');
          item.appendChild(link);
        } else {
          item.textContent = `${label}, no clip (simulated)`;
        }
        list.appendChild(item);
      }
      // One version is just the shot itself: the list shows once there is a choice.
      list.hidden = (shot.versions || []).length < 2;
    }
    showRerolls();
  }

  // A completed shot of the owner's completed video (or of one busy only with re-rolls).
  function showRerolls() {
    const open = view.owner && (view.videoState === 'completed' || view.rerolling);
    for (const s of view.shots) {
      s.el.querySelector('.reroll').hidden = !(open && s.state === 'completed');
    }
  }

  async function reroll(index) {
    const s = view.shots[index];
    if (!s) return;
    const next = (s.version || 1) + 1;
    const ask = `Re-roll shot ${index + 1}? It renders again with a new seed as version ${next}, `
      + 'its earlier versions stay downloadable, and the video is put back together; this costs '
      + 'a fraction of a credit on a metered plan.';
    if (!window.confirm(ask)) return;
    const button = s.el.querySelector('.reroll-button');
    button.disabled = true;
    try {
      const resp = await fetch(
        `/api/v1/videos/${encodeURIComponent(videoId)}/shots/${index}/reroll`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${view.token}`, 'Content-Type': 'application/json' },
          body: '{}',
        },
      );
      const answer = await resp.json().catch(() => ({}));
      if (!resp.ok) {
        showNotice(`Could not re-roll shot ${index + 1}: ${answer.detail || resp.status}`);
        return;
      }
      hideNotice();
      renderVersions(answer);
      applyVideo(answer.state);
      // The stream of a video that was final has ended: follow the re-roll from where it was.
      if (!view.final && !view.socket) connect();
      announce(`Shot ${index + 1} re-rolling as version ${next}.`);
      document.body.dataset.lastControl = 'reroll';
    } catch (_) {
      showNotice(`Could not re-roll shot ${index + 1}: the server is not reachable.`);
    } finally {
      button.disabled = false;
    }
  }

  $('shots').addEventListener('click', (e) => {
    const button = e.target.closest('button.reroll-button');
    const card = button && button.closest('li.card');
    if (card) reroll(Number(card.dataset.index));
  });

  // ---- the owner's controls --------------------------------------------------------------------

  const CONTROLS = {
    pause: {
      path: 'pause', body: { now: false }, done: 'Paused',
      confirm: 'Pause this video? Queued shots wait until you resume it; running shots finish.',
    },
    'pause-now': {
      path: 'pause', body: { now: true }, done: 'Paused now',
      confirm: 'Pause this video now? Running shots stop at their next step and resume from '
        + 'their last checkpoint when you resume it.',
    },
    resume: {
      path: 'resume', done: 'Resumed',
      confirm: 'Resume this video? Its paused shots go back to the queue in their old places.',
    },
    retry: {
      path: 'retry', done: 'Retrying',
      confirm: 'Retry this video? Its failed shots start over; this costs one credit on a '
        + 'metered plan.',
    },
    // PATCH /api/v1/videos/{id}: the priority within the plan, and a move ahead of another of
    // the owner's own videos (other users' places are untouched either way).
    priority: {
      method: 'PATCH', path: '', verb: 'change the priority', done: 'Priority changed',
      body: () => ({ priority: view.priority === 'high' ? 'standard' : 'high' }),
      confirm: () => (view.priority === 'high'
        ? 'Lower this video to standard priority?'
        : 'Raise this video to high priority? Your plan must allow it.'),
    },
    move: {
      method: 'PATCH', path: '', verb: 'move it', done: 'Moved',
      body: () => ({ before: $('move-before').value }),
      confirm: () => `Move this video ahead of ${$('move-before').selectedOptions[0]?.text}? `
        + 'Only the order of your own videos changes.',
    },
  };

  // The owner's other unfinished videos, the choices of "Move ahead of" (their first page, 100).
  async function listOthers() {
    try {
      const resp = await fetch('/api/v1/videos?limit=100', {
        headers: { Authorization: `Bearer ${view.token}` },
      });
      if (!resp.ok) return;
      const { videos = [] } = await resp.json();
      const select = $('move-before');
      const chosen = select.value;
      select.replaceChildren(...videos
        .filter((v) => v.id !== videoId && !FINAL.has(v.state))
        .map((v) => {
          const option = document.createElement('option');
          option.value = v.id;
          option.textContent = `${v.title || v.id} (${STATE_TEXT[v.state] || v.state})`;
          return option;
        }));
      if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
      showControls();
    } catch (_) {
      // The list is a convenience: without it the page offers no move.
    }
  }

  function showControls() {
    const state = view.videoState;
    const live = view.owner && state !== null;
    $('controls').hidden = !live || (FINAL.has(state) && state !== 'failed');
    $('pause').hidden = !live || view.final || view.paused;
    $('pause-now').hidden = $('pause').hidden;
    $('resume').hidden = !live || view.final || !view.paused;
    $('retry').hidden = !live || state !== 'failed';
    $('priority').hidden = !live || view.final;
    $('priority').textContent = view.priority === 'high' ? 'Lower to standard' : 'Raise to high';
    $('move').hidden = !live || view.final || $('move-before').options.length === 0;
  }

  async function control(action) {
    const c = CONTROLS[action];
    const ask = c && (typeof c.confirm === 'function' ? c.confirm() : c.confirm);
    if (!c || !window.confirm(ask)) return;
    const verb = c.verb || c.path;
    const buttons = $('controls').querySelectorAll('button');
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const path = c.path ? `/${c.path}` : '';
      const resp = await fetch(`/api/v1/videos/${encodeURIComponent(videoId)}${path}`, {
        method: c.method || 'POST',
        headers: { Authorization: `Bearer ${view.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify((typeof c.body === 'function' ? c.body() : c.body) || {}),
      });
      const answer = await resp.json().catch(() => ({}));
      if (!resp.ok) {
        showNotice(`Could not ${verb}: ${answer.detail || resp.status}`);
        return;
      }
      hideNotice();
      view.paused = Boolean(answer.paused);
      if (answer.priority) view.priority = answer.priority;
      applyVideo(answer.state);
      // A retried video was final: its stream had ended, so follow it again.
      if (!view.final && !view.socket) connect();
      announce(`${c.done}.`);
      document.body.dataset.lastControl = action;
    } catch (_) {
      showNotice(`Could not ${verb}: the server is not reachable.`);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
      showControls();
    }
  }

  $('controls').addEventListener('click', (e) => {
    const button = e.target.closest('button[data-action]');
    if (button) control(button.dataset.action);
  });

  // ---- drawing -------------------------------------------------------------------------------

  function ensureCards(n) {
    const list = $('shots');
    const template = $('shot-card');
    while (view.shots.length < n) {
      const index = view.shots.length;
      const el = template.content.firstElementChild.cloneNode(true);
      el.dataset.index = String(index);
      el.id = `shot-${index}`;
      el.querySelector('.n').textContent = String(index + 1);
      el.setAttribute('aria-labelledby', `shot-${index}-name`);
      el.querySelector('.name').id = `shot-${index}-name`;
      el.querySelector('.bar').setAttribute('aria-labelledby', `shot-${index}-name`);
      list.appendChild(el);
      view.shots.push({
        el, state: null, attempt: 1, node: null, step: 0, steps: 0, progress: 0, eta: null,
        preemptions: 0, resumedFrom: null,
      });
    }
  }

  function update(s, shot) {
    const el = s.el;
    const before = s.state;
    const name = `Shot ${Number(el.dataset.index) + 1}`;
    s.state = shot.state;
    s.attempt = shot.attempt;
    s.node = shot.node;
    s.step = shot.step;
    s.steps = shot.steps;
    s.progress = shot.progress;
    s.eta = shot.eta || null;

    const pct = Math.round(shot.progress * 100);
    el.dataset.state = shot.state;
    el.dataset.progress = String(pct);
    el.dataset.attempt = String(shot.attempt);
    el.dataset.preemptions = String(s.preemptions);
    el.dataset.node = shot.node || '';
    el.querySelector('.state').textContent = STATE_TEXT[shot.state] || shot.state;
    el.querySelector('.pct').textContent = `${pct}%`;
    const bar = el.querySelector('.bar');
    bar.setAttribute('aria-valuenow', String(pct));
    bar.setAttribute('aria-valuetext', `${pct}%, ${shot.state}`);
    bar.firstElementChild.style.width = `${pct}%`;
    el.querySelector('.step').textContent = `${shot.step} / ${shot.steps}`;
    el.querySelector('.attempt').textContent = String(shot.attempt);
    el.querySelector('.node').textContent = shot.node || 'none';
    el.querySelector('.eta').textContent = etaText(s.eta, shot.state);

    const error = el.querySelector('.error');
    error.hidden = !shot.error;
    error.textContent = shot.error ? `Error: ${shot.error}` : '';

    if (before !== shot.state) {
      pushHistory(el, shot.state, shot.attempt);
      const note = el.querySelector('.preempt');
      if (shot.state === 'preempted') {
        el.classList.add('was-preempted');
        s.resumedFrom = shot.step;
        note.hidden = false;
        note.textContent = `Preempted on ${shot.node || 'its node'} at step ${shot.step}; `
          + 'it will resume from its last checkpoint.';
        announce(`${name} preempted at step ${shot.step}.`);
      } else if (before === 'preempted' && shot.state === 'queued') {
        note.textContent = `Preempted; requeued as attempt ${shot.attempt}, `
          + `resuming from step ${shot.step}.`;
      } else if (shot.state === 'running' && s.preemptions > 0 && !note.hidden) {
        note.textContent = `Recovered after preemption: attempt ${shot.attempt} running on `
          + `${shot.node || 'a new node'} from step ${shot.step}.`;
        announce(`${name} resumed on ${shot.node || 'a new node'}.`);
      } else if (FINAL.has(shot.state)) {
        announce(`${name} ${shot.state}.`);
      }
    }
    el.dataset.preemptions = String(s.preemptions);
    summarize();
    showRerolls();
  }

  function pushHistory(el, state, attempt) {
    const list = el.querySelector('.history');
    const item = document.createElement('li');
    item.textContent = attempt > 1 ? `${state} (attempt ${attempt})` : state;
    item.dataset.state = state;
    list.appendChild(item);
  }

  function summarize() {
    const shots = view.shots.filter((s) => s.state !== null);
    if (!shots.length) return;
    const progress = StoryView.isStory()
      ? view.videoProgress
      : shots.reduce((sum, s) => sum + s.progress, 0) / shots.length;
    const pct = Math.round(progress * 100);
    $('video-pct').textContent = `${pct}%`;
    const bar = $('video-bar');
    bar.setAttribute('aria-valuenow', String(pct));
    bar.firstElementChild.style.width = `${pct}%`;
    const etas = shots.map((s) => s.eta).filter(Boolean).map((t) => Date.parse(t));
    $('video-eta').textContent = view.final || !etas.length
      ? '' : `done ${etaText(new Date(Math.max(...etas)).toISOString(), 'running')}`;
  }

  function etaText(eta, state) {
    if (FINAL.has(state)) return '–';
    if (!eta) return state === 'running' || state === 'assigned' ? 'estimating…' : '–';
    const s = Math.max(0, Math.round((Date.parse(eta) - Date.now()) / 1000));
    if (s < 60) return `in ~${s} s`;
    return `in ~${Math.floor(s / 60)} min ${s % 60} s`;
  }

  // ETAs count down between events.
  setInterval(() => {
    for (const s of view.shots) {
      if (s.state !== null) s.el.querySelector('.eta').textContent = etaText(s.eta, s.state);
    }
    if (view.shots.length) summarize();
  }, 1000);

  // ---- notices -------------------------------------------------------------------------------

  function announce(text) {
    const a = $('announcer');
    const p = document.createElement('p');
    p.textContent = text;
    a.appendChild(p);
    while (a.childElementCount > 5) a.firstElementChild.remove();
  }

  function showNotice(text) {
    const n = $('notice');
    n.textContent = text;
    n.hidden = false;
  }

  function hideNotice() {
    $('notice').hidden = true;
  }

  // ---- start ---------------------------------------------------------------------------------

  if (!videoId) {
    showNotice('No video id in the address: open /videos/<id>.');
    return;
  }
  view.token = loadToken();
  connect();
})();
