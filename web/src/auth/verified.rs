//! [`VerifiedTokens`]: the claims of user tokens whose signature was checked already, by their
//! exact text, so a caller's every request does not pay for HMAC-SHA256, base64 and a JSON parse
//! again (about 5% of the server's instructions at full load, three requests a video:
//! BENCHMARKS.md, "Throughput of the farm itself").
//!
//! Safe because an issuer's secret never changes while it lives: the same text verifies the
//! same way every time, except for its expiry, which is checked again on every hit by the same
//! rule. Only tokens that passed are kept, so garbage cannot fill it.

use dashmap::DashMap;

use super::Claims;

/// Tokens kept at most; past this the memory is cleared and refilled as requests come (a
/// cleared token costs one verification, nothing else).
const KEPT_MAX: usize = 10_000;

/// Verified tokens' claims, keyed by the token's text.
#[derive(Default)]
pub struct VerifiedTokens {
    claims: DashMap<Box<str>, Claims>,
}

impl VerifiedTokens {
    /// The claims of `token` if it was verified before and has not expired at `now_unix`;
    /// `None` sends it through full verification (which then reports an expiry by name).
    pub fn get(&self, token: &str, now_unix: u64) -> Option<Claims> {
        let claims = self.claims.get(token)?;
        (!claims.is_expired_at(now_unix)).then(|| claims.clone())
    }

    /// Keeps `claims` as `token`'s, which has just passed full verification.
    pub fn keep(&self, token: &str, claims: &Claims) {
        if self.claims.len() >= KEPT_MAX {
            self.claims.clear();
        }
        self.claims.insert(token.into(), claims.clone());
    }

    /// How many tokens are kept.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.claims.len()
    }
}
