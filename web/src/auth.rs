//! Who is calling: HS256 JWTs in the Supabase claim shape, minted and verified by
//! [`TokenIssuer`], and the extractors that admit users ([`Caller`]) and GPU agents
//! ([`NodeCaller`]).
//!
//! Architecture Invariant: a `node` token never passes as a user and a user token never passes
//! as a node; an `enroll` token passes as neither ([`enroll::EnrollCaller`] is its only door).
//! The extractors check the role, not the routes.

pub mod enroll;
pub mod node;
mod verified;

use std::fmt;
use std::future::{ready, Ready};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use shotfarm_core::ids::{NodeId, OwnerId};

use crate::problem::ApiError;
use verified::VerifiedTokens;

/// What a token lets its bearer be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A user: submits and watches their own videos.
    Authenticated,
    /// A user who may also run the operator routes.
    Operator,
    /// A GPU agent; never a user.
    Node,
    /// An enrollment token: trades itself for node tokens of ids under its prefix at
    /// `POST /api/v1/agents/enroll` ([`enroll`]); never a user, never a node.
    Enroll,
}

impl Role {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Authenticated => "authenticated",
            Role::Operator => "operator",
            Role::Node => "node",
            Role::Enroll => "enroll",
        }
    }
}

/// The claims of a shotfarm token (the Supabase shape; other claims such as `aud` or `email`
/// are ignored, and a role other than the four known ones is refused; an `enroll` token's
/// `node_prefix` and `pool` are read by [`enroll::EnrollClaims`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, or the node id for `node` tokens.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch. The token is valid up to and including this second.
    pub exp: u64,
    /// Issue time, seconds since the Unix epoch (not checked; absent is read as 0).
    #[serde(default)]
    pub iat: u64,
    pub role: Role,
    /// The user's plan (`[credits.plans]`), when the issuer knows it; a `credits.users` entry
    /// wins over it, and without either the user is on `credits.default_plan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// The user's organisation, their tenant: nodes reserved for it (`reserved_for`) run their
    /// videos. 1-32 of `a-z`, `0-9`, `-`, `_`; anything else is refused as a malformed token
    /// (401 naming `org`). Absent: no tenant (shared nodes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
}

impl Claims {
    /// Whether the token has expired at `now_unix` (seconds), by the same rule as
    /// [`TokenIssuer::verify`]: zero leeway, valid through `exp`.
    pub fn is_expired_at(&self, now_unix: u64) -> bool {
        now_unix > self.exp
    }

    /// The expiry as a timestamp; a value beyond chrono's range reads as the far future.
    pub fn expires_at(&self) -> DateTime<Utc> {
        i64::try_from(self.exp)
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// Why a token was refused. Kept apart from [`ApiError`] because callers branch on it: a
/// websocket session closes with 1008 on [`AuthError::Expired`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing token: send `Authorization: Bearer <token>` (websocket routes also accept `?token=`)")]
    Missing,
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("token has expired")]
    Expired,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token must be signed with HS256")]
    WrongAlgorithm,
    #[error("{0}")]
    WrongRole(&'static str),
    #[error("cannot sign token: {0}")]
    Signing(String),
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Signing(reason) => ApiError::Internal(format!("signing a token: {reason}")),
            other => ApiError::Unauthorized(other.to_string()),
        }
    }
}

