//! The story parts of a video's JSON: its stages (script, reference, shots, stitch) with their
//! state, attempt, node, progress and cost; the script's scenes (the owner's alone, like
//! prompts); and the signed URLs of the reference image, the finished MP4 and its poster.

use serde::Serialize;
use utoipa::ToSchema;

use shotfarm_core::domain::{readiness, Readiness, ShotRecord, ShotState, Stage, VideoRecord};
use shotfarm_core::story::Script;

/// One stage of a story video as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = VideoStage)]
pub struct StageJson {
    /// `script`, `reference`, `shots` or `stitch`.
    pub name: &'static str,
    /// A shot's states, or `waiting` while a stage it needs is not done.
    pub state: &'static str,
    /// The attempt of its job (for `shots`, the most any shot is on).
    pub attempt: u32,
    /// Where its job runs (for `shots`: null; each shot names its own node).
    pub node: Option<String>,
    pub progress: f64,
    pub cost_usd: f64,
    pub error: Option<String>,
}

/// A scene of the script: the story's part and the prompt its shot renders.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Scene)]
pub struct SceneJson {
    pub index: usize,
    pub text: String,
    pub prompt: String,
}

/// The script as its owner sees it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = StoryScript)]
pub struct ScriptJson {
    /// Who wrote it: `splitter` (the deterministic stand-in for an LLM) or the LLM's model.
    pub source: String,
    pub character: String,
    pub scenes: Vec<SceneJson>,
}

/// The stages of `video` in pipeline order (empty for an explicit-shot video).
pub fn stages(video: &VideoRecord) -> Vec<StageJson> {
    if !video.is_story() {
        return Vec::new();
    }
    let one = |stage: Stage, name: &'static str| {
        video.stage_job(stage).map(|job| StageJson {
            name,
            state: state_of(video, job),
            attempt: job.attempt,
            node: job.node.as_ref().map(|n| n.to_string()),
            progress: job.progress(),
            cost_usd: job.cost_usd,
            error: job.error.clone(),
        })
    };
    let shots: Vec<&ShotRecord> = video.shot_jobs().collect();
    let shots_stage = StageJson {
        name: "shots",
        state: shots_state(video, &shots),
        attempt: shots.iter().map(|s| s.attempt).max().unwrap_or(1),
        node: None,
        progress: if shots.is_empty() {
            0.0
        } else {
            shots.iter().map(|s| s.progress()).sum::<f64>() / shots.len() as f64
        },
        cost_usd: shots.iter().map(|s| s.cost_usd).sum(),
        error: shots.iter().find_map(|s| s.error.clone()),
    };
    [
        one(Stage::Script, "script"),
        one(Stage::Reference, "reference"),
        Some(shots_stage),
        one(Stage::Stitch, "stitch"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The script `video`'s script stage wrote, once it has.
pub fn script(video: &VideoRecord) -> Option<ScriptJson> {
    let output = video.stage_job(Stage::Script)?.output.as_deref()?;
    let script = Script::parse(output, video.shot_jobs().count()).ok()?;
    Some(ScriptJson {
        source: script.source,
        character: script.character,
        scenes: script
            .scenes
            .into_iter()
            .enumerate()
            .map(|(index, s)| SceneJson {
                index,
                text: s.text,
                prompt: s.prompt,
            })
            .collect(),
    })
}

/// A job's state, `waiting` while it is queued behind a stage it needs.
fn state_of(video: &VideoRecord, job: &ShotRecord) -> &'static str {
    if job.state == ShotState::Queued && readiness(&video.shots, job.index) != Readiness::Ready {
        "waiting"
    } else {
        job.state.as_str()
    }
}

/// The shots' stage as one state: final once all are (failed if any failed, cancelled if any
/// was, else completed), running once any has left the queue, waiting while they wait on the
/// reference, else queued.
fn shots_state(video: &VideoRecord, shots: &[&ShotRecord]) -> &'static str {
    if shots.iter().all(|s| s.state.is_final()) {
        if shots.iter().all(|s| s.state == ShotState::Completed) {
            "completed"
        } else if shots.iter().any(|s| s.state == ShotState::Failed) {
            "failed"
        } else {
            "cancelled"
        }
    } else if shots.iter().any(|s| s.state != ShotState::Queued) {
        "running"
    } else if shots.iter().any(|s| state_of(video, s) == "waiting") {
        "waiting"
    } else {
        "queued"
    }
}
