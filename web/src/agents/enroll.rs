//! Agent enrollment: `POST /api/v1/agents/enroll` trades an enrollment token (role `enroll`,
//! `shotfarm token --enroll PREFIX`) for a node token of one id under the token's prefix, and
//! `POST /api/v1/agents/enrollments/{prefix}/revoke` (operators) refuses every enrollment token
//! of a prefix issued up to now. A node id an operator revoked is never enrolled again: a pod
//! comes back under a new id (Kubernetes names every pod afresh).

use actix_web::{post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use shotfarm_actors::{Farm, FarmError};
use shotfarm_core::ids::NodeId;

use crate::auth::enroll::{invalid_node_id, revocation_key, EnrollCaller};
use crate::auth::node::NodeClaims;
use crate::auth::{now_unix, Caller, Role, TokenIssuer};
use crate::problem::{ApiError, JsonBody};
use crate::settings::WebSettings;

/// What an agent sends to enroll.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The node id to enroll as (the pod name): `[A-Za-z0-9._-]`, at most 128 characters,
    /// starting with the enrollment token's `node_prefix`.
    pub node: String,
}

/// What enrollment answers.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Enrolled {
    pub node: String,
    /// A node token for `node` (`shotfarm agent --token`), valid until `expires_at`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// The pool the enrollment token names, which the node token is bound to (the agent takes
    /// it as its pool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Whether the node is a spot instance, when the enrollment token says; the node token is
    /// bound to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot: Option<bool>,
}

#[utoipa::path(
    tag = "agents",
    description = "Trades an enrollment token (`shotfarm token --enroll PREFIX`, role `enroll`) \
        for a node token of `node`, which must start with the token's `node_prefix`; the node \
        token lives `agents.node_token_ttl` and is bound to the enrollment token's pool (and \
        spot-ness, where it names one). A revoked enrollment token gets 401; an enrollment token \
        naming no pool, or a node id an operator revoked, gets 403 (enroll under a new id).",
    request_body = EnrollRequest,
    responses(
        (status = 201, description = "Enrolled", body = Enrolled),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
/// Enrolls one agent: checks the prefix's revocation, the node id and the node's revocation,
/// then mints its node token.
#[post("/api/v1/agents/enroll")]
#[instrument(skip_all, fields(prefix = %caller.claims.node_prefix))]
async fn enroll(
    caller: EnrollCaller,
    farm: web::Data<Farm>,
    settings: web::Data<WebSettings>,
    tokens: web::Data<TokenIssuer>,
    body: JsonBody<EnrollRequest>,
) -> Result<HttpResponse, ApiError> {
    let claims = caller.claims;
    let prefix = &claims.node_prefix;
    let revocations = farm.revocations();
    if revocations
        .is_revoked(&revocation_key(prefix), claims.iat)
        .await
        .map_err(FarmError::from)?
    {
        return Err(ApiError::Unauthorized(format!(
            "the enrollment token for node prefix {prefix:?} was revoked; mint a new one \
             (`shotfarm token --enroll {prefix}`)"
        )));
    }
    // The pool comes from the token, never from the agent: a token that names none would let
    // a pod announce any pool, and be sent that pool's prompts.
    let Some(pool) = claims.pool.clone() else {
        return Err(ApiError::Forbidden(format!(
            "this enrollment token names no pool, so the nodes it enrolls could claim any: mint \
             one that does (`shotfarm token --enroll {prefix} --pool POOL [--spot|--on-demand]`)"
        )));
    };
    let node = body.into_inner().node;
    if let Some(why) = invalid_node_id(&node) {
        return Err(ApiError::field("node", why));
    }
    if !node.starts_with(prefix.as_str()) {
        return Err(ApiError::field(
            "node",
            format!("{node:?} does not start with this enrollment token's prefix {prefix:?}"),
        ));
    }
    let id = NodeId::from(node.as_str());
    if let Some(at) = revocations.revoked_at(&id).await.map_err(FarmError::from)? {
        return Err(ApiError::Forbidden(format!(
            "node {node} was revoked by an operator (at {at}); enrollment does not bring a \
             revoked node back: start the agent under a new node id"
        )));
    }
    // The claims are built here so the answer's `expires_at` is the token's own `exp`, without
    // reading back the token just minted.
    let iat = now_unix();
    let claims_of_node = NodeClaims {
        sub: node.clone(),
        exp: iat.saturating_add(settings.agents.node_token_ttl.as_secs()),
        iat,
        role: Role::Node,
        pool: Some(pool.clone()),
        spot: claims.spot,
    };
    let token = tokens.mint_node_claims(&claims_of_node)?;
    let expires_at = claims_of_node.expires_at();
    tracing::info!(node_id = %node, prefix = %prefix, "agent enrolled");
    Ok(HttpResponse::Created().json(Enrolled {
        node,
        token,
        expires_at,
        pool: Some(pool),
        spot: claims.spot,
    }))
}

/// What revoking a prefix answers.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = EnrollmentRevoked)]
struct Revoked {
    prefix: String,
    /// `revoke`.
    action: &'static str,
    /// Unix seconds: every enrollment token of the prefix issued at or before it is refused.
    revoked_at: u64,
}

#[utoipa::path(
    tag = "operators",
    description = "Revokes every enrollment token of this node prefix issued up to now (`iat` at \
        or before `revoked_at`): they get 401 at `POST /api/v1/agents/enroll`. Node tokens \
        already enrolled keep working until they expire (`agents.node_token_ttl`) or are revoked \
        one by one (`POST /api/v1/nodes/{id}/revoke`). An enrollment token minted later works.",
    params(("prefix" = String, Path, description = "the enrollment token's `node_prefix`")),
    responses(
        (status = 202, description = "Revoked", body = Revoked),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
/// Revokes the prefix's enrollment tokens issued up to now.
#[post("/api/v1/agents/enrollments/{prefix}/revoke")]
#[instrument(skip_all, fields(user = %caller.user, prefix = %prefix))]
async fn revoke_enrollment(
    farm: web::Data<Farm>,
    caller: Caller,
    prefix: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_operator()?;
    if let Some(why) = invalid_node_id(&prefix) {
        return Err(ApiError::field("prefix", why));
    }
    let at = now_unix();
    farm.revocations()
        .revoke(&revocation_key(&prefix), at)
        .await
        .map_err(FarmError::from)?;
    tracing::warn!(prefix = %prefix, revoked_at = at, "enrollment tokens revoked");
    Ok(HttpResponse::Accepted().json(Revoked {
        prefix: prefix.into_inner(),
        action: "revoke",
        revoked_at: at,
    }))
}

/// Registers the enrollment routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(enroll).service(revoke_enrollment);
}
