//! `[runtime]`: how the farm's actors use the machine's cores. Shot job actors (and the store
//! writes they make) are spread over `job_arbiters` threads, each an actix arbiter; the
//! supervisor, the nodes and everything else stay on the system's arbiter, so placement keeps
//! its single decision point.

use serde::{Deserialize, Serialize};

/// The farm's threads.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeSettings {
    /// Arbiters (threads) the shot job actors are sharded over, a job on one for its life.
    /// Unset or `1`: every job on the system's arbiter, beside the supervisor (one thread for
    /// the whole farm). One is the default because it measured faster on the 2-core machines
    /// we have (BENCHMARKS.md, "Throughput of the farm itself": 2 threads cost more CPU per shot
    /// than they gained); set more on a machine with cores to spare.
    pub job_arbiters: Option<usize>,
}

impl RuntimeSettings {
    /// The most arbiters a farm starts: more threads than this only add switching.
    pub const MAX_JOB_ARBITERS: usize = 256;

    /// `job_arbiters` resolved: the configured count, or 1.
    pub fn job_arbiters(&self) -> usize {
        self.job_arbiters.unwrap_or(1)
    }

    /// `job_arbiters` must be 1..=256 where set.
    pub fn check(&self) -> Result<(), String> {
        match self.job_arbiters {
            Some(n) if n == 0 || n > Self::MAX_JOB_ARBITERS => Err(format!(
                "runtime.job_arbiters must be 1..={}, not {n}",
                Self::MAX_JOB_ARBITERS
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_is_one_and_bounds_are_checked() {
        let unset = RuntimeSettings::default();
        assert_eq!(unset.job_arbiters(), 1);
        assert!(unset.check().is_ok());
        let one = RuntimeSettings {
            job_arbiters: Some(1),
        };
        assert_eq!(one.job_arbiters(), 1);
        for bad in [0, 257] {
            let err = RuntimeSettings {
                job_arbiters: Some(bad),
            }
            .check()
            .unwrap_err();
            assert!(err.contains("runtime.job_arbiters"), "{err}");
        }
    }
}
