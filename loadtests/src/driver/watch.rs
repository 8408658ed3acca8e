//! One video's life as a client sees it: submit, watch its progress over websockets (from
//! `since=0`, so the stream starts at seq 1), and read its final record for the audit (a story
//! video's stage jobs included).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Message;

use shotfarm_core::domain::{
    FarmEvent, Priority, ShotRecord, ShotSpec, ShotState, Stage, VideoRecord, VideoState,
};
use shotfarm_core::ids::{NodeId, OwnerId, ShotId, VideoId};

use super::target::Target;

/// Reconnects a watcher makes before giving up on a stream.
const MAX_RECONNECTS: u32 = 5;

/// What every video task shares: the server, and live counters for the progress line.
pub struct Shared {
    pub target: Target,
    pub http: reqwest::Client,
    pub time_factor: f64,
    pub shots_per_video: usize,
    /// Submit stories (see `story.rs`) instead of shots.
    pub stories: bool,
    /// The scenario's seed, which the stories derive from.
    pub seed: u64,
    pub model: String,
    pub steps: Option<u32>,
    pub watchers_per_video: usize,
    /// Event latency (server `ts` to receipt), ms, every watcher.
    pub latencies_ms: Mutex<Vec<f64>>,
    pub submitted: AtomicU64,
    pub finished: AtomicU64,
    pub events: AtomicU64,
    pub shots_completed: AtomicU64,
}

/// What one watcher saw.
#[derive(Default)]
pub struct Watched {
    pub events: Vec<FarmEvent>,
    pub first_progress: Option<Instant>,
    pub final_at: Option<Instant>,
    pub resyncs: u32,
    pub error: Option<String>,
}

/// One video's outcome.
pub struct VideoRun {
    pub id: String,
    pub submit_ms: f64,
    pub first_progress_ms: Option<f64>,
    pub completion_s: Option<f64>,
    pub streams: Vec<Watched>,
    pub record: Option<VideoRecord>,
    pub cost_usd: f64,
    pub requeue_ms: Vec<f64>,
}

/// Video `n`'s `POST /api/v1/videos` body: shots, or a story of as many shots.
fn submission(shared: &Shared, n: usize) -> serde_json::Value {
    if shared.stories {
        return serde_json::json!({
            "title": format!("load story {n}"),
            "story": super::story::story_text(shared.seed, n, shared.shots_per_video),
            "shot_count": shared.shots_per_video,
            "model": shared.model,
        });
    }
    let shots: Vec<_> = (0..shared.shots_per_video)
        .map(|i| {
            let mut shot = serde_json::json!({ "prompt": format!("load video {n} shot {i}"),
                                               "model": shared.model, "seed": n * 16 + i });
            if let Some(steps) = shared.steps {
                shot["steps"] = steps.into();
            }
            shot
        })
        .collect();
    serde_json::json!({ "title": format!("load {n}"), "shots": shots })
}

/// What the driver reads of a `POST /api/v1/videos` answer.
#[derive(Deserialize)]
struct Submitted {
    id: String,
}

/// Submits one video, watches it to the end, and reads its final record.
pub async fn run_video(shared: Arc<Shared>, n: usize) -> anyhow::Result<VideoRun> {
    let body = submission(&shared, n);
    let started = Instant::now();
    let resp = shared
        .http
        .post(format!("{}/api/v1/videos", shared.target.base))
        .bearer_auth(&shared.target.token)
        .json(&body)
        .send()
        .await?;
    let submit_ms = started.elapsed().as_secs_f64() * 1e3;
    if !resp.status().is_success() {
        bail!("submit: {} {}", resp.status(), resp.text().await?);
    }
    shared.submitted.fetch_add(1, Ordering::Relaxed);
    // Only the id is read: the driver shares the machine with the server it measures, and the
    // whole video as a `serde_json::Value` was a tenth of its CPU.
    let Submitted { id } = resp.json().await.context("video id")?;
    let watchers: Vec<_> = (0..shared.watchers_per_video.max(1))
        .map(|_| tokio::spawn(watch(Arc::clone(&shared), id.clone())))
        .collect();
    let mut streams = Vec::new();
    for w in watchers {
        streams.push(w.await?);
    }
    shared.finished.fetch_add(1, Ordering::Relaxed);
    let record = fetch_record(&shared, &id).await?;
    let primary = &streams[0];
    Ok(VideoRun {
        submit_ms,
        first_progress_ms: primary
            .first_progress
            .map(|t| (t - started).as_secs_f64() * 1e3),
        completion_s: primary.final_at.map(|t| (t - started).as_secs_f64()),
        requeue_ms: requeue_times(&primary.events),
        cost_usd: record.shots.iter().map(|s| s.cost_usd).sum(),
        record: Some(record),
        streams,
        id,
    })
}

