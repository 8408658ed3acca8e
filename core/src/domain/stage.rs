//! The stages of a story video (script → reference → shots → stitch) and the one rule of which
//! stage waits for which: a stage's job starts only once every stage it needs is completed, and
//! can never start once one of them failed or was cancelled.

use serde::{Deserialize, Serialize};

use super::shot::{ShotRecord, ShotState};

/// What a job of a video does. A video of explicit shots has only `shot` jobs; a story video
/// has one `script`, one `reference`, its `shot`s and one `stitch`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// On the `llm` pool: the story split into scenes, one prompt per shot, a character sheet.
    Script,
    /// On the `image` pool: the character reference image the shots are conditioned on.
    Reference,
    /// On the `video` pool: one clip.
    #[default]
    Shot,
    /// The clips joined into the finished video and its poster.
    Stitch,
}

impl Stage {
    /// Every stage, in the order a story video runs them.
    pub const ALL: [Stage; 4] = [Stage::Script, Stage::Reference, Stage::Shot, Stage::Stitch];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Script => "script",
            Stage::Reference => "reference",
            Stage::Shot => "shot",
            Stage::Stitch => "stitch",
        }
    }

    /// Whether a job of this stage waits for one of `other` in a video whose jobs are `jobs`.
    fn waits_for(self, other: Stage) -> bool {
        matches!(
            (self, other),
            (Stage::Reference, Stage::Script)
                | (Stage::Shot, Stage::Script | Stage::Reference)
                | (Stage::Stitch, Stage::Shot)
        )
    }

    /// Whether a job of this stage needs one of `other` completed first, directly or through
    /// the stages between (a stitch needs the script: the shots it waits for do).
    fn needs(self, other: Stage) -> bool {
        self.waits_for(other)
            || Stage::ALL
                .iter()
                .any(|&between| self.waits_for(between) && between.needs(other))
    }

    /// Whether the stage is `serde`'s default (a shot), so stored records of explicit-shot
    /// videos stay as they were.
    pub fn is_shot(&self) -> bool {
        *self == Stage::Shot
    }
}

/// Where a job stands against the stages it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Every stage it needs is completed (or it needs none): it may be queued.
    Ready,
    /// Some stage it needs is not final yet.
    Waiting,
    /// A stage it needs ended without completing: it can never run. Names that stage's job.
    Blocked { by: usize, state: ShotState },
}

/// Whether `jobs[index]` may run: see [`Readiness`]. A job that is already final is `Ready`
/// (nothing waits on it to start).
pub fn readiness(jobs: &[ShotRecord], index: usize) -> Readiness {
    let Some(job) = jobs.get(index) else {
        return Readiness::Waiting;
    };
    let mut waiting = false;
    for other in jobs.iter().filter(|o| job.stage.waits_for(o.stage)) {
        match other.state {
            ShotState::Completed => {}
            s if s.is_final() => {
                return Readiness::Blocked {
                    by: other.index,
                    state: s,
                }
            }
            _ => waiting = true,
        }
    }
    if waiting {
        Readiness::Waiting
    } else {
        Readiness::Ready
    }
}

