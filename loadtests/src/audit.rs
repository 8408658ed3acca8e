//! The invariant audit: given every event of a video (in the order received) and its final
//! record, lists every breach — gaps or repeats in `seq`, a step going back within an attempt or
//! below the checkpoint an attempt resumed from, a preemption not followed by its requeue, an
//! attempt seen on two nodes, a job (shot or stage) finishing more than once or not at all, a
//! video not final; and for a story video the order of its stages (`stages.rs`). A story's
//! stage jobs (script, reference, stitch) are walked like shots: the same per-job rules hold.
//! An owner's controls are part of a clean stream: a pause holds a queued shot (`paused` at its
//! attempt) or a stopped one (`paused` at the next attempt, from its checkpoint, not a
//! preemption), a resume requeues it at the next attempt, and a retry requeues a failed shot
//! (its failure, and the video's, then were not final after all). A re-roll starts a shot's next
//! version: `queued` at the next attempt and version right after its version completed (that
//! completion, and the video's, then were not the end); each version finishes exactly once,
//! and a story video's stitch runs again after its re-rolled shot completes (`stages.rs`).

mod stages;

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

use shotfarm_core::domain::{FarmEvent, ShotState, Stage, VideoRecord};
use shotfarm_core::ids::ShotId;

pub use stages::{
    REFERENCE_AFTER_SCRIPT, RESTITCH_AFTER_REROLL, SHOT_AFTER_REFERENCE, STITCH_AFTER_SHOTS,
    STITCH_ONCE,
};

/// A shot's new version begins only as its owner's re-roll does.
pub const REROLL_AFTER_COMPLETION: &str =
    "a new version starts queued at the next attempt after the last version completed";
/// Versions are numbered in order.
pub const VERSION_NEVER_BACK: &str = "a shot's version never goes back";

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Breach {
    pub video: String,
    pub shot: Option<String>,
    pub rule: &'static str,
    pub detail: String,
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.shot {
            Some(s) => write!(f, "{} {}: {} ({})", self.video, s, self.rule, self.detail),
            None => write!(f, "{}: {} ({})", self.video, self.rule, self.detail),
        }
    }
}

/// What the audit counted besides breaches.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Tally {
    pub events: usize,
    pub shots_completed: usize,
    pub shots_failed: usize,
    pub shots_cancelled: usize,
    pub preemptions: usize,
    pub requeues: usize,
    /// Shots held by their owner's pause (`paused` events).
    pub pauses: usize,
    /// Failed shots requeued by their owner's retry.
    pub retries: usize,
    /// Completed shots (or stitches) started again as their next version by a re-roll.
    pub rerolls: usize,
    /// Stage jobs (script, reference, stitch) of story videos that completed; not shots.
    pub stages_completed: usize,
}

/// Per-shot memory while walking its events.
#[derive(Default)]
struct ShotTrack {
    attempt: u32,
    step: u32,
    /// The step the current attempt resumed from.
    floor: u32,
    node: Option<String>,
    finals: u32,
    awaiting_requeue: bool,
    /// Its last event was `failed`: a `queued` at the next attempt is its owner's retry.
    failed: bool,
    /// Its last event was `completed`: a `queued` at the next attempt and version is a re-roll.
    completed: bool,
    /// Its version as of its last event (0 before any).
    version: u32,
}

