//! What a watcher of one video's progress websocket holds: the frames the server sends, and the
//! state they fold into ([`Follow::apply`]: the snapshot and each event once, in `seq` order),
//! which `watch.rs` feeds and `bars.rs` draws.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// One frame of the progress stream.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Frame {
    Snapshot {
        seq: u64,
        video: VideoView,
    },
    Shot(ShotView),
    Video(VideoChange),
    /// A frame type this client does not know (the contract may grow).
    #[serde(other)]
    Other,
}

/// The part of a snapshot's video the watcher shows.
#[derive(Debug, Deserialize)]
pub struct VideoView {
    pub state: String,
    pub shots: Vec<ShotView>,
    /// A story video's stages (`script`, `reference`, `shots`, `stitch`); empty otherwise.
    #[serde(default)]
    pub stages: Vec<StageView>,
}

/// One stage of a story video, from a snapshot, then kept current by its job's events (and,
/// for `shots`, by the shots' own events).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StageView {
    pub name: String,
    /// A job's states, or `waiting` while a stage it needs is not done.
    pub state: String,
    pub attempt: u32,
    pub node: Option<String>,
    pub progress: f64,
    #[serde(default)]
    pub error: Option<String>,
}

/// The stages in pipeline order: each waits for the one before it.
const STAGE_ORDER: [&str; 4] = ["script", "reference", "shots", "stitch"];

/// A shot, from a snapshot or a shot event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ShotView {
    #[serde(default)]
    pub seq: u64,
    pub index: usize,
    pub state: String,
    pub step: u32,
    pub steps: u32,
    pub progress: f64,
    pub attempt: u32,
    pub node: Option<String>,
    #[serde(default)]
    pub eta: Option<DateTime<Utc>>,
    #[serde(default)]
    pub error: Option<String>,
    /// Set on the events of a story video's stage jobs (`script`, `reference`, `stitch`),
    /// whose `index` is past the shots'; absent for shots.
    #[serde(default)]
    pub stage: Option<String>,
}

/// A video event.
#[derive(Debug, Deserialize)]
pub struct VideoChange {
    pub seq: u64,
    pub state: String,
}

/// What the watcher knows of the video.
#[derive(Debug, Default)]
pub struct Follow {
    /// The last `seq` applied: `since` on reconnect.
    pub last_seq: Option<u64>,
    pub state: String,
    pub shots: Vec<ShotView>,
    pub stages: Vec<StageView>,
}

/// What applying a frame changed.
#[derive(Debug, PartialEq)]
pub enum Change {
    /// Everything (a snapshot).
    All,
    /// One shot; `from` is its state before.
    Shot { index: usize, from: Option<String> },
    /// One stage (`script`, `reference` or `stitch`); `from` is its state before.
    Stage { name: String, from: Option<String> },
    /// The video's state.
    Video,
    /// Nothing (an old or unknown frame).
    None,
}

impl Follow {
    /// Applies a frame; events at or below what is known are old news and change nothing.
    pub fn apply(&mut self, frame: Frame) -> Change {
        match frame {
            Frame::Snapshot { seq, video } => {
                self.last_seq = Some(seq);
                self.state = video.state;
                self.shots = video.shots;
                self.shots.sort_by_key(|s| s.index);
                self.stages = video.stages;
                Change::All
            }
            Frame::Shot(shot) if self.is_new(shot.seq) && shot.stage.is_some() => {
                self.last_seq = Some(shot.seq);
                self.apply_stage(shot)
            }
            Frame::Shot(shot) if self.is_new(shot.seq) => {
                self.last_seq = Some(shot.seq);
                let change = self.apply_shot(shot);
                self.fold_shots_stage();
                change
            }
            Frame::Video(v) if self.is_new(v.seq) => {
                self.last_seq = Some(v.seq);
                self.state = v.state;
                Change::Video
            }
            _ => Change::None,
        }
    }

    /// A stage job's event: its stage's view takes the job's state, and the stage after it
    /// stops `waiting` once this one completes (the server would say so in a snapshot).
    fn apply_stage(&mut self, job: ShotView) -> Change {
        let name = job.stage.clone().unwrap_or_default();
        let Some(slot) = self.stages.iter_mut().find(|s| s.name == name) else {
            return Change::None;
        };
        let from = std::mem::replace(&mut slot.state, job.state.clone());
        slot.attempt = job.attempt;
        slot.node = job.node;
        slot.progress = job.progress;
        slot.error = job.error;
        if job.state == "completed" {
            self.release_after(&name);
        }
        Change::Stage {
            name,
            from: Some(from),
        }
    }

    /// The stage after `name`, if it was waiting, may now be queued.
    fn release_after(&mut self, name: &str) {
        let next = STAGE_ORDER
            .iter()
            .position(|s| *s == name)
            .and_then(|i| STAGE_ORDER.get(i + 1));
        if let Some(next) = next {
            if let Some(stage) = self.stages.iter_mut().find(|s| s.name == *next) {
                if stage.state == "waiting" {
                    stage.state = "queued".into();
                }
            }
        }
    }

