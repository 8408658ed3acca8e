//! Re-rolls: a completed shot rendered again as a new **version** (a new seed, maybe an edited
//! prompt) at its next attempt, its earlier versions kept on the record (each attempt's clip has
//! its own key, so an earlier version's clip stays downloadable until retention), and a story
//! video's stitch re-run the same way once the new version is done.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::shot::{ShotRecord, ShotState};
use super::video::VideoRecord;

/// One finished version of a shot (or of a story video's stitch): which attempt made it, with
/// what seed, where its clip is, and what it cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShotVersion {
    /// 1 for the first render, +1 per re-roll.
    pub version: u32,
    /// The attempt that completed it (its clip's key is derived from it).
    pub attempt: u32,
    pub seed: u64,
    /// Its clip's key, if its executor stored one.
    pub artifact: Option<String>,
    #[serde(with = "crate::rfc3339")]
    pub completed_at: DateTime<Utc>,
    /// GPU-seconds and cost of this version alone (the shot's totals add every version).
    pub gpu_seconds: f64,
    pub cost_usd: f64,
}

/// The version numbers a record has when it predates re-rolls.
pub(super) fn first_version() -> u32 {
    1
}

pub(super) fn is_first_version(v: &u32) -> bool {
    *v == 1
}

impl ShotRecord {
    /// Its current version as a finished one, if it is completed.
    pub fn current_version(&self) -> Option<ShotVersion> {
        (self.state == ShotState::Completed).then(|| {
            let earlier_gpu: f64 = self.versions.iter().map(|v| v.gpu_seconds).sum();
            let earlier_cost: f64 = self.versions.iter().map(|v| v.cost_usd).sum();
            ShotVersion {
                version: self.version,
                attempt: self.attempt,
                seed: self.spec.seed,
                artifact: self.artifact.clone(),
                completed_at: self.updated_at,
                gpu_seconds: (self.gpu_seconds - earlier_gpu).max(0.0),
                cost_usd: (self.cost_usd - earlier_cost).max(0.0),
            }
        })
    }

    /// Every finished version, oldest first: the kept ones, then the current one if completed.
    pub fn finished_versions(&self) -> Vec<ShotVersion> {
        let mut all = self.versions.clone();
        all.extend(self.current_version());
        all
    }

    /// The finished version `version`, if there is one.
    pub fn finished_version(&self, version: u32) -> Option<ShotVersion> {
        self.finished_versions()
            .into_iter()
            .find(|v| v.version == version)
    }

    /// The completed shot rendered again: its current version kept in `versions`, then queued
    /// at the next attempt from step 0 as version + 1 with fresh budgets, with `seed` and, when
    /// given, `prompt`. `None` for a shot that is not completed.
    pub fn rerolled(
        &self,
        now: DateTime<Utc>,
        seed: u64,
        prompt: Option<String>,
    ) -> Option<ShotRecord> {
        let kept = self.current_version()?;
        let mut next = self.started_over(now);
        next.version = self.version + 1;
        next.versions.push(kept);
        next.spec.seed = seed;
        if let Some(prompt) = prompt {
            next.spec.prompt = prompt;
        }
        Some(next)
    }

    /// Whether this is a re-roll not finished yet (a later version queued, running or held).
    pub fn rerolling(&self) -> bool {
        self.version > 1 && !self.state.is_final()
    }
}

impl VideoRecord {
    /// How many of its shots are being re-rolled now.
    pub fn rerolls_in_flight(&self) -> usize {
        self.shot_jobs().filter(|s| s.rerolling()).count()
    }

    /// Whether some job of it is being re-rolled or re-stitched now.
    pub fn rerolling(&self) -> bool {
        self.shots.iter().any(ShotRecord::rerolling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::shot::ShotSpec;
    use crate::ids::ShotId;

    fn completed() -> ShotRecord {
        let spec = ShotSpec {
            prompt: "a fox".into(),
            duration_s: 2,
            model: "m".into(),
            seed: 7,
            steps: 10,
        };
        let mut shot = ShotRecord::new(ShotId::from("v-0"), 0, spec, Utc::now());
        (shot.state, shot.attempt, shot.step) = (ShotState::Completed, 2, 10);
        (shot.gpu_seconds, shot.cost_usd, shot.preemptions) = (30.0, 0.3, 1);
        shot.artifact = Some("clips/v-0-a2.mp4".into());
        shot
    }

    #[test]
    fn a_reroll_keeps_the_finished_version_and_queues_the_next_from_the_start() {
        let shot = completed();
        let next = shot
            .rerolled(Utc::now(), 99, Some("a red fox".into()))
            .expect("a completed shot is re-rolled");
        assert_eq!(
            (next.state, next.attempt, next.version),
            (ShotState::Queued, 3, 2)
        );
        assert_eq!(
            (next.step, next.checkpoint_step, next.preemptions),
            (0, 0, 0)
        );
        assert_eq!(
            (next.spec.seed, next.spec.prompt.as_str()),
            (99, "a red fox")
        );
        assert_eq!(next.artifact, None);
        assert_eq!(next.versions.len(), 1);
        let kept = &next.versions[0];
        assert_eq!((kept.version, kept.attempt, kept.seed), (1, 2, 7));
        assert_eq!(kept.artifact.as_deref(), Some("clips/v-0-a2.mp4"));
        assert!(next.rerolling() && !shot.rerolling());
        assert!(
            next.rerolled(Utc::now(), 1, None).is_none(),
            "not completed"
        );
    }

    #[test]
    fn each_version_costs_what_its_own_attempts_cost() {
        let mut next = completed()
            .rerolled(Utc::now(), 8, None)
            .expect("re-rolled");
        (next.state, next.gpu_seconds, next.cost_usd) = (ShotState::Completed, 42.0, 0.42);
        next.artifact = Some("clips/v-0-a3.mp4".into());
        let versions = next.finished_versions();
        assert_eq!(versions.len(), 2);
        assert_eq!(versions[1].version, 2);
        assert!((versions[1].gpu_seconds - 12.0).abs() < 1e-9);
        assert!((versions[1].cost_usd - 0.12).abs() < 1e-9);
        assert_eq!(next.finished_version(1).map(|v| v.attempt), Some(2));
        assert_eq!(next.finished_version(3), None);
    }
}