/// Mints and verifies HS256 tokens with one shared secret. Registered as
/// `web::Data<TokenIssuer>` app data for the extractors.
#[derive(Clone)]
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// User tokens verified already (shared by the issuer's clones, which hold the same secret).
    verified: Arc<VerifiedTokens>,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("TokenIssuer").finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer for `secret` (config requires at least 16 characters).
    pub fn new(secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Zero leeway: a token is valid through its `exp` second and not after, the same rule
        // `Claims::is_expired_at` applies to open websocket sessions.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        // Supabase tokens carry `aud: "authenticated"`; the role claim decides, not the audience.
        validation.validate_aud = false;
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            verified: Arc::default(),
        }
    }

    /// A token for `sub` with `role`, valid for `ttl` from now.
    pub fn mint(&self, sub: &str, role: Role, ttl: Duration) -> Result<String, AuthError> {
        self.mint_with_plan(sub, role, None, ttl)
    }

    /// A token for `sub` with `role`, a `plan` and an `org` claim (checked: a bad one is
    /// `Malformed` naming it), valid for `ttl` from now.
    pub fn mint_for_org(
        &self,
        sub: &str,
        role: Role,
        plan: Option<&str>,
        org: Option<&str>,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        if let Some(org) = org {
            check_org(org)?;
        }
        let iat = now_unix();
        self.mint_claims(&Claims {
            sub: sub.to_owned(),
            exp: iat.saturating_add(ttl.as_secs()),
            iat,
            role,
            plan: plan.map(str::to_owned),
            org: org.map(str::to_owned),
        })
    }

    /// A token for `sub` with `role` and a `plan` claim, valid for `ttl` from now.
    pub fn mint_with_plan(
        &self,
        sub: &str,
        role: Role,
        plan: Option<&str>,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        self.mint_for_org(sub, role, plan, None, ttl)
    }

    /// A token carrying exactly `claims`: [`Claims`], or another shape such as
    /// [`enroll::EnrollClaims`] (tests use it to mint expired tokens).
    pub fn mint_claims<T: Serialize>(&self, claims: &T) -> Result<String, AuthError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| AuthError::Signing(e.to_string()))
    }

    /// Checks signature, algorithm, expiry and the `org` claim's form, and returns the claims.
    /// A token that passed before is taken from memory with its expiry checked again.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        if let Some(claims) = self.verified.get(token, now_unix()) {
            return Ok(claims);
        }
        let claims = self.decode::<Claims>(token)?;
        if let Some(org) = &claims.org {
            check_org(org)?;
        }
        self.verified.keep(token, &claims);
        Ok(claims)
    }

    /// Checks signature, algorithm and expiry, and reads the claims as `T`.
    fn decode<T: serde::de::DeserializeOwned + HasSub>(&self, token: &str) -> Result<T, AuthError> {
        let data = jsonwebtoken::decode::<T>(token, &self.decoding, &self.validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    AuthError::WrongAlgorithm
                }
                ErrorKind::MissingRequiredClaim(claim) => {
                    AuthError::Malformed(format!("missing claim `{claim}`"))
                }
                ErrorKind::Json(_) => {
                    AuthError::Malformed(format!("claims are not the expected shape: {e}"))
                }
                _ => AuthError::Malformed(e.to_string()),
            },
        )?;
        if data.claims.sub().trim().is_empty() {
            return Err(AuthError::Malformed("empty `sub` claim".to_owned()));
        }
        Ok(data.claims)
    }
}

/// Refuses an `org` claim that is not a tenant name, naming the claim.
fn check_org(org: &str) -> Result<(), AuthError> {
    shotfarm_core::tenant::check_tenant("the `org` claim", org).map_err(AuthError::Malformed)
}

/// Claims with a subject (every shape [`TokenIssuer`] decodes).
trait HasSub {
    fn sub(&self) -> &str;
}

impl HasSub for Claims {
    fn sub(&self) -> &str {
        &self.sub
    }
}

/// Seconds since the Unix epoch, by the clock jsonwebtoken checks `exp` against.
pub fn now_unix() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// An authenticated user (role `authenticated` or `operator`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user: OwnerId,
    pub operator: bool,
    /// When the token stops being valid; a websocket session closes with 1008 then.
    pub expires_at: DateTime<Utc>,
    /// The token's `plan` claim, if any (see [`Claims::plan`]).
    pub plan: Option<String>,
    /// The token's `org` claim, if any: the caller's tenant (see [`Claims::org`]).
    pub tenant: Option<String>,
}

impl Caller {
    /// Who the caller is, as the farm's reads judge it (ownership, read rate, prompt reads).
    pub fn identity(&self) -> shotfarm_actors::farm::Identity {
        shotfarm_actors::farm::Identity {
            user: self.user.clone(),
            operator: self.operator,
            plan: self.plan.clone(),
            tenant: self.tenant.clone(),
        }
    }

