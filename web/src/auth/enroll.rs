//! Enrollment tokens (role `enroll`): one per pool of agents, kept in that pool's Kubernetes
//! Secret instead of the signing secret. Its claims carry a node-id prefix (and optionally a
//! pool); `POST /api/v1/agents/enroll` trades it for a node token of one id under that prefix.
//! A pod holding it can make itself a node of its pool, and nothing else: no user, no operator,
//! no node outside the prefix.

use std::future::{ready, Ready};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::{Deserialize, Serialize};
use shotfarm_core::ids::NodeId;

use super::node::NodeBinding;
use super::{now_unix, token_of, AuthError, HasSub, Role, TokenIssuer};
use crate::problem::ApiError;

/// The longest node id (and so the longest prefix) enrollment accepts.
pub const MAX_NODE_ID_LEN: usize = 128;

/// The claims of an enrollment token (the Supabase shape, plus `node_prefix` and `pool`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollClaims {
    /// `enroll:<node_prefix>`.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch (valid through this second).
    pub exp: u64,
    /// Issue time, seconds since the Unix epoch; a revocation of the prefix refuses every token
    /// issued at or before it.
    #[serde(default)]
    pub iat: u64,
    pub role: Role,
    /// Every node id this token enrolls starts with it, e.g. `agent-video-spot-`. Absent reads
    /// as empty, which `verify_enroll` refuses: so a user or node token (which has none) still
    /// decodes and is refused for its role, by name.
    #[serde(default)]
    pub node_prefix: String,
    /// The pool the enrolled agents serve. Enrollment copies it into the node token, whose
    /// connection refuses a hello announcing another pool; a token naming none enrolls nothing
    /// (older tokens: mint a new one with `--pool`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Whether the enrolled agents are spot instances, when the token says (`--spot` or
    /// `--on-demand`); copied into the node token like `pool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot: Option<bool>,
}

impl HasSub for EnrollClaims {
    fn sub(&self) -> &str {
        &self.sub
    }
}

/// The key under which the revocations port keeps a prefix's revocation: `enroll:<prefix>`.
/// Node ids that enrollment issues never contain `:`, and `POST /api/v1/nodes/{id}/revoke`
/// refuses ids with `:`, so the key cannot be an enrolled node's nor be revoked as a node.
pub fn revocation_key(prefix: &str) -> NodeId {
    NodeId(format!("enroll:{prefix}"))
}

/// Why `id` is not a node id enrollment accepts (non-empty, at most [`MAX_NODE_ID_LEN`]
/// characters of `[A-Za-z0-9._-]`), or `None` when it is one.
pub fn invalid_node_id(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if id.len() > MAX_NODE_ID_LEN {
        return Some(format!(
            "is {} characters long; at most {MAX_NODE_ID_LEN}",
            id.len()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Some(format!(
            "has {c:?}; only letters, digits, `.`, `_` and `-` are allowed"
        ));
    }
    None
}

impl TokenIssuer {
    /// An enrollment token for node ids starting with `prefix` (checked like a node id), valid
    /// for `ttl` from now.
    pub fn mint_enroll(
        &self,
        prefix: &str,
        pool: Option<&str>,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        let binding = NodeBinding {
            pool: pool.map(str::to_owned),
            spot: None,
        };
        self.mint_enroll_for(prefix, &binding, ttl)
    }

    /// An enrollment token for node ids starting with `prefix` whose nodes are bound to
    /// `binding` (the pool, and spot-ness where given), valid for `ttl` from now.
    pub fn mint_enroll_for(
        &self,
        prefix: &str,
        binding: &NodeBinding,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        if let Some(why) = invalid_node_id(prefix) {
            return Err(AuthError::Malformed(format!(
                "node prefix {prefix:?} {why}"
            )));
        }
        let iat = now_unix();
        self.mint_claims(&EnrollClaims {
            sub: format!("enroll:{prefix}"),
            exp: iat.saturating_add(ttl.as_secs()),
            iat,
            role: Role::Enroll,
            node_prefix: prefix.to_owned(),
            pool: binding.pool.clone(),
            spot: binding.spot,
        })
    }

    /// Checks an enrollment token: signature, algorithm, expiry, role `enroll` and a valid prefix.
    pub fn verify_enroll(&self, token: &str) -> Result<EnrollClaims, AuthError> {
        // One decode (one signature check); the role is judged before the prefix, so a user or
        // node token (no `node_prefix`, read as empty) is refused by its role, by name.
        let enroll = self.decode::<EnrollClaims>(token)?;
        if enroll.role != Role::Enroll {
            return Err(AuthError::Malformed(format!(
                "this is a {} token; this route needs an enrollment token \
                 (`shotfarm token --enroll PREFIX`)",
                enroll.role.as_str()
            )));
        }
        if let Some(why) = invalid_node_id(&enroll.node_prefix) {
            return Err(AuthError::Malformed(format!("`node_prefix` {why}")));
        }
        Ok(enroll)
    }
}

/// A caller holding an enrollment token (the enroll route's only extractor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrollCaller {
    pub claims: EnrollClaims,
}

impl EnrollCaller {
    /// The enrollment token of a request (the `Authorization` header).
    pub fn from_http(req: &HttpRequest) -> Result<Self, ApiError> {
        let issuer = req
            .app_data::<web::Data<TokenIssuer>>()
            .ok_or_else(|| ApiError::Internal("web::Data<TokenIssuer> is not registered".into()))?;
        let token = token_of(req)?;
        Ok(Self {
            claims: issuer.verify_enroll(&token)?,
        })
    }
}

impl FromRequest for EnrollCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_http(req))
    }
}

