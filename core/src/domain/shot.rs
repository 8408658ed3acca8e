//! A shot: what to render, and its state machine
//! (`queued → assigned → running → completed|failed|cancelled`, `preempted → queued` the way back,
//! `paused` the owner's hold: entered from the queue or from a stopped attempt, left by a resume).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::stage::Stage;
use crate::ids::{NodeId, ShotId};

/// Where a shot is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShotState {
    Queued,
    Assigned,
    Running,
    Preempted,
    /// Held by its owner's pause: out of the placement queue until the video is resumed.
    Paused,
    Completed,
    Failed,
    Cancelled,
}

/// Scheduling priority of a video: `high` is placed before `standard`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    High,
    #[default]
    Standard,
}

impl Priority {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Standard => "standard",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "high" => Some(Priority::High),
            "standard" => Some(Priority::Standard),
            _ => None,
        }
    }
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shot cannot go from {from:?} to {to:?}")]
pub struct TransitionError {
    pub from: ShotState,
    pub to: ShotState,
}

impl ShotState {
    /// Completed, failed and cancelled shots never change again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ShotState::Completed | ShotState::Failed | ShotState::Cancelled
        )
    }

    /// Assigned and running shots hold GPUs on a node.
    pub fn holds_gpus(self) -> bool {
        matches!(self, ShotState::Assigned | ShotState::Running)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ShotState::Queued => "queued",
            ShotState::Assigned => "assigned",
            ShotState::Running => "running",
            ShotState::Preempted => "preempted",
            ShotState::Paused => "paused",
            ShotState::Completed => "completed",
            ShotState::Failed => "failed",
            ShotState::Cancelled => "cancelled",
        }
    }

    /// Whether the machine allows `self → to`. Failing from `queued`/`assigned` covers a shot
    /// that can never run (its model vanished, its retries ran out while waiting). A pause takes
    /// a queued shot out of the queue, or ends a stopped attempt held (`paused` at the next
    /// attempt, from its checkpoint); a resume requeues it.
    pub fn can_go_to(self, to: ShotState) -> bool {
        use ShotState::*;
        matches!(
            (self, to),
            (Queued, Assigned | Cancelled | Failed | Paused)
                | (
                    Assigned,
                    Running | Preempted | Failed | Cancelled | Queued | Paused
                )
                | (
                    Running,
                    Completed | Failed | Cancelled | Preempted | Queued | Paused
                )
                | (Preempted, Queued | Cancelled | Failed | Paused)
                | (Paused, Queued | Cancelled | Failed)
        )
    }

    /// Checked transition.
    pub fn go_to(self, to: ShotState) -> Result<ShotState, TransitionError> {
        if self.can_go_to(to) {
            Ok(to)
        } else {
            Err(TransitionError { from: self, to })
        }
    }
}

/// What the user asked this shot to be (immutable once accepted).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShotSpec {
    pub prompt: String,
    pub duration_s: u32,
    pub model: String,
    pub seed: u64,
    pub steps: u32,
}

