//! Signed artifact URLs: `/api/v1/shots/{id}/artifact?exp=&sig=`, where `sig` is HMAC-SHA256
//! with the auth secret over the shot id and the expiry. The URL is the capability: whoever holds
//! it may download that clip until `exp`, with no token (a browser's `<img>` or `<video>` cannot
//! send one). Only the video's owner or an operator ever sees it, in the video's JSON.
//!
//! Architecture note: the signer is installed once per process by [`install`] (the server does it
//! at start), so every view of a video — REST answers and websocket snapshots alike — signs the
//! same way without each caller threading it through.

use std::sync::OnceLock;
use std::time::Duration;

use ring::hmac;
use shotfarm_core::keyring::hex;

/// Keeps these signatures apart from anything else the secret might sign.
const DOMAIN: &str = "shotfarm-artifact-url-v1";
/// The same for the server's own object route (`/api/v1/artifacts/object`), which stands in
/// for a store's presigned URLs where the store has none (`file://`).
const OBJECT_DOMAIN: &str = "shotfarm-artifact-object-v1";
/// Expiries are rounded up to this many seconds, so a video polled every second shows the same
/// URL for a while and the browser's cached clip stays valid.
const EXPIRY_GRANULE_S: u64 = 60;

static INSTALLED: OnceLock<ArtifactSigner> = OnceLock::new();

/// Why a signed URL was refused (both are a 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("this artifact link has expired; read the video again for a fresh one")]
    Expired,
    #[error("this artifact link's signature is not valid")]
    BadSignature,
}

/// Signs and checks artifact URLs.
#[derive(Clone)]
pub struct ArtifactSigner {
    key: hmac::Key,
    ttl: Duration,
}

