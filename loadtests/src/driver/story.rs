//! Story runs: the short stories the driver submits (deterministic from the scenario's seed and
//! the video's number, so a run can be repeated), and the figures per stage and per pool read
//! from the streams received: how long each job waited once it could run, how long it ran, and
//! each stage's share of a video's wall time.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use shotfarm_core::domain::{FarmEvent, ShotState, Stage};

use super::stats::{summarize, Summary};
use super::watch::VideoRun;

const HEROES: [&str; 6] = ["Mina", "Tomas", "Ada", "Kofi", "Lena", "Ravi"];
const PLACES: [&str; 6] = [
    "the river",
    "the old mill",
    "a night market",
    "the harbour",
    "a snowy pass",
    "the lighthouse",
];
const DEEDS: [&str; 8] = [
    "finds a paper boat",
    "follows a lantern",
    "hears a bell ring twice",
    "meets a heron that watches her",
    "climbs down a stone stair",
    "opens a note in an old hand",
    "runs from the rain",
    "waits for the tide to turn",
];

/// Video `n`'s story: one sentence per shot, so the splitter has a scene for each.
pub fn story_text(seed: u64, n: usize, shots: usize) -> String {
    let mut rng = SmallRng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n as u64);
    let hero = HEROES.choose(&mut rng).copied().unwrap_or("Mina");
    (0..shots.max(1))
        .map(|_| {
            let deed = DEEDS.choose(&mut rng).copied().unwrap_or("waits");
            let place = PLACES.choose(&mut rng).copied().unwrap_or("the river");
            format!("{hero} {deed} at {place}.")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One stage's figures over a run, in wall seconds (server event times).
#[derive(Clone, Debug, Serialize)]
pub struct StageFigures {
    /// `script`, `reference`, `shots` or `stitch`.
    pub stage: &'static str,
    /// From the moment a job could run (what it waits on completed, or the video was created)
    /// to its first assignment, every job.
    pub queue_wait_s: Summary,
    /// From its first assignment to its completion, every job (preemptions included).
    pub run_s: Summary,
    /// The stage's part of each video: from what it waits on completing to its own last job
    /// completing.
    pub span_s: Summary,
}

/// One pool's figures over a run.
#[derive(Clone, Debug, Serialize)]
pub struct PoolFigures {
    pub pool: String,
    /// Busy over up GPUs (encoder slots on `cpu`), over every sample of the run.
    pub utilization: f64,
    /// The same over the samples when this pool had queued work.
    pub utilization_while_queued: f64,
    pub queue_depth_max: usize,
    /// The jobs that ran on its nodes: queue wait and run time, as for stages.
    pub queue_wait_s: Summary,
    pub run_s: Summary,
}

/// The stages in pipeline order, and their wire names.
const STAGES: [(Stage, &str); 4] = [
    (Stage::Script, "script"),
    (Stage::Reference, "reference"),
    (Stage::Shot, "shots"),
    (Stage::Stitch, "stitch"),
];

/// One job's times in a stream.
#[derive(Default)]
struct JobTimes {
    stage: Stage,
    assigned: Option<DateTime<Utc>>,
    completed: Option<DateTime<Utc>>,
    node: Option<String>,
}

/// A job's queue wait and run time, with the pool it ran on.
struct JobFigure {
    stage: Stage,
    pool: Option<String>,
    wait_s: Option<f64>,
    run_s: Option<f64>,
}

fn secs(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(0) as f64 / 1e6
}

/// The jobs of one completed video and its stage spans (in `STAGES` order), from its first
/// stream; `pool_of` maps node ids to pools.
fn video_figures(
    run: &VideoRun,
    pool_of: &HashMap<String, String>,
) -> Option<(Vec<JobFigure>, [Option<f64>; 4])> {
    let record = run.record.as_ref()?;
    let events = &run.streams.first()?.events;
    let mut jobs: BTreeMap<usize, JobTimes> = BTreeMap::new();
    for e in events {
        let FarmEvent::Shot(s) = e else { continue };
        let j = jobs.entry(s.index).or_default();
        j.stage = s.stage;
        if matches!(s.state, ShotState::Assigned | ShotState::Running) && j.assigned.is_none() {
            j.assigned = Some(s.ts);
            j.node = s.node.as_ref().map(ToString::to_string);
        }
        if s.state == ShotState::Completed {
            j.completed = Some(s.ts);
        }
    }
    // When each stage was done: its job's completion (the last shot's for `shots`).
    let done = |stage: Stage| -> Option<DateTime<Utc>> {
        let mut of = jobs.values().filter(|j| j.stage == stage).peekable();
        of.peek()?;
        of.map(|j| j.completed)
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .max()
    };
    let ready_at = |stage: Stage| -> Option<DateTime<Utc>> {
        match stage {
            Stage::Script => Some(record.created_at),
            Stage::Reference => done(Stage::Script),
            Stage::Shot if record.is_story() => done(Stage::Reference),
            Stage::Shot => Some(record.created_at),
            Stage::Stitch => done(Stage::Shot),
        }
    };
    let figures = jobs
        .values()
        .map(|j| JobFigure {
            stage: j.stage,
            pool: j.node.as_ref().and_then(|n| pool_of.get(n)).cloned(),
            wait_s: ready_at(j.stage)
                .zip(j.assigned)
                .map(|(r, a)| secs(r, a).max(0.0)),
            run_s: j.assigned.zip(j.completed).map(|(a, c)| secs(a, c)),
        })
        .collect();
    let spans = STAGES.map(|(stage, _)| ready_at(stage).zip(done(stage)).map(|(r, d)| secs(r, d)));
    Some((figures, spans))
}

/// Per-stage figures of every story video of a run (empty when it had none).
pub fn stage_figures(runs: &[VideoRun], pool_of: &HashMap<String, String>) -> Vec<StageFigures> {
    let mut jobs = Vec::new();
    let mut spans: [Vec<f64>; 4] = Default::default();
    for run in runs
        .iter()
        .filter(|r| r.record.as_ref().is_some_and(|v| v.is_story()))
    {
        if let Some((f, s)) = video_figures(run, pool_of) {
            jobs.extend(f);
            for (i, span) in s.into_iter().enumerate() {
                spans[i].extend(span);
            }
        }
    }
    if jobs.is_empty() {
        return Vec::new();
    }
    STAGES
        .iter()
        .zip(spans)
        .map(|((stage, name), span)| {
            let of = || jobs.iter().filter(|j| j.stage == *stage);
            StageFigures {
                stage: name,
                queue_wait_s: summarize(&of().filter_map(|j| j.wait_s).collect::<Vec<_>>()),
                run_s: summarize(&of().filter_map(|j| j.run_s).collect::<Vec<_>>()),
                span_s: summarize(&span),
            }
        })
        .collect()
}

/// Per-pool figures: utilization from the cluster samples, latency from the jobs that ran on
/// each pool's nodes (every video, story or not).
pub fn pool_figures(
    runs: &[VideoRun],
    samples: &[super::collect::Sample],
    pool_of: &HashMap<String, String>,
) -> Vec<PoolFigures> {
    let mut jobs = Vec::new();
    for run in runs {
        if let Some((f, _)) = video_figures(run, pool_of) {
            jobs.extend(f);
        }
    }
    let mut pools: Vec<&String> = samples.iter().flat_map(|s| s.pools.keys()).collect();
    pools.sort();
    pools.dedup();
    let ratio = |busy: u64, total: u64| {
        if total == 0 {
            0.0
        } else {
            busy as f64 / total as f64
        }
    };
    pools
        .into_iter()
        .map(|pool| {
            let of = samples.iter().filter_map(|s| s.pools.get(pool));
            let queued = || of.clone().filter(|p| p.queued > 0);
            let on = || jobs.iter().filter(|j| j.pool.as_ref() == Some(pool));
            PoolFigures {
                pool: pool.clone(),
                utilization: ratio(
                    of.clone().map(|p| u64::from(p.busy)).sum(),
                    of.clone().map(|p| u64::from(p.total)).sum(),
                ),
                utilization_while_queued: ratio(
                    queued().map(|p| u64::from(p.busy)).sum(),
                    queued().map(|p| u64::from(p.total)).sum(),
                ),
                queue_depth_max: of.clone().map(|p| p.queued).max().unwrap_or(0),
                queue_wait_s: summarize(&on().filter_map(|j| j.wait_s).collect::<Vec<_>>()),
                run_s: summarize(&on().filter_map(|j| j.run_s).collect::<Vec<_>>()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stories_are_deterministic_with_a_sentence_per_shot() {
        let a = story_text(7, 3, 4);
        assert_eq!(a, story_text(7, 3, 4));
        assert_ne!(a, story_text(7, 4, 4));
        assert_ne!(a, story_text(8, 3, 4));
        assert_eq!(a.matches('.').count(), 4, "{a}");
    }
}