/// Follows a video's progress until its final event, reconnecting with `since` when the server
/// closes early or resyncs with a snapshot.
async fn watch(shared: Arc<Shared>, id: String) -> Watched {
    let mut w = Watched::default();
    let mut last = 0;
    for _ in 0..=MAX_RECONNECTS {
        if let Err(e) = follow(&shared, &id, &mut last, &mut w).await {
            w.error = Some(format!("{e:#}"));
        }
        if w.final_at.is_some() {
            w.error = None;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    w
}

/// One websocket connection's worth of frames.
async fn follow(shared: &Shared, id: &str, last: &mut u64, w: &mut Watched) -> anyhow::Result<()> {
    let url = shared.target.progress_url(id, *last);
    let ws = crate::ws_client::connect(url.as_str(), false).await?;
    let (_write, mut read) = ws.split();
    while let Some(msg) = read.next().await {
        let text = match msg? {
            Message::Text(t) => t,
            Message::Close(_) => break,
            _ => continue,
        };
        let now = Utc::now();
        let event = match serde_json::from_str::<FarmEvent>(text.as_str()) {
            Ok(e) => e,
            Err(_) => {
                let frame: serde_json::Value = serde_json::from_str(text.as_str())?;
                let seq = frame["seq"].as_u64().unwrap_or(0);
                if frame["type"] == "snapshot" && seq > *last {
                    // Events were skipped (a slow client); ask for them again by `since`.
                    w.resyncs += 1;
                    return Ok(());
                }
                continue;
            }
        };
        let (ts, progress, done) = match &event {
            FarmEvent::Shot(s) => (s.ts, s.state == ShotState::Running, false),
            FarmEvent::Video(v) => (v.ts, false, v.state.is_final()),
        };
        record_latency(shared, now, ts);
        shared.events.fetch_add(1, Ordering::Relaxed);
        if progress && w.first_progress.is_none() {
            w.first_progress = Some(Instant::now());
        }
        if let FarmEvent::Shot(s) = &event {
            if s.state == ShotState::Completed {
                shared.shots_completed.fetch_add(1, Ordering::Relaxed);
            }
        }
        *last = (*last).max(event.seq());
        w.events.push(event);
        if done {
            w.final_at = Some(Instant::now());
        }
    }
    Ok(())
}

fn record_latency(shared: &Shared, now: DateTime<Utc>, ts: DateTime<Utc>) {
    let ms = (now - ts).num_microseconds().unwrap_or(0).max(0) as f64 / 1e3;
    if let Ok(mut l) = shared.latencies_ms.lock() {
        l.push(ms);
    }
}

/// Milliseconds (event time) from each preemption to the shot running again.
pub fn requeue_times(events: &[FarmEvent]) -> Vec<f64> {
    let mut pending: std::collections::HashMap<&ShotId, DateTime<Utc>> = Default::default();
    let mut out = Vec::new();
    for e in events {
        let FarmEvent::Shot(s) = e else { continue };
        match s.state {
            ShotState::Preempted => {
                pending.insert(&s.shot_id, s.ts);
            }
            ShotState::Assigned | ShotState::Running => {
                if let Some(at) = pending.remove(&s.shot_id) {
                    out.push((s.ts - at).num_microseconds().unwrap_or(0) as f64 / 1e3);
                }
            }
            _ => {}
        }
    }
    out
}

/// The video as the API shows it, in the fields the audit reads.
#[derive(Deserialize)]
struct WireVideo {
    id: VideoId,
    owner: OwnerId,
    title: Option<String>,
    priority: Priority,
    state: VideoState,
    seq: u64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    shots: Vec<WireShot>,
    /// A story video's stages; its `script`, `reference` and `stitch` are jobs of their own.
    #[serde(default)]
    stages: Vec<WireStage>,
}

#[derive(Deserialize)]
struct WireStage {
    name: String,
    /// A job's state, or `waiting`.
    state: String,
    attempt: u32,
    node: Option<NodeId>,
    cost_usd: f64,
    error: Option<String>,
}

#[derive(Deserialize)]
struct WireShot {
    id: ShotId,
    index: usize,
    state: ShotState,
    step: u32,
    steps: u32,
    attempt: u32,
    node: Option<NodeId>,
    error: Option<String>,
    prompt: String,
    model: String,
    duration_s: u32,
    seed: u64,
    preemptions: u32,
    gpu_seconds: f64,
    cost_usd: f64,
}

/// Reads `GET /api/v1/videos/{id}` into the record the audit compares against.
async fn fetch_record(shared: &Shared, id: &str) -> anyhow::Result<VideoRecord> {
    let v: WireVideo = shared
        .http
        .get(format!("{}/api/v1/videos/{id}", shared.target.base))
        .bearer_auth(&shared.target.token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut shots: Vec<ShotRecord> = v
        .shots
        .into_iter()
        .map(|s| {
            let spec = ShotSpec {
                prompt: s.prompt,
                duration_s: s.duration_s,
                model: s.model,
                seed: s.seed,
                steps: s.steps,
            };
            let mut r = ShotRecord::new(s.id, s.index, spec, v.updated_at);
            r.state = s.state;
            r.step = s.step;
            r.attempt = s.attempt;
            r.preemptions = s.preemptions;
            r.node = s.node;
            r.error = s.error;
            r.gpu_seconds = s.gpu_seconds;
            r.cost_usd = s.cost_usd;
            r
        })
        .collect();
    // The stage jobs follow the shots (script n, reference n + 1, stitch n + 2), as stored.
    let n = shots.len();
    for st in &v.stages {
        let (stage, index) = match st.name.as_str() {
            "script" => (Stage::Script, n),
            "reference" => (Stage::Reference, n + 1),
            "stitch" => (Stage::Stitch, n + 2),
            _ => continue,
        };
        let spec = ShotSpec {
            prompt: String::new(),
            duration_s: 0,
            model: String::new(),
            seed: 0,
            steps: 0,
        };
        let mut r = ShotRecord::new(ShotId::for_video(&v.id, index), index, spec, v.updated_at);
        r.stage = stage;
        // `waiting` is a queued job behind a stage it needs: not final, as the audit must see.
        r.state = serde_json::from_value(serde_json::Value::from(st.state.as_str()))
            .unwrap_or(ShotState::Queued);
        r.attempt = st.attempt;
        r.node = st.node.clone();
        r.error = st.error.clone();
        r.cost_usd = st.cost_usd;
        shots.push(r);
    }
    Ok(VideoRecord {
        id: v.id,
        owner: v.owner,
        title: v.title,
        priority: v.priority,
        state: v.state,
        shots,
        seq: v.seq,
        created_at: v.created_at,
        updated_at: v.updated_at,
        tenant: None,
    })
}
