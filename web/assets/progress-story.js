// shotfarm's progress page, a story video's parts (loaded before progress.js, which drives it):
// the stage timeline (script → reference → shots → stitch), the script with its character sheet,
// the reference image, each shot's clip (in place of its live preview) and prompt, and the
// finished video's player. Stage events from the websocket move the timeline; what events do not
// carry (the script's text, the signed links) comes from the video JSON, which progress.js reads
// again when a stage or shot completes.
'use strict';

window.StoryView = (() => {
  const STAGES = ['script', 'reference', 'shots', 'stitch'];
  // Which stages each one waits for: core/src/domain/stage.rs `Stage::waits_for`, so a queued
  // job shows `waiting` exactly when the server would say so.
  const NEEDS = { script: [], reference: ['script'], shots: ['script', 'reference'], stitch: ['shots'] };
  const LABEL = { script: 'Script', reference: 'Reference image', shots: 'Shots', stitch: 'Stitch' };
  const FINAL = new Set(['completed', 'failed', 'cancelled']);

  const $ = (id) => document.getElementById(id);
  const items = {}; // stage name -> { el, state }
  let story = false;
  let scenesKey = '';

  for (const name of STAGES) {
    const el = document.querySelector(`#stages li[data-stage="${name}"]`);
    el.appendChild($('stage-item').content.cloneNode(true));
    const heading = el.querySelector('.name');
    heading.id = `stage-${name}-name`;
    heading.textContent = LABEL[name];
    el.id = `stage-${name}`;
    el.setAttribute('aria-labelledby', heading.id);
    el.querySelector('.bar').setAttribute('aria-labelledby', heading.id);
    items[name] = { el, state: null };
  }

  // A queued job whose stages before it are not all completed is waiting on them, not on a GPU.
  function shown(name, state) {
    if (state !== 'queued') return state;
    return NEEDS[name].some((n) => items[n].state !== 'completed') ? 'waiting' : 'queued';
  }

  function drawStage(name, stage) {
    const it = items[name];
    const el = it.el;
    it.state = stage.state;
    const pct = Math.round((stage.progress || 0) * 100);
    el.dataset.state = stage.state;
    el.dataset.progress = String(pct);
    el.dataset.attempt = String(stage.attempt || 1);
    el.querySelector('.state').textContent = stage.state;
    el.querySelector('.pct').textContent = `${pct}%`;
    const bar = el.querySelector('.bar');
    bar.setAttribute('aria-valuenow', String(pct));
    bar.setAttribute('aria-valuetext', `${pct}%, ${stage.state}`);
    bar.firstElementChild.style.width = `${pct}%`;
    el.querySelector('.attempt').textContent = String(stage.attempt || 1);
    // The shots stage has no one node: each shot card names its own.
    el.querySelector('.node').textContent = stage.node || (name === 'shots' ? 'per shot' : 'none');
    const error = el.querySelector('.error');
    error.hidden = !stage.error;
    error.textContent = stage.error ? `Error: ${stage.error}` : '';
  }

  // The shots stage as one state from the shot cards, as `shots_state` in web/src/wire/story.rs.
  function shotsStage(shots) {
    const known = shots.filter((s) => s.state !== null);
    if (!known.length) return;
    let state;
    if (known.every((s) => FINAL.has(s.state))) {
      if (known.every((s) => s.state === 'completed')) state = 'completed';
      else if (known.some((s) => s.state === 'failed')) state = 'failed';
      else state = 'cancelled';
    } else if (known.some((s) => s.state !== 'queued')) {
      state = 'running';
    } else {
      state = shown('shots', 'queued');
    }
    drawStage('shots', {
      state,
      progress: known.reduce((sum, s) => sum + s.progress, 0) / known.length,
      attempt: Math.max(...known.map((s) => s.attempt || 1)),
      node: null,
      error: (known.find((s) => s.error) || {}).error || null,
    });
  }

  // A websocket event of a stage job (`stage` is script, reference or stitch). Says whether the
  // video JSON should be read again: a completed stage left something to show.
  function applyStage(ev) {
    if (!items[ev.stage]) return false;
    drawStage(ev.stage, { ...ev, state: shown(ev.stage, ev.state) });
    // A stage that completes may stop the next one waiting.
    for (const name of STAGES) {
      if (items[name].state === 'waiting') drawStage(name, stageOf(name));
    }
    return ev.state === 'completed';
  }

  function stageOf(name) {
    const el = items[name].el;
    return {
      state: shown(name, 'queued'),
      progress: Number(el.dataset.progress) / 100,
      attempt: Number(el.dataset.attempt),
      node: null,
      error: null,
    };
  }

  // The video JSON (a snapshot, or a read of it): `stages` only when it is at least as new as
  // what the page has applied, the rest (script, links) whenever it is there.
  function render(video, withStages, cardFor) {
    story = Array.isArray(video.stages) && video.stages.length > 0;
    document.body.dataset.story = String(story);
    $('story').hidden = !story;
    if (!story) return;
    if (withStages) {
      for (const stage of video.stages) if (items[stage.name]) drawStage(stage.name, stage);
    }
    drawScript(video.script);
    if (video.reference_url) {
      const img = $('reference');
      // A link once: its signature changes with each read, and a new src would fetch again.
      if (!img.getAttribute('src')) img.src = video.reference_url;
      $('reference-figure').hidden = false;
    }
    for (const shot of video.shots) drawShot(cardFor(shot.index), shot);
    drawFinal(video);
  }

  function drawScript(script) {
    if (!script) return;
    const key = JSON.stringify(script);
    if (key === scenesKey) return;
    scenesKey = key;
    const source = $('script-source');
    source.textContent = `written by ${script.source}`;
    source.dataset.source = script.source;
    // The splitter is the stand-in for an LLM: labelled as simulated telemetry is.
    source.title = script.source === 'splitter'
      ? 'The deterministic scene splitter wrote this script, not a language model.'
      : `The ${script.source} model wrote this script.`;
    $('character').textContent = script.character;
    const list = $('scenes');
    list.replaceChildren(...script.scenes.map((scene) => {
      const li = document.createElement('li');
      li.className = 'scene';
      li.dataset.index = String(scene.index);
      const text = document.createElement('p');
      text.className = 'scene-text';
      text.textContent = scene.text;
      const prompt = document.createElement('p');
      prompt.className = 'scene-prompt';
      const label = document.createElement('span');
      label.className = 'label';
      label.textContent = 'Prompt';
      prompt.append(label, ' ', scene.prompt);
      li.append(text, prompt);
      return li;
    }));
    $('script').hidden = false;
  }

  function drawShot(card, shot) {
    if (!card) return;
    const prompt = card.querySelector('.prompt');
    if (shot.prompt) {
      prompt.textContent = shot.prompt;
      prompt.hidden = false;
    }
    if (shot.state === 'completed' && shot.artifact_url) {
      const clip = card.querySelector('.clip');
      if (!clip.getAttribute('src')) {
        clip.src = shot.artifact_url;
        clip.setAttribute('aria-label', `Shot ${shot.index + 1}`);
      }
      clip.hidden = false;
      // The live preview gives way to the clip it was becoming.
      card.querySelector('.preview').hidden = true;
    }
  }

  function drawFinal(video) {
    if (!video.artifact_url) return;
    const player = $('final-video');
    if (!player.getAttribute('src')) {
      if (video.poster_url) player.poster = video.poster_url;
      player.src = video.artifact_url;
    }
    const link = $('download');
    // The newest signed link: a page left open keeps a download that works.
    link.href = video.artifact_url;
    const name = (video.title || video.id).replace(/[^\w .-]+/g, '').trim() || 'video';
    link.download = `${name}.mp4`;
    $('final').hidden = false;
  }

  return {
    isStory: () => story,
    applyStage,
    shotsStage,
    render,
  };
})();
