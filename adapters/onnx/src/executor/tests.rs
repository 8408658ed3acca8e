//! Tests of the ONNX executor against the bundled models and the Python onnxruntime's references
//! (`models/tiny-video/reference.json`, `models/tiny-image/reference.json`, written by
//! `models/export_tiny.py`). They run real inference through ort:
//! `scripts/ensure-onnxruntime.sh` must have installed the library. Image-to-video and the
//! reference stage are in `tests/story.rs`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use serde_json::Value;

use super::*;
use crate::locate::resolve;
use crate::model::ModelSessions;
use shotfarm_actors::adapters::MemoryArtifacts;
use shotfarm_actors::ports::{ArtifactStore, DirectStorage};
use shotfarm_core::domain::ShotSpec;
use shotfarm_core::ids::{NodeId, ShotId, VideoId};

mod story;

const MODEL: &str = "tiny-video";
const IMAGE_MODEL: &str = "tiny-image";

/// The embedded default with its data under a fresh temporary directory.
fn settings(name: &str, pace: bool) -> (Settings, PathBuf) {
    let dir = std::env::temp_dir().join(format!("shotfarm-onnx-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut s = Settings::load(None, Vec::new()).expect("embedded default");
    s.executor.data_dir = dir.clone();
    s.timing.time_factor = 1.0;
    for model in [MODEL, IMAGE_MODEL] {
        let onnx = s
            .models
            .get_mut(model)
            .and_then(|m| m.onnx.as_mut())
            .expect("the bundled models have an onnx entry");
        onnx.pace_to_profile = pace;
    }
    (s, dir)
}

fn reference() -> Value {
    json_file("models/tiny-video/reference.json")
}

fn json_file(path: &str) -> Value {
    let path = resolve(Path::new(path)).unwrap_or_else(|| panic!("{path}"));
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
}

fn bytes_file(path: &str) -> Vec<u8> {
    let path = resolve(Path::new(path)).unwrap_or_else(|| panic!("{path}"));
    std::fs::read(path).expect("read")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Fresh sessions for the bundled video model, as a node would hold them.
fn sessions(s: &Settings) -> ModelSessions {
    sessions_of(s, MODEL)
}

/// Fresh sessions for one bundled model.
fn sessions_of(s: &Settings, model: &str) -> ModelSessions {
    let runtime =
        OrtRuntime::get(&s.executor).expect("onnx runtime (run scripts/ensure-onnxruntime.sh)");
    let onnx = s.models[model].onnx.as_ref().expect("onnx");
    let spec = Arc::new(ModelSpec::resolve(model, onnx).expect("model files"));
    ModelSessions::create(&runtime, spec, Provider::Cpu, 0, 1).expect("sessions")
}

/// Runs steps `from+1..=to` of `steps` on `latent` without a reference image.
fn run_steps(
    m: &mut ModelSessions,
    latent: Vec<f32>,
    cond: &[f32],
    from: u32,
    to: u32,
    steps: u32,
) -> Vec<f32> {
    run_steps_with(m, latent, cond, None, (from, to, steps))
}

/// Runs steps `from+1..=to` of `steps` on `latent`, conditioned on `image` when given.
fn run_steps_with(
    m: &mut ModelSessions,
    mut latent: Vec<f32>,
    cond: &[f32],
    image: Option<&[f32]>,
    (from, to, steps): (u32, u32, u32),
) -> Vec<f32> {
    for step in from + 1..=to {
        latent = m
            .denoise(&latent, inputs::timestep(step, steps), cond, image)
            .expect("denoise");
    }
    latent
}

#[test]
fn prompt_and_seed_derive_the_same_inputs_as_the_python_script() {
    let r = reference();
    let n = r["latent_shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dim") as usize)
        .product();
    for case in r["derivation_cases"].as_array().expect("cases") {
        let prompt = case["prompt"].as_str().expect("prompt");
        let seed = case["seed"].as_u64().expect("seed");
        let noise = inputs::initial_noise(seed, n);
        assert_eq!(noise[..16], floats(&case["noise_head"])[..], "{prompt:?}");
        assert_eq!(
            format!("{:016x}", inputs::fnv1a64(&le_bytes(&noise))),
            case["noise_fnv1a64"].as_str().expect("hash"),
            "every noise value of seed {seed}"
        );
        let cond = inputs::conditioning(prompt, 32);
        assert_eq!(cond, floats(&case["conditioning"]), "{prompt:?}");
    }
    let steps = r["steps"].as_u64().expect("steps") as u32;
    let ts: Vec<f32> = (1..=steps).map(|k| inputs::timestep(k, steps)).collect();
    assert_eq!(ts, floats(&r["timesteps"]));
}

#[test]
fn the_bundled_model_gives_the_python_onnxruntime_results() {
    let r = reference();
    let (s, _) = settings("reference", false);
    let mut m = sessions(&s);
    let onnx = s.models[MODEL].onnx.as_ref().expect("onnx");
    let steps = r["steps"].as_u64().expect("steps") as u32;
    let cond = inputs::conditioning(r["prompt"].as_str().expect("prompt"), onnx.conditioning_dim);
    let noise = inputs::initial_noise(r["seed"].as_u64().expect("seed"), onnx.latent_len());
    let latent = run_steps(&mut m, noise, &cond, 0, steps, steps);
    let diff = max_abs_diff(&latent, &floats(&r["final_latent"]));
    assert!(
        diff <= 1e-5,
        "final latent differs from the reference by {diff}"
    );

    let frames = m.decode(&latent).expect("decode");
    let f = &r["frames"];
    assert_eq!(
        (frames.count, frames.height, frames.width),
        (
            f["count"].as_u64().expect("count") as usize,
            f["height"].as_u64().expect("height") as usize,
            f["width"].as_u64().expect("width") as usize
        )
    );
    let rgb = &frames.rgb;
    let path = resolve(Path::new("models/tiny-video/reference_frames.rgb")).expect("frames file");
    let expected = std::fs::read(path).expect("read frames");
    assert_eq!(rgb.len(), expected.len());
    let off_by_more_than_one = rgb
        .iter()
        .zip(&expected)
        .filter(|(a, b)| a.abs_diff(**b) > 1)
        .count();
    assert_eq!(off_by_more_than_one, 0, "pixels differ from the reference");
    let frame_len = frames.height * frames.width * 3;
    for (i, want) in floats(&f["mean_per_frame"]).iter().enumerate() {
        let chunk = &rgb[i * frame_len..(i + 1) * frame_len];
        let mean = chunk.iter().map(|&v| f64::from(v)).sum::<f64>() / frame_len as f64;
        assert!(
            (mean as f32 - want).abs() < 0.05,
            "frame {i}: {mean} vs {want}"
        );
    }
}

#[test]
fn resuming_from_a_checkpoint_gives_the_uninterrupted_final_latent() {
    let r = reference();
    let (s, dir) = settings("resume", false);
    let onnx = s.models[MODEL].onnx.as_ref().expect("onnx");
    let steps = r["steps"].as_u64().expect("steps") as u32;
    let cond = inputs::conditioning(r["prompt"].as_str().expect("prompt"), onnx.conditioning_dim);
    let noise = inputs::initial_noise(r["seed"].as_u64().expect("seed"), onnx.latent_len());

    let mut first_node = sessions(&s);
    let uninterrupted = run_steps(&mut first_node, noise.clone(), &cond, 0, steps, steps);

    // The first attempt stops after step 10 and saves its latent (as its bytes)...
    let shot = ShotId::from("shot_resume_0");
    let at_10 = run_steps(&mut first_node, noise, &cond, 0, 10, steps);
    assert!(max_abs_diff(&at_10, &floats(&r["latent_after_step_10"])) <= 1e-5);
    let saved = Checkpoint {
        step: 10,
        shape: onnx.latent_shape.clone(),
        latent: at_10,
    }
    .encode();
    // ...and a second attempt on another node's sessions resumes there.
    let mut second_node = sessions(&s);
    let cp = shotfarm_actors::ports::decode_checkpoint(&shot, 10, &saved).expect("checkpoint");
    let resumed = run_steps(&mut second_node, cp.latent, &cond, 10, steps, steps);
    assert_eq!(le_bytes(&resumed), le_bytes(&uninterrupted), "bit for bit");
    let _ = std::fs::remove_dir_all(dir);
}

/// An empty memory store, and the executor's storage on it.
fn memory() -> (Arc<MemoryArtifacts>, Arc<DirectStorage>) {
    let store = Arc::new(MemoryArtifacts::new());
    let storage = Arc::new(DirectStorage::new(store.clone() as Arc<dyn ArtifactStore>));
    (store, storage)
}

/// The stored clip under `key`.
async fn clip_bytes(store: &MemoryArtifacts, key: &str) -> Vec<u8> {
    stored(store, key).await.bytes
}

/// The object stored under `key`, with its content type.
async fn stored(store: &MemoryArtifacts, key: &str) -> shotfarm_actors::ports::Clip {
    let object = store.get(key, None).await.expect("load").expect("stored");
    let content_type = object.content_type.clone();
    shotfarm_actors::ports::Clip {
        content_type,
        bytes: object.bytes().await.expect("body").to_vec(),
    }
}

/// Collects an executor's events.
struct Collector {
    seen: Arc<Mutex<Vec<ExecEvent>>>,
    /// Asks the run to stop once this step is reported.
    stop_after: Option<(u32, ExecHandle)>,
}

impl Actor for Collector {
    type Context = Context<Self>;
}

impl Handler<ExecEvent> for Collector {
    type Result = ();
    fn handle(&mut self, msg: ExecEvent, _: &mut Context<Self>) {
        if let (ExecEvent::Stepped { step, .. }, Some((at, handle))) = (&msg, &self.stop_after) {
            if step >= at {
                handle.stop();
            }
        }
        self.seen.lock().expect("lock").push(msg);
    }
}

pub(super) fn job(node: &str, attempt: u32, from_step: u32, seconds_per_step: f64) -> ExecJob {
    ExecJob {
        shot: ShotId::from("shot_exec_0"),
        video: VideoId::from("vid_exec"),
        attempt,
        node: NodeId::from(node),
        spec: ShotSpec {
            prompt: "a fox in snow, dawn".into(),
            duration_s: 8,
            model: MODEL.into(),
            seed: 7,
            steps: 20,
        },
        gpu_model: "A100-80GB".into(),
        gpus: vec![0],
        from_step,
        seconds_per_step,
        checkpoint_every_steps: 1,
        stage: Default::default(),
        inputs: Default::default(),
    }
}

/// Starts `job` and waits for its last event; returns every event.
pub(super) async fn run(
    exec: &OnnxExecutor,
    job: ExecJob,
    stop_after: Option<u32>,
) -> Vec<ExecEvent> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let collector = Collector {
        seen: Arc::clone(&seen),
        stop_after: None,
    }
    .start();
    // The handle stays alive for the whole run, as a node keeps it.
    let handle = exec.start(job, collector.clone().recipient());
    if let Some(at) = stop_after {
        collector
            .send(SetStop(at, handle.clone()))
            .await
            .expect("collector");
    }
    for _ in 0..2000 {
        if seen.lock().expect("lock").iter().any(ExecEvent::is_last) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(handle);
    let events = seen.lock().expect("lock").clone();
    events
}

/// Tells the collector when to stop the run.
#[derive(Message)]
#[rtype(result = "()")]
struct SetStop(u32, ExecHandle);

impl Handler<SetStop> for Collector {
    type Result = ();
    fn handle(&mut self, msg: SetStop, _: &mut Context<Self>) {
        self.stop_after = Some((msg.0, msg.1));
    }
}

fn steps_of(events: &[ExecEvent]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            ExecEvent::Stepped { step, .. } => Some(*step),
            _ => None,
        })
        .collect()
}

