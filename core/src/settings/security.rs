//! `[security]`: the master keys that per-owner data keys derive from. Never printed: `Debug`
//! shows fingerprints only, and serialization skips the key material.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::keyring::{Keyring, SealError};

/// The farm's data-protection keys (see `crate::keyring`).
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// The current master key: 32 bytes as 64 hex digits or standard base64
    /// (`SHOTFARM_SECURITY__MASTER_KEY`). New data is sealed under it.
    #[serde(default, skip_serializing)]
    pub master_key: String,
    /// Master keys that were current before: data sealed under them still opens, and
    /// `shotfarm rekey` re-seals it under `master_key`.
    #[serde(default, skip_serializing)]
    pub previous_master_keys: Vec<String>,
}

impl fmt::Debug for SecuritySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecuritySettings")
            .field("master_key", &"<redacted>")
            .field(
                "previous_master_keys",
                &format_args!("<{} redacted>", self.previous_master_keys.len()),
            )
            .finish()
    }
}

impl SecuritySettings {
    /// The keyring these keys make; fails naming the key that does not parse.
    pub fn keyring(&self) -> Result<Keyring, SealError> {
        Keyring::new(&self.master_key, &self.previous_master_keys)
    }
}