    /// 403 unless the caller is an operator.
    pub fn require_operator(&self) -> Result<(), ApiError> {
        if self.operator {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "this route is for operators; your token's role is `authenticated`".to_owned(),
            ))
        }
    }

    /// The user behind a request's token.
    pub fn from_http(req: &HttpRequest) -> Result<Self, ApiError> {
        let claims = claims_of(req)?;
        let operator = match claims.role {
            Role::Authenticated => false,
            Role::Operator => true,
            Role::Node => {
                return Err(AuthError::WrongRole("node tokens cannot act as a user").into());
            }
            Role::Enroll => {
                return Err(AuthError::WrongRole(
                    "enrollment tokens cannot act as a user; they only enroll agents \
                     (POST /api/v1/agents/enroll)",
                )
                .into());
            }
        };
        Ok(Self {
            expires_at: claims.expires_at(),
            user: OwnerId(claims.sub),
            operator,
            plan: claims.plan,
            tenant: claims.org,
        })
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_http(req))
    }
}

/// An authenticated GPU agent (role `node`), for the agent routes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeCaller {
    pub node: NodeId,
    pub expires_at: DateTime<Utc>,
    /// The token's `iat` (Unix seconds; 0 when absent): a revocation of the node refuses every
    /// token issued at or before it.
    pub issued_at: u64,
    /// The pool (and spot-ness) the token binds the node to, which its hello must announce.
    pub binding: node::NodeBinding,
}

impl NodeCaller {
    /// The node behind a request's token.
    pub fn from_http(req: &HttpRequest) -> Result<Self, ApiError> {
        let issuer = req
            .app_data::<web::Data<TokenIssuer>>()
            .ok_or_else(|| ApiError::Internal("web::Data<TokenIssuer> is not registered".into()))?;
        let claims = issuer.verify_node(&token_of(req)?)?;
        if claims.role != Role::Node {
            return Err(AuthError::WrongRole("this route needs a node token").into());
        }
        Ok(Self {
            expires_at: claims.expires_at(),
            issued_at: claims.iat,
            binding: claims.binding(),
            node: NodeId(claims.sub),
        })
    }
}

impl FromRequest for NodeCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_http(req))
    }
}

/// The verified claims of the request's token.
fn claims_of(req: &HttpRequest) -> Result<Claims, ApiError> {
    let issuer = req
        .app_data::<web::Data<TokenIssuer>>()
        .ok_or_else(|| ApiError::Internal("web::Data<TokenIssuer> is not registered".into()))?;
    let token = token_of(req)?;
    Ok(issuer.verify(&token)?)
}

/// The bearer token of a request: the `Authorization` header, or for a websocket upgrade (whose
/// browser client cannot set headers) the `token` query parameter. The header wins when both
/// are there.
fn token_of(req: &HttpRequest) -> Result<String, AuthError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let bad =
            || AuthError::Malformed("the Authorization header must be `Bearer <token>`".into());
        let value = value.to_str().map_err(|_| bad())?;
        let (scheme, token) = value.trim().split_once(' ').ok_or_else(bad)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(bad());
        }
        return Ok(token.to_owned());
    }
    if is_websocket_upgrade(req) {
        let from_query = form_urlencoded::parse(req.query_string().as_bytes())
            .find(|(key, _)| key == "token")
            .map(|(_, value)| value.into_owned());
        if let Some(token) = from_query.filter(|t| !t.is_empty()) {
            return Ok(token);
        }
    }
    Err(AuthError::Missing)
}

/// `Upgrade: websocket` (case-insensitive, possibly one of a list).
fn is_websocket_upgrade(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::UPGRADE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
}