fn decode_gif(bytes: &[u8]) -> Vec<(u16, u16)> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options.read_info(bytes).expect("a GIF");
    let mut frames = Vec::new();
    while let Some(frame) = decoder.read_next_frame().expect("a frame") {
        frames.push((frame.width, frame.height));
    }
    frames
}

#[actix_rt::test]
async fn a_shot_runs_every_step_and_stores_a_clip_that_decodes() {
    let (s, dir) = settings("exec", false);
    let (store, storage) = memory();
    let exec = OnnxExecutor::new(&s, storage.clone()).expect("executor");
    assert_eq!(exec.provider(), Provider::Cpu, "no GPU here");
    let events = run(&exec, job("node-a", 1, 0, 1.0), None).await;
    assert!(
        matches!(events.first(), Some(ExecEvent::Started { attempt: 1, .. })),
        "{events:?}"
    );
    assert_eq!(steps_of(&events), (1..=20).collect::<Vec<_>>());
    let checkpoints = events
        .iter()
        .filter(|e| matches!(e, ExecEvent::Checkpointed { .. }))
        .count();
    assert_eq!(checkpoints, 20);
    let Some(ExecEvent::Completed {
        artifact: Some(key),
        ..
    }) = events.last()
    else {
        panic!("expected a completed shot with a clip: {events:?}");
    };
    let clip = store
        .get(key, None)
        .await
        .expect("load")
        .expect("clip stored");
    assert_eq!(clip.content_type, "image/gif");
    assert_eq!(
        decode_gif(&clip.bytes().await.expect("body")),
        vec![(64, 64); 8]
    );
    // Checkpoints are dropped once the clip is safe.
    assert!(store
        .list("checkpoints/shot_exec_0/")
        .await
        .expect("list")
        .is_empty());

    // The node's second shot reuses its warm sessions; another node builds its own.
    let created = exec.sessions().created();
    run(&exec, job("node-a", 2, 0, 1.0), None).await;
    assert_eq!(exec.sessions().created(), created);
    run(&exec, job("node-b", 3, 0, 1.0), None).await;
    assert_eq!(exec.sessions().created(), created + 1);
    let _ = std::fs::remove_dir_all(dir);
}

