//! Data protection: users' text (titles, prompts) sealed at rest with AES-256-GCM under a key per
//! owner, derived (HKDF-SHA256) from the farm's master key; keyed digests of prompts for the
//! audit log. What a store holds is [`Keyring::seal`]'s output, never the text.
//!
//! Sealed text reads `sf1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`. The key id names the
//! master key it was sealed under (a fingerprint, not the key), so that after a rotation data
//! sealed under a previous key still opens and `shotfarm rekey` can find and re-seal it. The
//! owner id is the AEAD's associated data: a sealed prompt copied into another owner's record
//! does not open.

mod keys;
mod rekey;
mod store;

pub use keys::{hex, Keyring, SealError};
pub use rekey::{rekey, RekeyReport};
pub use store::SealedStore;

#[cfg(test)]
mod store_tests;
#[cfg(test)]
mod tests;