#[cfg(test)]
// Tests may panic on the unexpected: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    const SECRET: &str = "test-secret-of-enough-length";
    const HOUR: Duration = Duration::from_secs(3600);

    fn issuer() -> TokenIssuer {
        TokenIssuer::new(SECRET)
    }

    fn request(issuer: TokenIssuer) -> TestRequest {
        TestRequest::get().app_data(web::Data::new(issuer))
    }

    fn bearer(token: &str) -> (header::HeaderName, String) {
        (header::AUTHORIZATION, format!("Bearer {token}"))
    }

    fn unauthorized_detail(result: Result<impl fmt::Debug, ApiError>) -> String {
        match result {
            Err(ApiError::Unauthorized(detail)) => detail,
            other => panic!("expected 401, got {other:?}"),
        }
    }

    #[test]
    fn tokens_round_trip() {
        let issuer = issuer();
        let token = issuer.mint("user-1", Role::Operator, HOUR).unwrap();
        let claims = issuer.verify(&token).unwrap();
        assert_eq!(claims.sub, "user-1");
        assert_eq!(claims.role, Role::Operator);
        assert_eq!(claims.exp, claims.iat + 3600);
        assert!(!claims.is_expired_at(now_unix()));
    }

    /// A user token of `issuer`'s that expired a second ago.
    fn expired(issuer: &TokenIssuer) -> String {
        let now = now_unix();
        issuer
            .mint_claims(&Claims {
                sub: "u".into(),
                exp: now - 1,
                iat: now - 100,
                role: Role::Authenticated,
                plan: None,
                org: None,
            })
            .unwrap()
    }

    #[test]
    fn expired_tokens_are_refused() {
        let issuer = issuer();
        assert_eq!(issuer.verify(&expired(&issuer)), Err(AuthError::Expired));
    }

    #[test]
    fn only_tokens_that_pass_are_remembered_and_a_remembered_one_still_expires() {
        let issuer = issuer();
        let token = issuer.mint("user-1", Role::Authenticated, HOUR).unwrap();
        let first = issuer.verify(&token).unwrap();
        assert_eq!(issuer.verify(&token).unwrap(), first);
        assert_eq!(issuer.verified.len(), 1);
        // A clone (each worker's app data) shares what its original verified.
        assert_eq!(issuer.clone().verified.len(), 1);

        // Refused tokens are never kept: a bad signature, another secret, an expired token.
        let other = TokenIssuer::new("another-secret-of-enough-length");
        let foreign = other.mint("user-1", Role::Operator, HOUR).unwrap();
        assert_eq!(issuer.verify(&foreign), Err(AuthError::BadSignature));
        assert_eq!(issuer.verify(&expired(&issuer)), Err(AuthError::Expired));
        assert_eq!(issuer.verified.len(), 1);

        // A kept token is judged by the verifier's expiry rule on every hit: valid through
        // `exp`, gone the second after, and then sent through full verification again.
        let kept = VerifiedTokens::default();
        let claims = Claims {
            exp: 1_000,
            ..first
        };
        kept.keep("t", &claims);
        assert_eq!(kept.get("t", 1_000), Some(claims));
        assert_eq!(kept.get("t", 1_001), None);
        assert_eq!(kept.get("another", 10), None);
    }

    #[test]
    fn tampered_tokens_are_refused() {
        let issuer = issuer();
        let token = issuer.mint("user-1", Role::Authenticated, HOUR).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        // Change one character in the middle of the payload: the signature no longer matches.
        let mid = parts[1].len() / 2;
        let flipped = if &parts[1][mid..=mid] == "A" {
            "B"
        } else {
            "A"
        };
        parts[1].replace_range(mid..=mid, flipped);
        assert_eq!(
            issuer.verify(&parts.join(".")),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn tokens_signed_with_another_secret_are_refused() {
        let other = TokenIssuer::new("some-other-secret-entirely");
        let token = other.mint("user-1", Role::Operator, HOUR).unwrap();
        assert_eq!(issuer().verify(&token), Err(AuthError::BadSignature));
    }

    #[test]
    fn other_algorithms_and_garbage_are_refused() {
        let claims = Claims {
            sub: "u".into(),
            exp: now_unix() + 60,
            iat: now_unix(),
            role: Role::Authenticated,
            plan: None,
            org: None,
        };
        let hs384 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS384),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert_eq!(issuer().verify(&hs384), Err(AuthError::WrongAlgorithm));
        assert!(matches!(
            issuer().verify("abc"),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(issuer().verify(""), Err(AuthError::Malformed(_))));
    }

    #[test]
    fn supabase_shaped_tokens_are_accepted_and_unknown_roles_are_not() {
        let key = EncodingKey::from_secret(SECRET.as_bytes());
        let exp = now_unix() + 60;
        let supabase = serde_json::json!({
            "sub": "5f1c", "exp": exp, "iat": exp - 60, "role": "authenticated",
            "aud": "authenticated", "email": "a@b.c"
        });
        let token = jsonwebtoken::encode(&Header::default(), &supabase, &key).unwrap();
        assert_eq!(issuer().verify(&token).unwrap().sub, "5f1c");

        let anon = serde_json::json!({"sub": "x", "exp": exp, "role": "anon"});
        let token = jsonwebtoken::encode(&Header::default(), &anon, &key).unwrap();
        assert!(matches!(
            issuer().verify(&token),
            Err(AuthError::Malformed(_))
        ));

        let no_exp = serde_json::json!({"sub": "x", "role": "authenticated"});
        let token = jsonwebtoken::encode(&Header::default(), &no_exp, &key).unwrap();
        assert!(matches!(
            issuer().verify(&token),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn caller_reads_the_bearer_header() {
        let issuer = issuer();
        let token = issuer.mint("user-7", Role::Authenticated, HOUR).unwrap();
        let req = request(issuer)
            .insert_header(bearer(&token))
            .to_http_request();
        let caller = Caller::from_http(&req).unwrap();
        assert_eq!(caller.user, OwnerId::from("user-7"));
        assert!(!caller.operator);
        assert!(matches!(
            caller.require_operator(),
            Err(ApiError::Forbidden(_))
        ));
    }

    #[actix_rt::test]
    async fn caller_is_an_actix_extractor() {
        let issuer = issuer();
        let token = issuer.mint("op", Role::Operator, HOUR).unwrap();
        let (req, mut pl) = request(issuer)
            .insert_header(bearer(&token))
            .to_http_parts();
        let caller = Caller::from_request(&req, &mut pl).await.unwrap();
        assert!(caller.operator);
        assert!(caller.require_operator().is_ok());
    }

    #[test]
    fn missing_and_malformed_headers_are_401() {
        let req = request(issuer()).to_http_request();
        let detail = unauthorized_detail(Caller::from_http(&req));
        assert!(detail.contains("missing token"), "{detail}");

        let req = request(issuer())
            .insert_header((header::AUTHORIZATION, "Basic dXNlcjpwdw=="))
            .to_http_request();
        let detail = unauthorized_detail(Caller::from_http(&req));
        assert!(detail.contains("Bearer"), "{detail}");

        let req = request(issuer())
            .insert_header(bearer("not.a.jwt"))
            .to_http_request();
        unauthorized_detail(Caller::from_http(&req));
    }

    #[test]
    fn expired_header_tokens_say_so() {
        let issuer = issuer();
        let token = issuer
            .mint_claims(&Claims {
                sub: "u".into(),
                exp: now_unix() - 5,
                iat: 0,
                role: Role::Authenticated,
                plan: None,
                org: None,
            })
            .unwrap();
        let req = request(issuer)
            .insert_header(bearer(&token))
            .to_http_request();
        assert!(unauthorized_detail(Caller::from_http(&req)).contains("expired"));
    }

    #[test]
    fn node_tokens_are_not_users_and_users_are_not_nodes() {
        let issuer = issuer();
        let node = issuer.mint("node-3", Role::Node, HOUR).unwrap();
        let user = issuer.mint("user-1", Role::Operator, HOUR).unwrap();

        let req = request(issuer.clone())
            .insert_header(bearer(&node))
            .to_http_request();
        assert!(unauthorized_detail(Caller::from_http(&req)).contains("node"));
        assert_eq!(
            NodeCaller::from_http(&req).unwrap().node,
            NodeId::from("node-3")
        );

        let req = request(issuer)
            .insert_header(bearer(&user))
            .to_http_request();
        unauthorized_detail(NodeCaller::from_http(&req));
    }

    #[test]
    fn query_tokens_count_only_on_websocket_upgrades() {
        let issuer = issuer();
        let token = issuer.mint("user-1", Role::Authenticated, HOUR).unwrap();
        let uri = format!("/api/v1/videos/vid_x/progress?since=4&token={token}");

        let req = request(issuer.clone()).uri(&uri).to_http_request();
        unauthorized_detail(Caller::from_http(&req));

        let req = request(issuer)
            .uri(&uri)
            .insert_header((header::UPGRADE, "WebSocket"))
            .to_http_request();
        assert_eq!(
            Caller::from_http(&req).unwrap().user,
            OwnerId::from("user-1")
        );
    }

    #[test]
    fn a_missing_issuer_is_a_500_not_a_401() {
        let req = TestRequest::get().to_http_request();
        assert!(matches!(
            Caller::from_http(&req),
            Err(ApiError::Internal(_))
        ));
    }
}