    /// The `shots` stage as one state from its shots, the way the server folds it: final once
    /// all are, running once any left the queue.
    fn fold_shots_stage(&mut self) {
        if self.shots.is_empty() || !self.stages.iter().any(|s| s.name == "shots") {
            return;
        }
        let n = self.shots.len() as f64;
        let progress = self.shots.iter().map(|s| s.progress).sum::<f64>() / n;
        let all_final = self.shots.iter().all(|s| is_final(&s.state));
        let state = if all_final {
            if self.shots.iter().all(|s| s.state == "completed") {
                Some("completed")
            } else if self.shots.iter().any(|s| s.state == "failed") {
                Some("failed")
            } else {
                Some("cancelled")
            }
        } else if self.shots.iter().any(|s| s.state != "queued") {
            Some("running")
        } else {
            None
        };
        let attempt = self.shots.iter().map(|s| s.attempt).max().unwrap_or(1);
        let mut completed = false;
        if let Some(stage) = self.stages.iter_mut().find(|s| s.name == "shots") {
            stage.progress = progress;
            stage.attempt = attempt;
            if let Some(state) = state {
                completed = state == "completed" && stage.state != "completed";
                stage.state = state.to_owned();
            }
        }
        if completed {
            self.release_after("shots");
        }
    }

    /// A shot's event (or a stage job's on a server too old to name stages).
    fn apply_shot(&mut self, shot: ShotView) -> Change {
        let index = shot.index;
        match self.shots.iter_mut().find(|s| s.index == index) {
            Some(slot) => {
                let from = Some(std::mem::replace(slot, shot).state);
                Change::Shot { index, from }
            }
            None => {
                self.shots.push(shot);
                self.shots.sort_by_key(|s| s.index);
                Change::Shot { index, from: None }
            }
        }
    }

    fn is_new(&self, seq: u64) -> bool {
        self.last_seq.is_none_or(|last| seq > last)
    }

    /// Whether the video has reached a final state.
    pub fn is_final(&self) -> bool {
        is_final(&self.state)
    }
}

fn is_final(state: &str) -> bool {
    matches!(state, "completed" | "failed" | "cancelled")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shot(seq: u64, index: usize, state: &str, step: u32) -> Frame {
        Frame::Shot(ShotView {
            seq,
            index,
            state: state.into(),
            step,
            steps: 10,
            progress: f64::from(step) / 10.0,
            attempt: 1,
            node: None,
            eta: None,
            error: None,
            stage: None,
        })
    }

    fn parse(json: &str) -> Frame {
        serde_json::from_str(json).unwrap_or(Frame::Other)
    }

    #[test]
    fn events_apply_once_and_in_order() {
        let mut f = Follow::default();
        let snap = parse(
            r#"{"type":"snapshot","seq":3,"video":{"state":"running","shots":[
                {"index":0,"state":"running","step":2,"steps":10,"progress":0.2,"attempt":1,"node":"n"}]}}"#,
        );
        assert_eq!(f.apply(snap), Change::All);
        assert_eq!(f.apply(shot(3, 0, "running", 9)), Change::None, "old news");
        assert_eq!(
            f.apply(shot(4, 0, "running", 3)),
            Change::Shot {
                index: 0,
                from: Some("running".into())
            }
        );
        assert_eq!(f.shots[0].step, 3);
        let done = parse(r#"{"type":"video","seq":5,"state":"completed","progress":1.0}"#);
        assert_eq!(f.apply(done), Change::Video);
        assert!(f.is_final());
        assert_eq!(f.last_seq, Some(5));
    }

    #[test]
    fn stage_jobs_move_their_stage_and_never_become_shots() {
        let mut f = Follow::default();
        let snap = parse(
            r#"{"type":"snapshot","seq":1,"video":{"state":"queued","shots":[
                {"index":0,"state":"queued","step":0,"steps":10,"progress":0.0,"attempt":1,"node":null}],
                "stages":[
                {"name":"script","state":"queued","attempt":1,"node":null,"progress":0.0},
                {"name":"reference","state":"waiting","attempt":1,"node":null,"progress":0.0},
                {"name":"shots","state":"waiting","attempt":1,"node":null,"progress":0.0},
                {"name":"stitch","state":"waiting","attempt":1,"node":null,"progress":0.0}]}}"#,
        );
        assert_eq!(f.apply(snap), Change::All);
        let script = parse(
            r#"{"type":"shot","seq":2,"index":1,"stage":"script","state":"completed","step":1,
                "steps":1,"progress":1.0,"attempt":1,"node":"llm-1"}"#,
        );
        assert_eq!(
            f.apply(script),
            Change::Stage {
                name: "script".into(),
                from: Some("queued".into())
            }
        );
        assert_eq!(f.shots.len(), 1, "a stage job is not a shot");
        assert_eq!(f.stages[0].node.as_deref(), Some("llm-1"));
        assert_eq!(f.stages[1].state, "queued", "the reference stops waiting");
        assert_eq!(f.stages[2].state, "waiting");
        f.apply(shot(3, 0, "completed", 10));
        assert_eq!(f.stages[2].state, "completed");
        assert_eq!(f.stages[2].progress, 1.0);
        assert_eq!(f.stages[3].state, "queued", "the stitch stops waiting");
    }

    #[test]
    fn unknown_frames_are_ignored() {
        let mut f = Follow::default();
        assert_eq!(f.apply(parse(r#"{"type":"hello","seq":1}"#)), Change::None);
        assert_eq!(f.last_seq, None);
    }
}
