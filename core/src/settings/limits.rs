//! `[limits]`: per-user request rates, one budget for submissions and one for reads of a user's
//! data, enforced in process by each server (N servers behind a balancer allow N times the rate).

use serde::{Deserialize, Serialize};

/// Requests a user may make, as a sustained rate per minute and a burst on top of it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Off: no request is rate limited.
    pub enabled: bool,
    /// Sustained `POST /api/v1/videos` per user per minute.
    pub submissions_per_minute: u32,
    /// Submissions a user may make at once after being idle.
    pub submission_burst: u32,
    /// Sustained reads of a user's data (a video, the list, a progress websocket, credits) per
    /// user per minute.
    pub reads_per_minute: u32,
    /// Reads a user may make at once after being idle.
    pub read_burst: u32,
}

impl Default for LimitSettings {
    /// Generous: far above a person's use (the seed's power user makes 3-5 videos a day) and
    /// above what the load driver sends as one user (150 videos at once, each watched).
    fn default() -> Self {
        Self {
            enabled: true,
            submissions_per_minute: 600,
            submission_burst: 300,
            reads_per_minute: 12_000,
            read_burst: 2_000,
        }
    }
}

impl LimitSettings {
    /// Rates and bursts must be above 0 (turn limits off with `enabled = false`).
    pub fn check(&self) -> Result<(), String> {
        for (key, value) in [
            ("submissions_per_minute", self.submissions_per_minute),
            ("submission_burst", self.submission_burst),
            ("reads_per_minute", self.reads_per_minute),
            ("read_burst", self.read_burst),
        ] {
            if value == 0 {
                return Err(format!(
                    "limits.{key} must be above 0 (set limits.enabled = false to turn limits off)"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::Settings;

    #[test]
    fn a_zero_rate_is_refused_by_name() {
        let env = vec![("SHOTFARM_LIMITS__READ_BURST".to_owned(), "0".to_owned())];
        let err = Settings::load(None, env).expect_err("zero burst");
        assert!(err.to_string().contains("limits.read_burst"), "{err}");
    }
}