/// Audits one video's event stream. `events` must be everything from seq 1 on; `final_record` is
/// the video as stored at the end; `failure_budget` excuses a shot that failed after spending
/// its budget.
pub fn audit_video(
    events: &[FarmEvent],
    final_record: &VideoRecord,
    tally: &mut Tally,
) -> Vec<Breach> {
    let video = final_record.id.to_string();
    let mut breaches = Vec::new();
    let mut breach = |shot: Option<&ShotId>, rule: &'static str, detail: String| {
        breaches.push(Breach {
            video: video.clone(),
            shot: shot.map(ToString::to_string),
            rule,
            detail,
        });
    };
    tally.events += events.len();
    for (i, e) in events.iter().enumerate() {
        let want = i as u64 + 1;
        if e.seq() != want {
            breach(
                None,
                "seq gap-free and in order",
                format!("event {i} has seq {}, expected {want}", e.seq()),
            );
            break;
        }
    }
    if events.last().map(FarmEvent::seq).unwrap_or(0) != final_record.seq {
        breach(
            None,
            "stream reaches the final seq",
            format!(
                "last seen {:?}, stored {}",
                events.last().map(FarmEvent::seq),
                final_record.seq
            ),
        );
    }
    let mut shots: HashMap<&ShotId, ShotTrack> = HashMap::new();
    let story = final_record.is_story()
        || events
            .iter()
            .any(|e| matches!(e, FarmEvent::Shot(s) if s.stage != Stage::Shot));
    let mut order = story.then(|| stages::StageOrder::new(final_record.shot_jobs().count()));
    let mut video_final = false;
    for e in events {
        match e {
            FarmEvent::Video(v) => {
                if video_final {
                    breach(
                        None,
                        "nothing after the final video event",
                        format!("seq {}", v.seq),
                    );
                }
                video_final = v.state.is_final();
            }
            FarmEvent::Shot(s) => {
                let retried = shots.get(&s.shot_id).is_some_and(|t| {
                    t.failed && s.state == ShotState::Queued && s.attempt == t.attempt + 1
                });
                let rerolled = shots.get(&s.shot_id).is_some_and(|t| {
                    t.completed
                        && s.state == ShotState::Queued
                        && s.attempt == t.attempt + 1
                        && s.version == t.version + 1
                });
                if let Some(t) = shots.get(&s.shot_id).filter(|t| t.version > 0) {
                    if s.version < t.version {
                        breach(
                            Some(&s.shot_id),
                            VERSION_NEVER_BACK,
                            format!("version {} after {}", s.version, t.version),
                        );
                    } else if s.version > t.version && !rerolled {
                        breach(
                            Some(&s.shot_id),
                            REROLL_AFTER_COMPLETION,
                            format!(
                                "version {} {:?} at attempt {} after version {} {}",
                                s.version,
                                s.state,
                                s.attempt,
                                t.version,
                                if t.completed {
                                    "completed"
                                } else {
                                    "unfinished"
                                }
                            ),
                        );
                    }
                }
                if rerolled {
                    // The owner's re-roll: this version's completion (and the video's) was not
                    // the end; the next version finishes once in its turn.
                    video_final = false;
                    tally.rerolls += 1;
                    if let Some(t) = shots.get_mut(&s.shot_id) {
                        t.finals -= 1;
                        t.completed = false;
                        (t.step, t.floor) = (0, 0);
                    }
                }
                if retried {
                    // The owner's retry: the failure (and the video's) was not the end.
                    video_final = false;
                    tally.retries += 1;
                    if let Some(t) = shots.get_mut(&s.shot_id) {
                        t.finals -= 1;
                        t.failed = false;
                        (t.step, t.floor) = (0, 0);
                    }
                }
                if video_final {
                    breach(
                        Some(&s.shot_id),
                        "nothing after the final video event",
                        format!("seq {}", s.seq),
                    );
                }
                if let Some((rule, detail)) = order.as_mut().and_then(|o| o.check(s)) {
                    breach(Some(&s.shot_id), rule, detail);
                }
                let t = shots.entry(&s.shot_id).or_default();
                let node = s.node.as_ref().map(ToString::to_string);
                if t.awaiting_requeue
                    && !(s.state == ShotState::Queued && s.attempt == t.attempt + 1)
                {
                    breach(
                        Some(&s.shot_id),
                        "preempted is followed by queued with attempt + 1",
                        format!("got {:?} attempt {}", s.state, s.attempt),
                    );
                }
                t.awaiting_requeue = false;
                if s.attempt < t.attempt {
                    breach(
                        Some(&s.shot_id),
                        "attempt never goes back",
                        format!("{} after {}", s.attempt, t.attempt),
                    );
                } else if s.attempt > t.attempt {
                    // Queued, or held by a pause when the attempt it ends stopped under one.
                    if t.attempt > 0 && !matches!(s.state, ShotState::Queued | ShotState::Paused) {
                        breach(
                            Some(&s.shot_id),
                            "a new attempt starts queued",
                            format!("{:?}", s.state),
                        );
                    }
                    if s.step > t.step.max(t.floor) {
                        breach(
                            Some(&s.shot_id),
                            "a requeued shot resumes at or before its last step",
                            format!("step {} after {}", s.step, t.step),
                        );
                    }
                    t.attempt = s.attempt;
                    t.floor = s.step;
                    t.node = None;
                    if s.attempt > 1 {
                        tally.requeues += 1;
                    }
                } else if s.step < t.step {
                    breach(
                        Some(&s.shot_id),
                        "step never goes back within an attempt",
                        format!("{} after {}", s.step, t.step),
                    );
                }
                if s.step < t.floor {
                    breach(
                        Some(&s.shot_id),
                        "step never below the checkpoint resumed from",
                        format!("{} < {}", s.step, t.floor),
                    );
                }
                if matches!(s.state, ShotState::Assigned | ShotState::Running) {
                    match (&t.node, &node) {
                        (Some(a), Some(b)) if a != b => {
                            breach(
                                Some(&s.shot_id),
                                "an attempt runs on one node only",
                                format!("{a} and {b}"),
                            );
                        }
                        (None, Some(_)) => t.node = node.clone(),
                        _ => {}
                    }
                }
                if s.state == ShotState::Preempted {
                    tally.preemptions += 1;
                    t.awaiting_requeue = true;
                }
                if s.state == ShotState::Paused {
                    tally.pauses += 1;
                }
                t.failed = s.state == ShotState::Failed;
                t.completed = s.state == ShotState::Completed;
                t.version = t.version.max(s.version);
                t.step = s.step;
                if s.state.is_final() {
                    t.finals += 1;
                    if t.finals > 1 {
                        breach(
                            Some(&s.shot_id),
                            finishes_once(s.stage),
                            format!("{} final events", t.finals),
                        );
                    }
                }
            }
        }
    }
    if let Some((rule, detail)) = order.as_ref().and_then(|o| o.finish()) {
        breach(None, rule, detail);
    }
    if !final_record.state.is_final() || !video_final {
        breach(
            None,
            "every video final",
            format!(
                "stored {:?}, final event seen: {video_final}",
                final_record.state
            ),
        );
    }
    for shot in &final_record.shots {
        match (shot.state, shot.stage) {
            (ShotState::Completed, Stage::Shot) => tally.shots_completed += 1,
            (ShotState::Completed, _) => tally.stages_completed += 1,
            (ShotState::Failed, Stage::Shot) => tally.shots_failed += 1,
            (ShotState::Cancelled, Stage::Shot) => tally.shots_cancelled += 1,
            (ShotState::Failed | ShotState::Cancelled, _) => {}
            (other, _) => breach(Some(&shot.id), "every shot final", format!("{other:?}")),
        }
        if shots.get(&shot.id).map(|t| t.finals).unwrap_or(0) != 1 {
            breach(
                Some(&shot.id),
                finishes_once(shot.stage),
                "no final event seen".into(),
            );
        }
    }
    breaches
}

