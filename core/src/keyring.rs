//! The keyring: master keys parsed from `[security]`, per-owner AES-256-GCM keys derived from
//! them, sealing and opening, and the prompt digest key.
//!
//! Users' text (titles, prompts) is sealed at rest with AES-256-GCM under a key per owner,
//! derived (HKDF-SHA256) from the farm's master key; the audit log keeps keyed digests of
//! prompts. Sealed text reads `sf1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`. The key id
//! names the master key it was sealed under (a fingerprint, not the key), so that after a
//! rotation data sealed under a previous key still opens and `shotfarm rekey` can find and
//! re-seal it. The owner id is the AEAD's associated data: a sealed prompt copied into another
//! owner's record does not open. The store decorator that applies it is
//! `shotfarm_actors::sealing::SealedStore`.

use std::fmt;
use std::sync::Arc;

use dashmap::DashMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hkdf::{Prk, Salt, HKDF_SHA256};
use ring::hmac;

use crate::ids::OwnerId;
use digests::PromptDigests;

mod digests;

/// The version tag every sealed string starts with.
const TAG: &str = "sf1";
/// HKDF salt: fixed, so that one master key always derives the same keys.
const SALT: &[u8] = b"shotfarm sealing v1";
const OWNER_KEY_INFO: &[u8] = b"shotfarm owner data key";
const DIGEST_KEY_INFO: &[u8] = b"shotfarm prompt digest key";
const KEY_ID_INFO: &[u8] = b"shotfarm key id";
const SEED_KEY_INFO: &[u8] = b"shotfarm default seed key";

/// Why a key could not be loaded or a sealed text not opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("{field}: {reason}")]
    BadKey { field: String, reason: String },
    #[error("not sealed text (expected `sf1.<key id>.<data>`)")]
    NotSealed,
    #[error("sealed under key {0}, which is neither security.master_key nor one of security.previous_master_keys")]
    UnknownKey(String),
    #[error("sealed text does not open: altered, or sealed for another owner")]
    Tampered,
}

/// Owners whose derived key each master key remembers (past this the memory is cleared).
const OWNER_KEYS_MAX: usize = 10_000;

/// One master key: its HKDF pseudo-random key and its public fingerprint.
struct MasterKey {
    id: String,
    prk: Prk,
    /// Derived per-owner keys: a prompt is sealed on every shot write, and deriving (HKDF and
    /// the AES key schedule) costs more than sealing.
    owner_keys: DashMap<OwnerId, Arc<LessSafeKey>>,
}

impl MasterKey {
    fn parse(field: &str, text: &str) -> Result<Self, SealError> {
        let bad = |reason: &str| SealError::BadKey {
            field: field.to_owned(),
            reason: reason.to_owned(),
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(bad("not set: give 32 bytes as 64 hex digits or base64"));
        }
        let bytes = decode_hex(text)
            .or_else(|| STANDARD.decode(text).ok())
            .ok_or_else(|| bad("neither 64 hex digits nor standard base64"))?;
        if bytes.len() != 32 {
            return Err(bad(&format!("{} bytes; a master key is 32", bytes.len())));
        }
        let prk = Salt::new(HKDF_SHA256, SALT).extract(&bytes);
        let mut id = [0u8; 6];
        expand(&prk, &[KEY_ID_INFO], &mut id);
        Ok(Self {
            id: hex(&id),
            prk,
            owner_keys: DashMap::new(),
        })
    }

    fn owner_key(&self, owner: &OwnerId) -> Arc<LessSafeKey> {
        if let Some(key) = self.owner_keys.get(owner) {
            return Arc::clone(&key);
        }
        if self.owner_keys.len() >= OWNER_KEYS_MAX {
            self.owner_keys.clear();
        }
        let key = Arc::new(self.derive_owner_key(owner));
        self.owner_keys.insert(owner.clone(), Arc::clone(&key));
        key
    }

    fn derive_owner_key(&self, owner: &OwnerId) -> LessSafeKey {
        let mut key = [0u8; 32];
        expand(
            &self.prk,
            &[OWNER_KEY_INFO, owner.as_str().as_bytes()],
            &mut key,
        );
        let unbound = UnboundKey::new(&AES_256_GCM, &key).expect("32 bytes is an AES-256 key");
        LessSafeKey::new(unbound)
    }
}

