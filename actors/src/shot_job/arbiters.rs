//! [`JobArbiters`]: the threads shot job actors run on. With `runtime.job_arbiters = n` above 1
//! the farm starts n - 1 arbiters beside the system's own and spreads jobs over all n, so the
//! per-step work (state machine, sealing, encoding, store writes) uses n cores, while the
//! supervisor stays one actor on the system's arbiter: the single decision point. A job lives on
//! one arbiter for its whole life, so its own messages and writes keep their order, and every
//! job of a video lives on the same one, so the video's events keep seq order.

use std::hash::{DefaultHasher, Hash, Hasher};

use actix::prelude::*;

use super::ShotJob;

/// Where shot jobs are started: the current arbiter and any extra ones, by video.
pub struct JobArbiters {
    /// The extra arbiters; the one a job is started from (the supervisor's) is the n-th.
    extra: Vec<Arbiter>,
}

impl JobArbiters {
    /// Every job on the arbiter that starts it (`runtime.job_arbiters = 1`).
    pub fn current_only() -> Self {
        Self { extra: Vec::new() }
    }

    /// `n` arbiters in all: this one and `n - 1` new threads. Needs a running actix system.
    pub fn spread_over(n: usize) -> Self {
        Self {
            extra: (1..n.max(1)).map(|_| Arbiter::new()).collect(),
        }
    }

    /// Arbiters jobs are spread over, the current one included.
    pub fn count(&self) -> usize {
        self.extra.len() + 1
    }

    /// Starts `job` on its video's arbiter: every job of one video runs on one thread, so a
    /// video's writes and their events leave in seq order as on a single arbiter (the
    /// in-memory store's write and its publish are one uninterrupted step on that thread; two
    /// threads could publish one video's seqs out of order).
    pub fn start(&self, job: ShotJob) -> Addr<ShotJob> {
        let mut hasher = DefaultHasher::new();
        job.video.hash(&mut hasher);
        let turn = (hasher.finish() % self.count() as u64) as usize;
        match self.extra.get(turn) {
            Some(arbiter) => ShotJob::start_in_arbiter(&arbiter.handle(), move |_| job),
            None => job.start(),
        }
    }
}

impl Drop for JobArbiters {
    /// The farm is gone (its supervisor and every job held this): its threads end with it.
    fn drop(&mut self) {
        for arbiter in &self.extra {
            arbiter.stop();
        }
    }
}