#[cfg(test)]
// Tests may panic on the unexpected: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::{Caller, NodeCaller};
    use actix_web::http::header;
    use actix_web::test::TestRequest;

    const HOUR: Duration = Duration::from_secs(3600);

    fn issuer() -> TokenIssuer {
        TokenIssuer::new("enroll-test-secret-long-enough")
    }

    fn with_bearer(issuer: &TokenIssuer, token: &str) -> HttpRequest {
        TestRequest::get()
            .app_data(web::Data::new(issuer.clone()))
            .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
            .to_http_request()
    }

    #[test]
    fn enroll_tokens_round_trip_with_their_prefix_and_pool() {
        let issuer = issuer();
        let token = issuer
            .mint_enroll("agent-video-spot-", Some("video"), HOUR)
            .unwrap();
        let claims = issuer.verify_enroll(&token).unwrap();
        assert_eq!(claims.node_prefix, "agent-video-spot-");
        assert_eq!(claims.pool.as_deref(), Some("video"));
        assert_eq!(claims.role, Role::Enroll);
        assert_eq!(claims.sub, "enroll:agent-video-spot-");
        assert!(issuer.mint_enroll("bad prefix", None, HOUR).is_err());
        assert!(issuer.mint_enroll("", None, HOUR).is_err());
    }

    #[test]
    fn enroll_tokens_are_neither_users_nor_nodes_and_others_are_not_enroll_tokens() {
        let issuer = issuer();
        let enroll = issuer.mint_enroll("gpu-", None, HOUR).unwrap();
        let req = with_bearer(&issuer, &enroll);
        assert!(
            matches!(Caller::from_http(&req), Err(ApiError::Unauthorized(d)) if d.contains("enroll"))
        );
        assert!(matches!(
            NodeCaller::from_http(&req),
            Err(ApiError::Unauthorized(_))
        ));
        assert!(EnrollCaller::from_http(&req).is_ok());
        for (sub, role) in [
            ("gpu-1", Role::Node),
            ("alice", Role::Authenticated),
            ("ops", Role::Operator),
        ] {
            let token = issuer.mint(sub, role, HOUR).unwrap();
            let req = with_bearer(&issuer, &token);
            match EnrollCaller::from_http(&req) {
                Err(ApiError::Unauthorized(d)) => {
                    assert!(d.contains(role.as_str()) && d.contains("enrollment"), "{d}")
                }
                other => panic!("{role:?}: expected 401, got {other:?}"),
            }
        }
        let other = TokenIssuer::new("another-secret-entirely-here");
        let forged = other.mint_enroll("gpu-", None, HOUR).unwrap();
        assert_eq!(issuer.verify_enroll(&forged), Err(AuthError::BadSignature));
    }

    #[test]
    fn node_ids_are_checked() {
        assert_eq!(invalid_node_id("agent-video-spot-7f9c-x2.a_b"), None);
        assert!(invalid_node_id("").is_some());
        assert!(invalid_node_id("a:b").unwrap().contains("':'"));
        assert!(invalid_node_id("a/b").is_some());
        assert!(invalid_node_id(&"a".repeat(MAX_NODE_ID_LEN + 1)).is_some());
        assert!(invalid_node_id(&"a".repeat(MAX_NODE_ID_LEN)).is_none());
    }
}