/// What `jobs[index]`, not ready yet, is blocked on: the earliest stage (in the order a story
/// video runs them) of the jobs it needs, directly or through the stages between, that are not
/// final yet. While the script is written everything after it is blocked on `script`, not on
/// the stage just before it, which is what an operator needs to know. `None` when nothing it
/// needs is pending (it is ready, or can never run).
pub fn blocked_on(jobs: &[ShotRecord], index: usize) -> Option<Stage> {
    let job = jobs.get(index)?;
    jobs.iter()
        .filter(|o| job.stage.needs(o.stage) && !o.state.is_final())
        .map(|o| o.stage)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ShotSpec;
    use crate::ids::{ShotId, VideoId};
    use chrono::Utc;

    fn job(index: usize, stage: Stage, state: ShotState) -> ShotRecord {
        let spec = ShotSpec {
            prompt: String::new(),
            duration_s: 8,
            model: "m".into(),
            seed: 0,
            steps: 1,
        };
        let id = ShotId::for_video(&VideoId::from("vid_x"), index);
        let mut r = ShotRecord::new(id, index, spec, Utc::now());
        r.stage = stage;
        r.state = state;
        r
    }

    /// Two shots, then script, reference and stitch (the layout of a story video).
    fn story(states: [ShotState; 5]) -> Vec<ShotRecord> {
        let stages = [
            Stage::Shot,
            Stage::Shot,
            Stage::Script,
            Stage::Reference,
            Stage::Stitch,
        ];
        (0..5).map(|i| job(i, stages[i], states[i])).collect()
    }

    #[test]
    fn each_stage_waits_for_the_one_before_it() {
        use ShotState::*;
        let fresh = story([Queued; 5]);
        assert_eq!(
            readiness(&fresh, 2),
            Readiness::Ready,
            "script needs nothing"
        );
        assert_eq!(readiness(&fresh, 3), Readiness::Waiting);
        assert_eq!(readiness(&fresh, 0), Readiness::Waiting);
        assert_eq!(readiness(&fresh, 4), Readiness::Waiting);
        let scripted = story([Queued, Queued, Completed, Queued, Queued]);
        assert_eq!(readiness(&scripted, 3), Readiness::Ready);
        assert_eq!(
            readiness(&scripted, 0),
            Readiness::Waiting,
            "no reference yet"
        );
        let drawn = story([Queued, Running, Completed, Completed, Queued]);
        assert_eq!(readiness(&drawn, 0), Readiness::Ready);
        assert_eq!(
            readiness(&drawn, 4),
            Readiness::Waiting,
            "a shot still runs"
        );
        let shot = story([Completed, Completed, Completed, Completed, Queued]);
        assert_eq!(readiness(&shot, 4), Readiness::Ready);
    }

    #[test]
    fn a_failed_or_cancelled_stage_blocks_what_needs_it() {
        use ShotState::*;
        let failed = story([Queued, Queued, Failed, Queued, Queued]);
        assert_eq!(
            readiness(&failed, 3),
            Readiness::Blocked {
                by: 2,
                state: Failed
            }
        );
        let one_shot_failed = story([Completed, Failed, Completed, Completed, Queued]);
        assert_eq!(
            readiness(&one_shot_failed, 4),
            Readiness::Blocked {
                by: 1,
                state: Failed
            }
        );
        let cancelled = story([Queued, Queued, Completed, Cancelled, Queued]);
        assert_eq!(
            readiness(&cancelled, 0),
            Readiness::Blocked {
                by: 3,
                state: Cancelled
            }
        );
    }

    #[test]
    fn a_waiting_job_is_blocked_on_the_earliest_pending_stage_it_needs() {
        use ShotState::*;
        let fresh = story([Queued; 5]);
        assert_eq!(blocked_on(&fresh, 2), None, "the script needs nothing");
        for waiting in [0, 3, 4] {
            assert_eq!(
                blocked_on(&fresh, waiting),
                Some(Stage::Script),
                "job {waiting}: everything waits for the script first"
            );
        }
        let scripted = story([Queued, Queued, Completed, Running, Queued]);
        assert_eq!(blocked_on(&scripted, 0), Some(Stage::Reference));
        assert_eq!(blocked_on(&scripted, 4), Some(Stage::Reference));
        assert_eq!(blocked_on(&scripted, 3), None, "the reference is ready");
        let drawing = story([Completed, Running, Completed, Completed, Queued]);
        assert_eq!(blocked_on(&drawing, 4), Some(Stage::Shot));
        let failed = story([Queued, Queued, Failed, Queued, Queued]);
        assert_eq!(
            blocked_on(&failed, 3),
            None,
            "what can never run is not blocked"
        );
    }

    #[test]
    fn shots_of_an_explicit_video_need_nothing() {
        let jobs: Vec<_> = (0..3)
            .map(|i| job(i, Stage::Shot, ShotState::Queued))
            .collect();
        assert!((0..3).all(|i| readiness(&jobs, i) == Readiness::Ready));
    }
}