/// The exactly-once rule's name for a job of `stage` (a shot keeps its historic name).
fn finishes_once(stage: Stage) -> &'static str {
    if stage == Stage::Shot {
        "a shot finishes exactly once"
    } else {
        "a stage finishes exactly once"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use shotfarm_core::domain::{
        Priority, ShotEvent, ShotRecord, ShotSpec, VideoEvent, VideoState,
    };
    use shotfarm_core::ids::{NodeId, OwnerId, VideoId};

    fn record(seq: u64) -> VideoRecord {
        let id = VideoId::from("vid_t");
        let spec = ShotSpec {
            prompt: "p".into(),
            duration_s: 8,
            model: "m".into(),
            seed: 0,
            steps: 4,
        };
        let mut shot = ShotRecord::new(ShotId::for_video(&id, 0), 0, spec, Utc::now());
        shot.state = ShotState::Completed;
        VideoRecord {
            id,
            owner: OwnerId::from("u"),
            title: None,
            priority: Priority::Standard,
            state: VideoState::Completed,
            shots: vec![shot],
            seq,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            tenant: None,
        }
    }

    fn shot(seq: u64, state: ShotState, step: u32, attempt: u32, node: Option<&str>) -> FarmEvent {
        let r = record(0);
        FarmEvent::Shot(ShotEvent {
            seq,
            video_id: r.id.clone(),
            shot_id: r.shots[0].id.clone(),
            index: 0,
            stage: Default::default(),
            state,
            step,
            steps: 4,
            progress: 0.0,
            attempt,
            version: 1,
            node: node.map(NodeId::from),
            eta: None,
            error: None,
            ts: Utc::now(),
            preview: None,
        })
    }

    fn done(seq: u64) -> FarmEvent {
        FarmEvent::Video(VideoEvent {
            seq,
            video_id: VideoId::from("vid_t"),
            state: VideoState::Completed,
            progress: 1.0,
            eta: None,
            ts: Utc::now(),
        })
    }

    /// `event` (a shot's) at `version`.
    fn at_version(mut event: FarmEvent, version: u32) -> FarmEvent {
        if let FarmEvent::Shot(s) = &mut event {
            s.version = version;
        }
        event
    }

    /// A shot completed, re-rolled as version 2 and completed again.
    fn rerolled_stream() -> Vec<FarmEvent> {
        use ShotState::*;
        let mut s = clean_stream();
        s.extend([
            at_version(shot(10, Queued, 0, 3, None), 2),
            at_version(shot(11, Assigned, 0, 3, Some("a")), 2),
            at_version(shot(12, Running, 2, 3, Some("a")), 2),
            at_version(shot(13, Completed, 4, 3, Some("a")), 2),
            done(14),
        ]);
        s
    }

    #[test]
    fn a_rerolled_shot_finishes_once_per_version() {
        let mut tally = Tally::default();
        let breaches = audit_video(&rerolled_stream(), &record(14), &mut tally);
        assert!(breaches.is_empty(), "{breaches:?}");
        assert_eq!((tally.rerolls, tally.requeues), (1, 2));
    }

    #[test]
    fn reroll_breaches_are_caught() {
        use ShotState::*;
        let caught = |stream: Vec<FarmEvent>, rule: &str| {
            let last = stream.last().map(FarmEvent::seq).unwrap_or(0);
            let breaches = audit_video(&stream, &record(last), &mut Tally::default());
            assert!(
                breaches.iter().any(|b| b.rule == rule),
                "{rule} not caught in {breaches:?}"
            );
        };
        // A new version while the last one still runs (no completion before it).
        let mut s = clean_stream();
        s.truncate(7);
        s.extend([
            at_version(shot(8, Queued, 0, 3, None), 2),
            at_version(shot(9, Assigned, 0, 3, Some("a")), 2),
            at_version(shot(10, Completed, 4, 3, Some("a")), 2),
            done(11),
        ]);
        caught(s, REROLL_AFTER_COMPLETION);
        // A version finishing twice.
        let mut s = rerolled_stream();
        s.pop();
        s.push(at_version(shot(14, Completed, 4, 3, Some("a")), 2));
        s.push(done(15));
        caught(s, "a shot finishes exactly once");
        // A version going back.
        let mut s = rerolled_stream();
        s.pop();
        s.push(at_version(shot(14, Cancelled, 4, 3, None), 1));
        s.push(done(15));
        caught(s, VERSION_NEVER_BACK);
    }

    fn clean_stream() -> Vec<FarmEvent> {
        use ShotState::*;
        vec![
            shot(1, Assigned, 0, 1, Some("a")),
            shot(2, Running, 1, 1, Some("a")),
            shot(3, Running, 2, 1, Some("a")),
            shot(4, Preempted, 2, 1, Some("a")),
            shot(5, Queued, 2, 2, None),
            shot(6, Assigned, 2, 2, Some("b")),
            shot(7, Running, 3, 2, Some("b")),
            shot(8, Completed, 4, 2, Some("b")),
            done(9),
        ]
    }

    #[test]
    fn paused_resumed_and_retried_shots_pass() {
        use ShotState::*;
        let stream = vec![
            shot(1, Assigned, 0, 1, Some("a")),
            shot(2, Running, 2, 1, Some("a")),
            // Paused now: held at the next attempt from its checkpoint, then resumed.
            shot(3, Paused, 1, 2, None),
            shot(4, Queued, 1, 3, None),
            shot(5, Assigned, 1, 3, Some("b")),
            shot(6, Failed, 2, 3, Some("b")),
            // Retried from the start with fresh budgets; paused while queued, resumed.
            shot(7, Queued, 0, 4, None),
            shot(8, Paused, 0, 4, None),
            shot(9, Queued, 0, 5, None),
            shot(10, Assigned, 0, 5, Some("a")),
            shot(11, Completed, 4, 5, Some("a")),
            done(12),
        ];
        let mut tally = Tally::default();
        let breaches = audit_video(&stream, &record(12), &mut tally);
        assert!(breaches.is_empty(), "{breaches:?}");
        assert_eq!((tally.pauses, tally.retries, tally.preemptions), (2, 1, 0));
        // A shot coming back from `completed` is no retry: it finished twice.
        let mut twice = clean_stream();
        twice.pop();
        twice.push(shot(9, Queued, 0, 3, None));
        twice.push(shot(10, Completed, 4, 3, Some("b")));
        twice.push(done(11));
        let breaches = audit_video(&twice, &record(11), &mut Tally::default());
        assert!(
            breaches
                .iter()
                .any(|b| b.rule == "a shot finishes exactly once"),
            "{breaches:?}"
        );
    }

    #[test]
    fn a_clean_preempted_and_resumed_stream_passes() {
        let mut tally = Tally::default();
        let breaches = audit_video(&clean_stream(), &record(9), &mut tally);
        assert!(breaches.is_empty(), "{breaches:?}");
        assert_eq!(
            (tally.preemptions, tally.requeues, tally.shots_completed),
            (1, 1, 1)
        );
    }

    #[test]
    fn planted_breaches_are_caught() {
        use ShotState::*;
        let cases: Vec<(Vec<FarmEvent>, &str)> = vec![
            (
                {
                    let mut s = clean_stream();
                    s.remove(2);
                    s
                },
                "seq gap-free and in order",
            ),
            (
                {
                    let mut s = clean_stream();
                    s[6] = shot(7, Running, 1, 2, Some("b"));
                    s
                },
                "step never below the checkpoint resumed from",
            ),
            (
                {
                    let mut s = clean_stream();
                    s[4] = shot(5, Running, 2, 1, Some("a"));
                    s
                },
                "preempted is followed by queued with attempt + 1",
            ),
            (
                {
                    let mut s = clean_stream();
                    s[6] = shot(7, Running, 3, 2, Some("c"));
                    s
                },
                "an attempt runs on one node only",
            ),
            (
                {
                    let mut s = clean_stream();
                    s.insert(8, shot(9, Completed, 4, 2, Some("b")));
                    s[9] = done(10);
                    s
                },
                "a shot finishes exactly once",
            ),
            (
                {
                    let mut s = clean_stream();
                    s[2] = shot(3, Running, 0, 1, Some("a"));
                    s
                },
                "step never goes back within an attempt",
            ),
            (
                {
                    let mut s = clean_stream();
                    s.truncate(8);
                    s
                },
                "every video final",
            ),
            (
                vec![
                    shot(1, Assigned, 0, 1, Some("a")),
                    shot(2, Completed, 4, 1, Some("a")),
                    shot(3, Completed, 4, 1, Some("a")),
                    done(4),
                ],
                "a shot finishes exactly once",
            ),
            (
                vec![
                    shot(1, Queued, 0, 2, None),
                    shot(2, Queued, 0, 1, None),
                    done(3),
                ],
                "attempt never goes back",
            ),
        ];
        for (stream, rule) in cases {
            let last = stream.last().map(FarmEvent::seq).unwrap_or(0);
            let breaches = audit_video(&stream, &record(last), &mut Tally::default());
            assert!(
                breaches.iter().any(|b| b.rule == rule),
                "{rule} not caught in {breaches:?}"
            );
        }
    }
}
