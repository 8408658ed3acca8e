//! The stage-order half of the audit, for story videos: walking a video's events in `seq`
//! order, no shot leaves `queued` before the reference completed, the reference not before the
//! script completed, the stitch not before every shot completed, and the stitch completes at
//! most once. (That every job, stage or shot, finishes exactly once, and the per-job rules —
//! attempts, steps, nodes — are the main walk's, which treats a stage job like any shot.)

use std::collections::HashSet;

use shotfarm_core::domain::{ShotEvent, ShotState, Stage};
use shotfarm_core::ids::ShotId;

/// Rule names, shared with the tests and the report.
pub const SHOT_AFTER_REFERENCE: &str = "no shot leaves queued before the reference completed";
pub const REFERENCE_AFTER_SCRIPT: &str =
    "the reference leaves queued only after the script completed";
pub const STITCH_AFTER_SHOTS: &str = "the stitch starts only after every shot completed";
pub const STITCH_ONCE: &str = "the stitch completes at most once per version";
pub const RESTITCH_AFTER_REROLL: &str = "the stitch runs again after a re-rolled shot completes";

/// What the walk knows of a story video's stages so far.
pub struct StageOrder {
    /// The video's shot count (shot jobs), from its final record.
    shots: usize,
    script_done: bool,
    reference_done: bool,
    shots_done: HashSet<ShotId>,
    stitch_completions: u32,
    /// The stitch's version as of its last event (a re-roll queues its next one).
    stitch_version: u32,
    /// The seq of a re-rolled shot's completion no stitch completion has followed yet.
    restitch_owed: Option<u64>,
}

impl StageOrder {
    /// A walk over a video of `shots` shot jobs.
    pub fn new(shots: usize) -> Self {
        Self {
            shots,
            script_done: false,
            reference_done: false,
            shots_done: HashSet::new(),
            stitch_completions: 0,
            stitch_version: 1,
            restitch_owed: None,
        }
    }

    /// What the whole walk owes at its end: a re-rolled shot's completion the stitch never
    /// followed.
    pub fn finish(&self) -> Option<(&'static str, String)> {
        self.restitch_owed.map(|seq| {
            (
                RESTITCH_AFTER_REROLL,
                format!("a re-rolled shot completed at seq {seq} and no stitch completed after"),
            )
        })
    }