impl std::fmt::Debug for ArtifactSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("ArtifactSigner")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl ArtifactSigner {
    /// A signer with the auth secret; URLs it makes live `ttl` (rounded up to the minute).
    pub fn new(secret: &str, ttl: Duration) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
            ttl,
        }
    }

    /// A URL for `shot`'s clip valid from `now_unix` for the TTL.
    pub fn url(&self, shot: &str, now_unix: u64) -> String {
        let exp = now_unix
            .saturating_add(self.ttl.as_secs())
            .div_ceil(EXPIRY_GRANULE_S)
            .saturating_mul(EXPIRY_GRANULE_S);
        self.url_expiring_at(shot, exp)
    }

    /// A URL for the poster of `shot`'s video (a story video's stitch job) valid from `now_unix`
    /// for the TTL; its signature covers `<shot>/poster`, so a clip's link opens no poster.
    pub fn poster_url(&self, shot: &str, now_unix: u64) -> String {
        let exp = now_unix
            .saturating_add(self.ttl.as_secs())
            .div_ceil(EXPIRY_GRANULE_S)
            .saturating_mul(EXPIRY_GRANULE_S);
        format!(
            "/api/v1/shots/{shot}/poster?exp={exp}&sig={}",
            self.signature(&poster_subject(shot), exp)
        )
    }

    /// A URL for the clip of `shot`'s finished `version` (re-rolls keep earlier ones) valid from
    /// `now_unix` for the TTL; its signature covers `<shot>/v<version>`, so it opens no other
    /// version.
    pub fn version_url(&self, shot: &str, version: u32, now_unix: u64) -> String {
        let exp = now_unix
            .saturating_add(self.ttl.as_secs())
            .div_ceil(EXPIRY_GRANULE_S)
            .saturating_mul(EXPIRY_GRANULE_S);
        format!(
            "/api/v1/shots/{shot}/versions/{version}/artifact?exp={exp}&sig={}",
            self.signature(&version_subject(shot, version), exp)
        )
    }

    /// A URL for `shot`'s clip valid through `exp` (tests make expired ones with it).
    pub fn url_expiring_at(&self, shot: &str, exp: u64) -> String {
        format!(
            "/api/v1/shots/{shot}/artifact?exp={exp}&sig={}",
            self.signature(shot, exp)
        )
    }

    /// The hex HMAC of `shot` and `exp`.
    pub fn signature(&self, shot: &str, exp: u64) -> String {
        hex(hmac::sign(&self.key, message(shot, exp).as_bytes()).as_ref())
    }

    /// Accepts a signature of `shot` and `exp` while `now_unix <= exp`; the comparison is
    /// constant-time.
    pub fn verify(
        &self,
        shot: &str,
        exp: u64,
        sig: &str,
        now_unix: u64,
    ) -> Result<(), SignatureError> {
        let tag = unhex(sig).ok_or(SignatureError::BadSignature)?;
        hmac::verify(&self.key, message(shot, exp).as_bytes(), &tag)
            .map_err(|_| SignatureError::BadSignature)?;
        if now_unix > exp {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

impl ArtifactSigner {
    /// `/api/v1/artifacts/object?key=&method=&exp=&sig=`: `method` on `key` until `exp`, for
    /// whoever holds the URL (an agent given it for its own shot and attempt).
    pub fn object_url(&self, method: &str, key: &str, exp: u64) -> String {
        let sig = hex(hmac::sign(&self.key, object_message(method, key, exp).as_bytes()).as_ref());
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("key", key)
            .append_pair("method", method)
            .append_pair("exp", &exp.to_string())
            .append_pair("sig", &sig)
            .finish();
        format!("/api/v1/artifacts/object?{query}")
    }

    /// Accepts an object URL's signature of `method`, `key` and `exp` while `now_unix <= exp`.
    pub fn verify_object(
        &self,
        method: &str,
        key: &str,
        exp: u64,
        sig: &str,
        now_unix: u64,
    ) -> Result<(), SignatureError> {
        let tag = unhex(sig).ok_or(SignatureError::BadSignature)?;
        hmac::verify(&self.key, object_message(method, key, exp).as_bytes(), &tag)
            .map_err(|_| SignatureError::BadSignature)?;
        if now_unix > exp {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

fn object_message(method: &str, key: &str, exp: u64) -> String {
    format!("{OBJECT_DOMAIN}\n{method}\n{key}\n{exp}")
}

/// Installs the process's signer; the first one stays (one server per process).
pub fn install(signer: ArtifactSigner) {
    let _ = INSTALLED.set(signer);
}

/// The installed signer, if the server has started.
pub fn installed() -> Option<&'static ArtifactSigner> {
    INSTALLED.get()
}

fn message(shot: &str, exp: u64) -> String {
    format!("{DOMAIN}\n{shot}\n{exp}")
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    // An HMAC-SHA256 tag is 32 bytes: 64 hex digits, no more, no less.
    if text.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks_exact(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// What a poster link's signature covers.
pub fn poster_subject(shot: &str) -> String {
    format!("{shot}/poster")
}

/// What a version's link signs: the shot and the version, apart from its clip's and poster's.
pub fn version_subject(shot: &str, version: u32) -> String {
    format!("{shot}/v{version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_of(url: &str) -> (u64, String) {
        let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
        let mut exp = 0;
        let mut sig = String::new();
        for pair in q.split('&') {
            match pair.split_once('=') {
                Some(("exp", v)) => exp = v.parse().unwrap_or(0),
                Some(("sig", v)) => sig = v.to_owned(),
                _ => {}
            }
        }
        (exp, sig)
    }

    #[test]
    fn a_fresh_url_verifies_until_it_expires() {
        let s = ArtifactSigner::new("a-secret-of-16-chars", Duration::from_secs(900));
        let url = s.url("shot_abc_0", 1_000_000);
        assert!(url.starts_with("/api/v1/shots/shot_abc_0/artifact?exp="));
        let (exp, sig) = query_of(&url);
        assert!((1_000_900..1_000_960).contains(&exp), "{exp}");
        assert_eq!(exp % 60, 0);
        assert_eq!(s.verify("shot_abc_0", exp, &sig, 1_000_000), Ok(()));
        assert_eq!(s.verify("shot_abc_0", exp, &sig, exp), Ok(()));
        assert_eq!(
            s.verify("shot_abc_0", exp, &sig, exp + 1),
            Err(SignatureError::Expired)
        );
        // Polled a second later, the URL is the same (the browser keeps its cached clip).
        assert_eq!(s.url("shot_abc_0", 1_000_001), url);
    }

    #[test]
    fn an_object_url_binds_its_method_key_and_expiry() {
        let s = ArtifactSigner::new("a-secret-of-16-chars", Duration::from_secs(900));
        let url = s.object_url("PUT", "checkpoints/shot_a_0/000003.latent", 2000);
        assert!(url.starts_with("/api/v1/artifacts/object?key=checkpoints%2Fshot_a_0%2F000003.latent&method=PUT&exp=2000&sig="), "{url}");
        let sig = url.rsplit("sig=").next().unwrap_or_default();
        let key = "checkpoints/shot_a_0/000003.latent";
        assert_eq!(s.verify_object("PUT", key, 2000, sig, 1000), Ok(()));
        let bad = Err(SignatureError::BadSignature);
        assert_eq!(s.verify_object("GET", key, 2000, sig, 1000), bad);
        assert_eq!(
            s.verify_object("PUT", "checkpoints/shot_b_0/000003.latent", 2000, sig, 1000),
            bad
        );
        assert_eq!(s.verify_object("PUT", key, 2001, sig, 1000), bad);
        assert_eq!(
            s.verify_object("PUT", key, 2000, sig, 2001),
            Err(SignatureError::Expired)
        );
        // Not a clip URL's signature either way.
        assert_eq!(s.verify(key, 2000, sig, 1000), bad);
    }

    #[test]
    fn any_altered_part_is_refused() {
        let s = ArtifactSigner::new("a-secret-of-16-chars", Duration::from_secs(900));
        let sig = s.signature("shot_abc_0", 2000);
        let bad = Err(SignatureError::BadSignature);
        assert_eq!(
            s.verify("shot_abc_1", 2000, &sig, 1000),
            bad,
            "another shot"
        );
        assert_eq!(
            s.verify("shot_abc_0", 2001, &sig, 1000),
            bad,
            "a later expiry"
        );
        let mut flipped = sig.clone().into_bytes();
        flipped[10] = if flipped[10] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap_or_default();
        assert_eq!(s.verify("shot_abc_0", 2000, &flipped, 1000), bad);
        assert_eq!(
            s.verify("shot_abc_0", 2000, &sig[..62], 1000),
            bad,
            "truncated"
        );
        assert_eq!(s.verify("shot_abc_0", 2000, "zz", 1000), bad, "not hex");
        assert_eq!(s.verify("shot_abc_0", 2000, "", 1000), bad);
        let other = ArtifactSigner::new("another-secret-16ch", Duration::from_secs(900));
        assert_eq!(
            other.verify("shot_abc_0", 2000, &sig, 1000),
            bad,
            "another key"
        );
        // Upper-case hex is the same signature.
        assert_eq!(
            s.verify("shot_abc_0", 2000, &sig.to_uppercase(), 1000),
            Ok(())
        );
    }
}