/// The farm's master keys, current first.
pub struct Keyring {
    keys: Vec<MasterKey>,
    digest: hmac::Key,
    /// Digests already made under `digest` (the key never changes while the keyring lives).
    digests: PromptDigests,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

impl Keyring {
    /// The keys configured in `[security]`.
    pub fn new(master_key: &str, previous_master_keys: &[String]) -> Result<Self, SealError> {
        let mut keys = vec![MasterKey::parse("security.master_key", master_key)?];
        for (i, text) in previous_master_keys.iter().enumerate() {
            keys.push(MasterKey::parse(
                &format!("security.previous_master_keys[{i}]"),
                text,
            )?);
        }
        let mut digest = [0u8; 32];
        expand(&keys[0].prk, &[DIGEST_KEY_INFO], &mut digest);
        Ok(Self {
            digest: hmac::Key::new(hmac::HMAC_SHA256, &digest),
            digests: PromptDigests::default(),
            keys,
        })
    }

    /// The fingerprint of the current master key (what newly sealed text names).
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// `text` sealed for `owner` under the current master key.
    pub fn seal(&self, owner: &OwnerId, text: &str) -> String {
        let key = self.keys[0].owner_key(owner);
        // Random 96-bit nonces from the thread's CSPRNG (ChaCha, seeded and reseeded from the
        // OS): a getrandom call per seal would cost more than the sealing.
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut data = text.as_bytes().to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(owner.as_str().as_bytes()),
            &mut data,
        )
        .expect("AES-GCM seals any length a prompt can have");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        format!("{TAG}.{}.{}", self.keys[0].id, URL_SAFE_NO_PAD.encode(out))
    }

    /// The text `sealed` holds, if it was sealed for `owner` under a key of this ring.
    pub fn open(&self, owner: &OwnerId, sealed: &str) -> Result<String, SealError> {
        let (key_id, data) = split(sealed)?;
        let master = self
            .keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or_else(|| SealError::UnknownKey(key_id.to_owned()))?;
        let mut data = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| SealError::Tampered)?;
        if data.len() < NONCE_LEN {
            return Err(SealError::Tampered);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&data[..NONCE_LEN]);
        let plain = master
            .owner_key(owner)
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.as_str().as_bytes()),
                &mut data[NONCE_LEN..],
            )
            .map_err(|_| SealError::Tampered)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Tampered)
    }

    /// Whether `sealed` is sealed under the current master key (`rekey` skips it).
    pub fn is_current(&self, sealed: &str) -> bool {
        split(sealed).is_ok_and(|(id, _)| id == self.keys[0].id)
    }

    /// `sealed` opened and sealed again under the current key; `None` when it already is.
    pub fn reseal(&self, owner: &OwnerId, sealed: &str) -> Result<Option<String>, SealError> {
        if self.is_current(sealed) {
            return Ok(None);
        }
        Ok(Some(self.seal(owner, &self.open(owner, sealed)?)))
    }

    /// A keyed digest of a prompt for the audit log: equal prompts give equal digests under
    /// one master key, and without the key a digest cannot be matched against guesses.
    /// Each prompt is digested once (kept in memory, bounded by bytes: `keyring/digests.rs`).
    pub fn prompt_digest(&self, prompt: &str) -> String {
        self.digests.get_or_make(prompt, || {
            let tag = hmac::sign(&self.digest, prompt.as_bytes());
            format!("hmac-sha256:{}", hex(tag.as_ref()))
        })
    }

    /// The seed of `owner`'s shot that names none: the first 8 bytes of HMAC-SHA256 of the
    /// prompt under a key derived for the owner from the current master key. Resubmitting a
    /// prompt renders the same clip for its owner (under one master key), while the seed, stored
    /// in clear and shown to operators, cannot be tested against guessed prompts without the
    /// key, nor tell that two owners wrote the same prompt.
    pub fn default_seed(&self, owner: &OwnerId, prompt: &str) -> u64 {
        let mut key = [0u8; 32];
        expand(
            &self.keys[0].prk,
            &[SEED_KEY_INFO, owner.as_str().as_bytes()],
            &mut key,
        );
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), prompt.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&tag.as_ref()[..8]);
        u64::from_be_bytes(first)
    }
}

/// Lowercase hex of `bytes` (key fingerprints, digests, signed URLs).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

/// Whether `text` looks like sealed text (its shape, not whether it opens).
pub fn looks_sealed(text: &str) -> bool {
    split(text).is_ok()
}

fn split(sealed: &str) -> Result<(&str, &str), SealError> {
    let mut parts = sealed.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(TAG), Some(id), Some(data)) if !id.is_empty() && !data.is_empty() => Ok((id, data)),
        _ => Err(SealError::NotSealed),
    }
}

fn expand(prk: &Prk, info: &[&[u8]], out: &mut [u8]) {
    struct Len(usize);
    impl ring::hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    prk.expand(info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .expect("HKDF-SHA256 yields up to 8160 bytes");
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests;