/// The stored state of one shot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShotRecord {
    pub id: ShotId,
    pub index: usize,
    /// What the job does: a shot, or a stage of a story video (absent in stored records of
    /// explicit-shot videos, which are all shots).
    #[serde(default, skip_serializing_if = "Stage::is_shot")]
    pub stage: Stage,
    pub spec: ShotSpec,
    pub state: ShotState,
    /// Steps done in the current attempt's timeline (resumes from `checkpoint_step`).
    pub step: u32,
    /// The last step whose latent is saved; a requeued shot resumes here.
    pub checkpoint_step: u32,
    /// Fencing token: 1 on first placement, +1 on every requeue.
    pub attempt: u32,
    pub preemptions: u32,
    pub failures: u32,
    pub node: Option<NodeId>,
    pub artifact: Option<String>,
    /// What a completed `script` stage wrote (its [`crate::story::Script`] as JSON); sealed at
    /// rest like prompts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    pub error: Option<String>,
    /// Why a `paused` shot waits (its owner paused the video); cleared when it is requeued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
    /// Its version: 1 for the first render, +1 per re-roll (`reroll.rs`).
    #[serde(
        default = "super::reroll::first_version",
        skip_serializing_if = "super::reroll::is_first_version"
    )]
    pub version: u32,
    /// Its earlier finished versions, oldest first (the current one is the record itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<super::reroll::ShotVersion>,
    /// GPU-seconds consumed over every attempt so far.
    pub gpu_seconds: f64,
    /// What those GPU-seconds cost at their nodes' prices.
    pub cost_usd: f64,
    /// When the current attempt is expected to finish, while running.
    #[serde(default, with = "crate::rfc3339::option")]
    pub eta: Option<DateTime<Utc>>,
    #[serde(with = "crate::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl ShotRecord {
    /// A freshly accepted shot, queued for its first attempt.
    pub fn new(id: ShotId, index: usize, spec: ShotSpec, now: DateTime<Utc>) -> Self {
        Self {
            id,
            index,
            stage: Stage::Shot,
            spec,
            state: ShotState::Queued,
            step: 0,
            checkpoint_step: 0,
            attempt: 1,
            preemptions: 0,
            failures: 0,
            node: None,
            artifact: None,
            output: None,
            error: None,
            paused_reason: None,
            version: 1,
            versions: Vec::new(),
            gpu_seconds: 0.0,
            cost_usd: 0.0,
            eta: None,
            updated_at: now,
        }
    }

    /// A failed shot given fresh budgets by its owner's retry: queued at the next attempt from
    /// the start (a final shot's checkpoints are dropped), its failures and preemptions
    /// forgotten. `None` for a shot that did not fail.
    pub fn retried(&self, now: DateTime<Utc>) -> Option<ShotRecord> {
        (self.state == ShotState::Failed).then(|| self.started_over(now))
    }

    /// The shot queued at its next attempt from step 0 with fresh budgets and nothing of the
    /// last attempt (node, clip, output, error, pause, ETA): what a retry and a re-roll share.
    pub(crate) fn started_over(&self, now: DateTime<Utc>) -> ShotRecord {
        ShotRecord {
            state: ShotState::Queued,
            attempt: self.attempt + 1,
            step: 0,
            checkpoint_step: 0,
            failures: 0,
            preemptions: 0,
            node: None,
            artifact: None,
            output: None,
            error: None,
            paused_reason: None,
            eta: None,
            updated_at: now,
            ..self.clone()
        }
    }

    /// Fraction done, 0..=1: steps over total, 1 once completed.
    pub fn progress(&self) -> f64 {
        if self.state == ShotState::Completed {
            return 1.0;
        }
        if self.spec.steps == 0 {
            return 0.0;
        }
        (f64::from(self.step) / f64::from(self.spec.steps)).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_state() -> impl Strategy<Value = ShotState> {
        prop_oneof![
            Just(ShotState::Queued),
            Just(ShotState::Assigned),
            Just(ShotState::Running),
            Just(ShotState::Preempted),
            Just(ShotState::Paused),
            Just(ShotState::Completed),
            Just(ShotState::Failed),
            Just(ShotState::Cancelled),
        ]
    }

    #[test]
    fn happy_path_and_preemption_loop_are_allowed() {
        use ShotState::*;
        let path = [
            Queued, Assigned, Running, Preempted, Queued, Assigned, Running, Completed,
        ];
        for pair in path.windows(2) {
            assert!(pair[0].can_go_to(pair[1]), "{:?} -> {:?}", pair[0], pair[1]);
        }
    }

    #[test]
    fn a_pause_leaves_the_queue_and_a_resume_comes_back_through_it() {
        use ShotState::*;
        for from in [Queued, Assigned, Running, Preempted] {
            assert!(from.can_go_to(Paused), "{from:?} -> paused");
        }
        assert!(Paused.can_go_to(Queued) && Paused.can_go_to(Cancelled));
        assert!(!Paused.can_go_to(Assigned) && !Paused.can_go_to(Running));
        assert!(!Paused.is_final() && !Paused.holds_gpus());
        assert!(!Completed.can_go_to(Paused));
    }

    #[test]
    fn a_retry_requeues_only_a_failed_shot_with_fresh_budgets() {
        let now = Utc::now();
        let spec = ShotSpec {
            prompt: "p".into(),
            duration_s: 2,
            model: "m".into(),
            seed: 1,
            steps: 10,
        };
        let mut shot = ShotRecord::new(ShotId::from("v-0"), 0, spec, now);
        assert!(shot.retried(now).is_none(), "a queued shot is not retried");
        shot.state = ShotState::Failed;
        (shot.attempt, shot.failures, shot.preemptions, shot.step) = (3, 3, 2, 7);
        shot.checkpoint_step = 5;
        shot.error = Some("boom".into());
        let fresh = shot.retried(now).expect("a failed shot is retried");
        assert_eq!(fresh.state, ShotState::Queued);
        assert_eq!(
            (fresh.attempt, fresh.failures, fresh.preemptions),
            (4, 0, 0)
        );
        assert_eq!(
            (fresh.step, fresh.checkpoint_step, fresh.error),
            (0, 0, None)
        );
    }

    #[test]
    fn queued_cannot_jump_to_running_or_completed() {
        assert!(ShotState::Queued.go_to(ShotState::Running).is_err());
        assert!(ShotState::Queued.go_to(ShotState::Completed).is_err());
        assert!(ShotState::Preempted.go_to(ShotState::Running).is_err());
    }

    proptest! {
        #[test]
        fn final_states_never_change(from in any_state(), to in any_state()) {
            if from.is_final() {
                prop_assert!(!from.can_go_to(to));
            }
        }

        #[test]
        fn a_random_walk_completes_at_most_once(steps in proptest::collection::vec(any_state(), 0..64)) {
            let mut state = ShotState::Queued;
            let mut completions = 0;
            for to in steps {
                if let Ok(next) = state.go_to(to) {
                    if next == ShotState::Completed {
                        completions += 1;
                    }
                    state = next;
                }
            }
            prop_assert!(completions <= 1);
        }
    }
}