#[actix_rt::test]
async fn a_stopped_shot_saves_its_latent_and_resumes_to_the_same_clip() {
    let (s, dir) = settings("stop", true);
    let (store, storage) = memory();
    let exec = OnnxExecutor::new(&s, storage.clone()).expect("executor");
    let shot = ShotId::from("shot_exec_0");

    // Paced at 20 ms a step, so the stop asked for after step 5 lands between steps.
    let stopped = run(&exec, job("node-a", 1, 0, 0.02), Some(5)).await;
    let Some(&ExecEvent::Stopped {
        checkpoint_step, ..
    }) = stopped.last()
    else {
        panic!("expected a stop: {stopped:?}");
    };
    assert!((5..20).contains(&checkpoint_step), "{checkpoint_step}");
    assert_eq!(
        steps_of(&stopped),
        (1..=checkpoint_step).collect::<Vec<_>>()
    );
    let at = ShotAttempt {
        shot: shot.clone(),
        attempt: 1,
    };
    let cp = storage
        .load_checkpoint(&at, checkpoint_step)
        .await
        .expect("load")
        .expect("the latent at the stop is saved");
    assert_eq!(cp.shape, vec![1, 4, 8, 8, 8]);
    // Only the last few checkpoints are kept while a shot runs.
    let kept = storage.checkpoint_steps(&at).await.expect("steps");
    assert!(kept.contains(&(checkpoint_step - 2)), "{kept:?}");
    assert!(!kept.contains(&(checkpoint_step - 3)), "{kept:?}");

    // Attempt 2 resumes on another node from that step.
    let resumed = run(&exec, job("node-b", 2, checkpoint_step, 0.0), None).await;
    assert_eq!(
        steps_of(&resumed),
        (checkpoint_step + 1..=20).collect::<Vec<_>>()
    );
    let Some(ExecEvent::Completed {
        artifact: Some(key),
        ..
    }) = resumed.last()
    else {
        panic!("expected completion: {resumed:?}");
    };
    let resumed_clip = clip_bytes(&store, key).await;

    // An uninterrupted run of the same shot makes exactly the same clip.
    let whole = run(&exec, job("node-c", 3, 0, 0.0), None).await;
    let Some(ExecEvent::Completed {
        artifact: Some(whole_key),
        ..
    }) = whole.last()
    else {
        panic!("expected completion: {whole:?}");
    };
    assert_ne!(whole_key, key, "each attempt keeps its own clip");
    let whole_clip = clip_bytes(&store, whole_key).await;
    assert_eq!(resumed_clip, whole_clip);

    // A resume from a checkpoint that is gone (an unreachable older attempt pruned it) starts
    // from the nearest one below, here from noise: the clip is still the same.
    let lost = run(&exec, job("node-a", 4, 7, 0.0), None).await;
    assert_eq!(steps_of(&lost), (1..=20).collect::<Vec<_>>());
    let Some(ExecEvent::Completed {
        artifact: Some(key),
        ..
    }) = lost.last()
    else {
        panic!("expected completion: {lost:?}");
    };
    assert_eq!(clip_bytes(&store, key).await, whole_clip);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_missing_model_folder_fails_at_start_naming_it() {
    let (mut s, dir) = settings("missing", false);
    if let Some(onnx) = s.models.get_mut(MODEL).and_then(|m| m.onnx.as_mut()) {
        onnx.dir = PathBuf::from("models/no-such-model");
    }
    let _ = dir;
    let err = OnnxExecutor::new(&s, memory().1).err().expect("must fail");
    assert!(err.to_string().contains("models/no-such-model"), "{err}");
}

#[test]
fn a_graph_input_the_configuration_does_not_name_fails_at_start() {
    let (mut s, dir) = settings("unnamed", false);
    if let Some(onnx) = s.models.get_mut(MODEL).and_then(|m| m.onnx.as_mut()) {
        (onnx.denoise.image, onnx.image_size) = (None, None);
    }
    let err = OnnxExecutor::new(&s, memory().1).err().expect("must fail");
    assert!(err.to_string().contains("\"image\""), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A whole job on fresh sessions of `model`, as the executor runs it: the final latent and the
/// decoded frames.
fn render(
    s: &Settings,
    model: &str,
    r: &Value,
    image: Option<&[f32]>,
) -> (Vec<f32>, crate::clip::Frames) {
    let mut m = sessions_of(s, model);
    let onnx = s.models[model].onnx.as_ref().expect("onnx");
    let steps = r["steps"].as_u64().expect("steps") as u32;
    let cond = inputs::conditioning(r["prompt"].as_str().expect("prompt"), onnx.conditioning_dim);
    let noise = inputs::initial_noise(r["seed"].as_u64().expect("seed"), onnx.latent_len());
    let latent = run_steps_with(&mut m, noise, &cond, image, (0, steps, steps));
    let frames = m.decode(&latent).expect("decode");
    (latent, frames)
}

#[test]
fn the_bundled_files_are_what_the_export_script_makes_and_ort_matches_python_bit_for_bit() {
    let python = resolve(Path::new(".venv/bin/python"))
        .expect("no .venv/bin/python: run scripts/ensure-onnxruntime.sh");
    let script = resolve(Path::new("models/export_tiny.py")).expect("export script");
    let fresh = std::env::temp_dir().join(format!("shotfarm-onnx-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&fresh);
    let out = std::process::Command::new(python)
        .arg(script)
        .arg("--check")
        .arg("--fresh")
        .arg(&fresh)
        .output()
        .expect("run the export script");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The committed files may come from another CPU (hence the tolerances elsewhere); a fresh
    // export ran the Python onnxruntime on this machine, where ort must agree to the last bit.
    let read = |p: &str| std::fs::read(fresh.join(p)).expect("fresh file");
    let json = |p: &str| -> Value { serde_json::from_slice(&read(p)).expect("json") };
    let (s, _) = settings("fresh", false);
    let video = json("tiny-video/reference.json");
    let (latent, frames) = render(&s, MODEL, &video, None);
    assert_eq!(le_bytes(&latent), le_bytes(&floats(&video["final_latent"])));
    assert_eq!(frames.rgb, read("tiny-video/reference_frames.rgb"));

    let image = json("tiny-image/reference.json");
    let (latent, frames) = render(&s, IMAGE_MODEL, &image, None);
    assert_eq!(le_bytes(&latent), le_bytes(&floats(&image["final_latent"])));
    assert_eq!(frames.rgb, read("tiny-image/reference_image.rgb"));

    let pixels = inputs::image_input(&frames.rgb, 64, 64, 64, 64).expect("an image input");
    let (latent, frames) = render(&s, MODEL, &video, Some(&pixels));
    let i2v = &video["i2v"];
    assert_eq!(le_bytes(&latent), le_bytes(&floats(&i2v["final_latent"])));
    assert_eq!(frames.rgb, read("tiny-video/reference_i2v_frames.rgb"));
    let _ = std::fs::remove_dir_all(fresh);
}

#[test]
fn the_session_cache_keeps_warm_sessions_and_drops_the_least_recently_used_idle_ones() {
    let (s, _) = settings("cache", false);
    let runtime = OrtRuntime::get(&s.executor).expect("onnx runtime");
    let onnx = s.models[MODEL].onnx.as_ref().expect("onnx");
    let spec = Arc::new(ModelSpec::resolve(MODEL, onnx).expect("model files"));
    let cache = SessionCache::new(runtime, Provider::Cpu, 1, 2);
    let key = |node: &str| SessionKey {
        node: NodeId::from(node),
        device: 0,
        model: MODEL.into(),
    };
    let a = cache.get(&key("a"), &spec).expect("a");
    cache.get(&key("a"), &spec).expect("a again");
    assert_eq!(
        cache.created(),
        1,
        "a node's second shot reuses its sessions"
    );
    drop(cache.get(&key("b"), &spec).expect("b"));
    // Over the limit: "b" is idle and least recently used, "a" is held by a running shot.
    cache.get(&key("c"), &spec).expect("c");
    assert_eq!((cache.len(), cache.created()), (2, 3));
    cache.get(&key("a"), &spec).expect("a is still warm");
    assert_eq!(cache.created(), 3);
    drop(a);
    cache.get(&key("b"), &spec).expect("b again");
    assert_eq!(cache.created(), 4, "b was dropped, so it is built anew");
}

/// The previews a run's `Stepped` events carried, by step.
fn previews_of(events: &[ExecEvent]) -> Vec<(u32, shotfarm_core::domain::ShotPreview)> {
    events
        .iter()
        .filter_map(|e| match e {
            ExecEvent::Stepped {
                step,
                preview: Some(p),
                ..
            } => Some((*step, p.clone())),
            _ => None,
        })
        .collect()
}

#[actix_rt::test]
async fn a_shot_carries_a_preview_of_its_decoded_latent_every_n_steps() {
    let (s, dir) = settings("preview", false);
    let every = s.models[MODEL]
        .onnx
        .as_ref()
        .expect("onnx")
        .preview_every_steps;
    assert_eq!(every, 4, "the embedded default previews every 4 steps");
    let (_, storage) = memory();
    let exec = OnnxExecutor::new(&s, storage).expect("executor");
    let events = run(&exec, job("node-a", 1, 0, 1.0), None).await;
    let previews = previews_of(&events);
    assert_eq!(
        previews.iter().map(|(step, _)| *step).collect::<Vec<_>>(),
        vec![4, 8, 12, 16, 20]
    );
    // Each is the step's own latent through the decoder, as `preview::encode` makes it, within
    // the cap: recomputed here from the same inputs.
    let mut m = sessions(&s);
    let onnx = s.models[MODEL].onnx.as_ref().expect("onnx");
    let cond = inputs::conditioning("a fox in snow, dawn", onnx.conditioning_dim);
    let mut latent = inputs::initial_noise(7, onnx.latent_len());
    let mut from = 0;
    for (step, p) in &previews {
        assert_eq!(p.step, *step);
        assert_eq!(p.check(), Ok(()), "step {step}");
        latent = run_steps(&mut m, latent, &cond, from, *step, 20);
        from = *step;
        let frames = m.decode(&latent).expect("decode");
        assert_eq!(
            p,
            &crate::preview::encode(&frames, *step).expect("preview"),
            "step {step}"
        );
    }
    assert_ne!(
        previews[0].1.image, previews[4].1.image,
        "the shot takes shape"
    );

    // 0: previews off.
    let mut off = s.clone();
    if let Some(onnx) = off.models.get_mut(MODEL).and_then(|m| m.onnx.as_mut()) {
        onnx.preview_every_steps = 0;
    }
    let (_, storage) = memory();
    let exec = OnnxExecutor::new(&off, storage).expect("executor");
    let events = run(&exec, job("node-a", 1, 0, 1.0), None).await;
    assert_eq!(steps_of(&events).len(), 20);
    assert!(previews_of(&events).is_empty());
    let _ = std::fs::remove_dir_all(dir);
}
