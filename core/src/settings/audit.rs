//! `[audit]`: how the audit log is kept from growing with a user's request rate rather than
//! with what they were shown.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The audit log's own settings (every key optional).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// An owner shown the prompts of one video again within this long of the recorded read is
    /// not recorded again (per server): the log says who saw which prompt and from when, not
    /// every poll. `0s` records every read.
    #[serde(with = "super::humantime_serde_compat")]
    pub prompt_read_window: Duration,
}

impl Default for AuditSettings {
    /// Ten minutes: a page polling its video every second writes one read per ten minutes, and
    /// a read is still dated to within ten minutes.
    fn default() -> Self {
        Self {
            prompt_read_window: Duration::from_secs(600),
        }
    }
}