    /// Checks one job event against what came before it; returns the rule it breaks, if any,
    /// with a detail.
    pub fn check(&mut self, e: &ShotEvent) -> Option<(&'static str, String)> {
        // Final without running (cancelled, or failed because a stage it needs failed) is how a
        // job that never may start ends: only leaving the queue for a node counts as starting.
        let started = matches!(
            e.state,
            ShotState::Assigned | ShotState::Running | ShotState::Preempted | ShotState::Completed
        );
        let completed = e.state == ShotState::Completed;
        match e.stage {
            Stage::Script => {
                self.script_done |= completed;
                None
            }
            Stage::Reference => {
                let breach = (started && !self.script_done).then(|| {
                    (
                        REFERENCE_AFTER_SCRIPT,
                        format!("reference {:?} at seq {}", e.state, e.seq),
                    )
                });
                self.reference_done |= completed;
                breach
            }
            Stage::Shot => {
                let breach = (started && !self.reference_done).then(|| {
                    (
                        SHOT_AFTER_REFERENCE,
                        format!("shot {} {:?} at seq {}", e.index, e.state, e.seq),
                    )
                });
                if completed {
                    self.shots_done.insert(e.shot_id.clone());
                    if e.version > 1 {
                        self.restitch_owed.get_or_insert(e.seq);
                    }
                } else if e.state == ShotState::Queued && e.version > 1 {
                    // Re-rolled: the stitch waits for its new version again.
                    self.shots_done.remove(&e.shot_id);
                }
                breach
            }
            Stage::Stitch => {
                if e.version > self.stitch_version {
                    // Re-run after a re-roll: its next version completes once in its turn.
                    self.stitch_version = e.version;
                    self.stitch_completions = 0;
                }
                if completed {
                    self.restitch_owed = None;
                    self.stitch_completions += 1;
                    if self.stitch_completions > 1 {
                        return Some((
                            STITCH_ONCE,
                            format!("completion {} at seq {}", self.stitch_completions, e.seq),
                        ));
                    }
                }
                (started && self.shots_done.len() < self.shots).then(|| {
                    (
                        STITCH_AFTER_SHOTS,
                        format!(
                            "stitch {:?} at seq {} with {} of {} shots completed",
                            e.state,
                            e.seq,
                            self.shots_done.len(),
                            self.shots
                        ),
                    )
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use shotfarm_core::domain::{
        FarmEvent, Priority, ShotRecord, ShotSpec, VideoEvent, VideoRecord, VideoState,
    };
    use shotfarm_core::ids::{NodeId, OwnerId, VideoId};

    use super::super::{audit_video, Tally};
    use super::*;

    /// Two shots: jobs 0 and 1 are shots, 2 the script, 3 the reference, 4 the stitch.
    const SHOTS: usize = 2;

    fn stage_of(index: usize) -> Stage {
        match index {
            i if i < SHOTS => Stage::Shot,
            2 => Stage::Script,
            3 => Stage::Reference,
            _ => Stage::Stitch,
        }
    }

    fn record(seq: u64) -> VideoRecord {
        let id = VideoId::from("vid_story");
        let jobs = (0..SHOTS + 3)
            .map(|i| {
                let spec = ShotSpec {
                    prompt: "p".into(),
                    duration_s: 8,
                    model: "m".into(),
                    seed: 0,
                    steps: 2,
                };
                let mut job = ShotRecord::new(ShotId::for_video(&id, i), i, spec, Utc::now());
                job.stage = stage_of(i);
                job.state = ShotState::Completed;
                job
            })
            .collect();
        VideoRecord {
            id,
            owner: OwnerId::from("u"),
            title: None,
            priority: Priority::Standard,
            state: VideoState::Completed,
            shots: jobs,
            seq,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            tenant: None,
        }
    }

    /// A job event; `seq` is set by [`numbered`].
    fn job(index: usize, state: ShotState, step: u32, attempt: u32) -> FarmEvent {
        let node = (state != ShotState::Queued).then(|| NodeId::from(format!("node-{index}")));
        FarmEvent::Shot(ShotEvent {
            seq: 0,
            video_id: VideoId::from("vid_story"),
            shot_id: ShotId::for_video(&VideoId::from("vid_story"), index),
            index,
            stage: stage_of(index),
            state,
            step,
            steps: 2,
            progress: 0.0,
            attempt,
            version: 1,
            node,
            eta: None,
            error: None,
            ts: Utc::now(),
            preview: None,
        })
    }

    fn done() -> FarmEvent {
        FarmEvent::Video(VideoEvent {
            seq: 0,
            video_id: VideoId::from("vid_story"),
            state: VideoState::Completed,
            progress: 1.0,
            eta: None,
            ts: Utc::now(),
        })
    }

    /// Numbers a stream 1.. in order.
    fn numbered(mut events: Vec<FarmEvent>) -> Vec<FarmEvent> {
        for (i, e) in events.iter_mut().enumerate() {
            match e {
                FarmEvent::Shot(s) => s.seq = i as u64 + 1,
                FarmEvent::Video(v) => v.seq = i as u64 + 1,
            }
        }
        events
    }

    /// A whole story run one stage after the other, with the reference preempted once.
    fn clean() -> Vec<FarmEvent> {
        use ShotState::*;
        let mut s = vec![
            job(2, Assigned, 0, 1),
            job(2, Running, 1, 1),
            job(2, Completed, 1, 1),
            job(3, Assigned, 0, 1),
            job(3, Running, 1, 1),
            job(3, Preempted, 1, 1),
            job(3, Queued, 1, 2),
            job(3, Assigned, 1, 2),
            job(3, Completed, 2, 2),
        ];
        for i in 0..SHOTS {
            s.extend([
                job(i, Assigned, 0, 1),
                job(i, Running, 1, 1),
                job(i, Completed, 2, 1),
            ]);
        }
        s.extend([
            job(4, Assigned, 0, 1),
            job(4, Running, 1, 1),
            job(4, Completed, 1, 1),
            done(),
        ]);
        numbered(s)
    }

    fn audit(events: &[FarmEvent]) -> (Tally, Vec<crate::audit::Breach>) {
        let mut tally = Tally::default();
        let last = events.last().map(FarmEvent::seq).unwrap_or(0);
        let b = audit_video(events, &record(last), &mut tally);
        (tally, b)
    }

    fn caught(events: Vec<FarmEvent>, rule: &str) {
        let (_, breaches) = audit(&numbered(events));
        assert!(
            breaches.iter().any(|b| b.rule == rule),
            "{rule} not caught in {breaches:?}"
        );
    }

    #[test]
    fn a_clean_story_stream_passes_and_counts_stages_apart_from_shots() {
        let (tally, breaches) = audit(&clean());
        assert!(breaches.is_empty(), "{breaches:?}");
        assert_eq!(tally.shots_completed, SHOTS, "stage jobs are not shots");
        assert_eq!(tally.stages_completed, 3);
        assert_eq!((tally.preemptions, tally.requeues), (1, 1));
    }

    #[test]
    fn a_shot_before_its_reference_is_caught() {
        use ShotState::*;
        let mut s = clean();
        // Shot 0 is assigned while the reference is still preempted.
        s.insert(6, job(0, Assigned, 0, 1));
        s.retain({
            let mut seen = false;
            move |e| {
                // Drop the later, now second, assignment of shot 0.
                let dup = matches!(e, FarmEvent::Shot(x) if x.index == 0 && x.state == Assigned);
                let keep = !(dup && seen);
                seen |= dup;
                keep
            }
        });
        caught(s, SHOT_AFTER_REFERENCE);
    }

    #[test]
    fn a_reference_before_its_script_is_caught() {
        let mut s = clean();
        // The reference's first assignment moves ahead of the script's completion.
        let reference = s.remove(3);
        s.insert(1, reference);
        caught(s, REFERENCE_AFTER_SCRIPT);
    }

    #[test]
    fn a_stitch_before_every_shot_completed_is_caught() {
        let mut s = clean();
        // The stitch's assignment moves before the last shot's completion.
        let at = s.len() - 4;
        let stitch = s.remove(at);
        s.insert(at - 1, stitch);
        caught(s, STITCH_AFTER_SHOTS);
    }

    #[test]
    fn a_second_stitch_completion_is_caught() {
        use ShotState::*;
        let mut s = clean();
        let at = s.len() - 1;
        s.insert(at, job(4, Completed, 1, 1));
        caught(s.clone(), STITCH_ONCE);
        caught(s, "a stage finishes exactly once");
    }

    #[test]
    fn a_stage_that_never_finishes_is_caught() {
        let mut s = clean();
        // The script's completion is lost (its later stages still ran): no final event.
        s.remove(2);
        caught(s.clone(), "a stage finishes exactly once");
        caught(s, REFERENCE_AFTER_SCRIPT);
    }

    #[test]
    fn the_old_rules_hold_across_stages() {
        use ShotState::*;
        // A step going back within the reference's second attempt.
        let mut s = clean();
        s[8] = job(3, Completed, 0, 2);
        caught(s, "step never below the checkpoint resumed from");
        // A seq gap between the script and the reference.
        let mut s = clean();
        s.remove(3);
        let (_, breaches) = audit(&s);
        assert!(breaches
            .iter()
            .any(|b| b.rule == "seq gap-free and in order"));
        // The reference's preemption not followed by its requeue.
        let mut s = clean();
        s[6] = job(3, Assigned, 1, 1);
        caught(s, "preempted is followed by queued with attempt + 1");
    }

    /// `event` (a job's) at `version`.
    fn at_version(mut event: FarmEvent, version: u32) -> FarmEvent {
        if let FarmEvent::Shot(s) = &mut event {
            s.version = version;
        }
        event
    }

    /// The clean run, then `(job, state, step)` of each job's version 2 at attempt 2, then the
    /// video's end.
    fn clean_then_version_2(moves: [(usize, ShotState, u32); 6]) -> Vec<FarmEvent> {
        let mut s = clean();
        s.extend(
            moves
                .into_iter()
                .map(|(i, state, step)| at_version(job(i, state, step, 2), 2)),
        );
        s.push(done());
        s
    }

    /// The clean run, then shot 0 re-rolled and the stitch run again after it.
    fn rerolled() -> Vec<FarmEvent> {
        use ShotState::*;
        numbered(clean_then_version_2([
            (0, Queued, 0),
            (4, Queued, 0),
            (0, Assigned, 0),
            (0, Completed, 2),
            (4, Assigned, 0),
            (4, Completed, 1),
        ]))
    }

    #[test]
    fn a_rerolled_shot_then_its_stitch_again_is_clean() {
        let (tally, breaches) = audit(&rerolled());
        assert!(breaches.is_empty(), "{breaches:?}");
        assert_eq!(tally.rerolls, 2, "the shot and the stitch");
    }

    #[test]
    fn a_reroll_never_stitched_again_is_caught() {
        let mut s = rerolled();
        // The stitch's re-run is lost: only the re-rolled shot's completion is left.
        let keep = s.len() - 3;
        s.truncate(keep);
        s.push(done());
        caught(s, RESTITCH_AFTER_REROLL);
    }

    #[test]
    fn a_stitch_rerun_before_the_rerolled_shot_completes_is_caught() {
        use ShotState::*;
        let s = clean_then_version_2([
            (0, Queued, 0),
            (4, Queued, 0),
            (4, Assigned, 0),
            (4, Completed, 1),
            (0, Assigned, 0),
            (0, Completed, 2),
        ]);
        caught(s.clone(), STITCH_AFTER_SHOTS);
        caught(s, RESTITCH_AFTER_REROLL);
    }
}
