//! When a running attempt counts as stuck: how long it may go without progress (a step, or its
//! start), measured in its own expected step times, so a slow model on a slow GPU is not called
//! stuck for being slow, and never under a floor, so a loaded machine's hiccup is not either.
//!
//! The farm applies two of these rules to every attempt (`timing.stuck_flag_*` and
//! `timing.stuck_*`): the first shows the shot as stuck on its node to operators, the second,
//! later one, cancels the attempt and retries it as a failure.

use std::time::Duration;

/// No progress for `after_steps` expected step times, and never less than `min`, is stuck.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StuckRule {
    /// How many expected step times without progress.
    pub after_steps: f64,
    /// The least time without progress that counts, whatever the step time.
    pub min: Duration,
}

impl StuckRule {
    /// How long an attempt whose steps are expected to take `wall_seconds_per_step` (the
    /// model's seconds per step on that GPU, scaled to the shot's length and by
    /// `timing.time_factor`) may go without progress before it is stuck.
    pub fn limit(&self, wall_seconds_per_step: f64) -> Duration {
        let expected = wall_seconds_per_step * self.after_steps;
        // `Duration::from_secs_f64` panics on a negative, NaN or huge value; a nonsense step
        // time falls back to the floor (or to the longest wait a timer can take).
        let expected = if expected.is_finite() && expected > 0.0 {
            Duration::try_from_secs_f64(expected).unwrap_or(MAX_LIMIT)
        } else {
            Duration::ZERO
        };
        expected.max(self.min).min(MAX_LIMIT)
    }

    /// Whether an attempt that has gone `without_progress` is stuck.
    pub fn is_stuck(&self, without_progress: Duration, wall_seconds_per_step: f64) -> bool {
        without_progress >= self.limit(wall_seconds_per_step)
    }
}

/// No limit is longer than a year: timers are armed with it, and `Instant + Duration` panics on
/// overflow.
const MAX_LIMIT: Duration = Duration::from_secs(365 * 24 * 3600);

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: StuckRule = StuckRule {
        after_steps: 3.0,
        min: Duration::from_secs(10),
    };

    #[test]
    fn a_slow_model_gets_its_step_times() {
        // 9 s per step: 27 s without progress before it is stuck.
        assert_eq!(RULE.limit(9.0), Duration::from_secs(27));
        assert!(!RULE.is_stuck(Duration::from_secs(26), 9.0));
        assert!(RULE.is_stuck(Duration::from_secs(27), 9.0));
    }

    #[test]
    fn a_fast_model_is_held_to_the_floor() {
        // 0.072 s per step (CogVideoX-5B at time factor 0.02): 0.216 s, but never under 10 s.
        assert_eq!(RULE.limit(0.072), Duration::from_secs(10));
        assert!(!RULE.is_stuck(Duration::from_secs(9), 0.072));
        assert!(RULE.is_stuck(Duration::from_secs(10), 0.072));
    }

    #[test]
    fn nonsense_step_times_fall_back_to_the_floor_or_the_longest_limit() {
        for bad in [f64::NAN, -1.0, 0.0, f64::NEG_INFINITY] {
            assert_eq!(RULE.limit(bad), Duration::from_secs(10), "{bad}");
        }
        assert_eq!(RULE.limit(f64::INFINITY), Duration::from_secs(10));
        assert_eq!(RULE.limit(1e300), MAX_LIMIT);
    }
}
