//! Remote node agents: `GET /api/v1/agents/connect` on the server, and the agent's own end of
//! the same websocket.
//!
//! - [`connection`]: the server's actor for one connected agent; it registers the agent's node
//!   with the supervisor and stands in for a local GPU-node actor.
//! - [`directory`]: which connection speaks for which node (a newer connection replaces an older
//!   one for the same node).
//! - [`frame_guard`]: refuses an agent frame over the limit from its header, before its payload
//!   is buffered.
//! - [`artifacts`]: short-lived URLs for an agent's access to the artifacts of the attempt it
//!   runs (checked against the stored shot), and its checkpoint listing and pruning.
//! - [`enroll`]: `POST /api/v1/agents/enroll`, an enrollment token traded for a node token
//!   under its prefix, and the operators' revocation of a prefix.
//! - [`uplink`]: the agent's actor: the `NodeUplink` of the agent's own GPU-node actor, which
//!   carries everything over the websocket and reconnects with backoff.
//!
//! The frames are [`crate::agent_protocol`]; docs/AGENT_PROTOCOL.md is the contract.
//!
//! Architecture Invariant: the supervisor never learns that a node is remote. Everything a
//! connection does, it does through the three recipients of `Farm::node_uplink()` and the
//! `NodeCommand`s addressed to it.

pub mod artifacts;
pub mod connection;
pub mod directory;
pub mod enroll;
pub mod frame_guard;
pub mod uplink;

use actix_web::{get, web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tracing::instrument;

use crate::agent_protocol::{MAX_FRAME_BYTES, PROVIDER};
use crate::settings::WebSettings;
use shotfarm_actors::Farm;
use shotfarm_core::ids::NodeId;

use crate::auth::{Claims, NodeCaller, Role};
use crate::problem::ApiError;
use crate::session::origin;

pub use connection::AgentConnection;
pub use directory::AgentDirectory;
pub use uplink::{AgentUplink, RenewError, TokenRenewer, UplinkConfig};

/// Upgrades an agent to its connection actor. The node token is checked first (401 for none, a
/// user token, a bad one, or one an operator revoked), then the `Origin` (403), then that the id
/// is not one of the server's own local nodes (409), then the handshake (400); 503 when the
/// revocations or the node list cannot be read.
#[utoipa::path(
    tag = "agents",
    description = "Upgrades to the agent websocket of a GPU node (`shotfarm agent`); node tokens \
        only (`shotfarm token --node ID`). Frames: docs/AGENT_PROTOCOL.md. Checks before the \
        upgrade: token (401, also for a revoked one), `Origin` (403), that the id is not a local \
        node of this server (409), the handshake (400); 503 when the revocations or the node \
        list cannot be read.",
    params(("token" = Option<String>, Query, description = "the node token, when no header can be set")),
    responses(
        (status = 101, description = "Switching to the websocket protocol"),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 409, response = crate::openapi::Conflict),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/agents/connect")]
#[instrument(skip_all, fields(node_id = %caller.node))]
async fn connect(
    req: HttpRequest,
    payload: web::Payload,
    caller: NodeCaller,
    farm: web::Data<Farm>,
    settings: web::Data<WebSettings>,
) -> Result<HttpResponse, ApiError> {
    if farm
        .revocations()
        .is_revoked(&caller.node, caller.issued_at)
        .await
        .map_err(shotfarm_actors::FarmError::from)?
    {
        return Err(ApiError::Unauthorized(format!(
            "the token of node {} was revoked; mint a new one (`shotfarm token --node {}`)",
            caller.node, caller.node
        )));
    }
    origin::check(&req, &settings.server.allowed_origins)?;
    let taken = farm
        .nodes()
        .await?
        .into_iter()
        .any(|n| n.id == caller.node && n.provider != PROVIDER && !n.state.is_gone());
    if taken {
        return Err(ApiError::Conflict(format!(
            "node {} is a local node of this server; give the agent a token for another id",
            caller.node
        )));
    }
    let directory = req
        .app_data::<web::Data<AgentDirectory>>()
        .ok_or_else(|| ApiError::Internal("web::Data<AgentDirectory> is not registered".into()))?
        .clone()
        .into_inner();
    let (payload, oversized) = frame_guard::FrameGuard::new(payload, MAX_FRAME_BYTES);
    let actor = AgentConnection::new(
        caller,
        farm.node_uplink(),
        directory,
        std::sync::Arc::clone(farm.revocations()),
        &settings.agents,
        oversized,
    );
    ws::WsResponseBuilder::new(actor, &req, payload)
        .frame_size(MAX_FRAME_BYTES)
        .start()
        .map_err(|e| {
            ApiError::BadRequest(format!(
                "this route is a websocket; the upgrade failed: {e}"
            ))
        })
}

/// Registers the agents' route. The server registers one [`AgentDirectory`] for all workers.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(connect)
        .configure(enroll::configure)
        .configure(artifacts::configure);
}

/// A token's claims, read without checking its signature or expiry: the agent has no secret to
/// verify them with (the server does that on connect). Only the shape is checked.
fn unverified_claims(token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["sub", "exp"]);
    jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&[]), &validation)
        .map(|data| data.claims)
}

/// The node a token speaks for, read on the agent's side before connecting (unverified, see
/// [`unverified_claims`]). Refuses tokens that are not node tokens, so a user token fails with
/// a clear message before any connection.
pub fn node_of_token(token: &str) -> Result<NodeId, String> {
    let claims = unverified_claims(token).map_err(|e| format!("not a shotfarm token: {e}"))?;
    if claims.role != Role::Node {
        return Err(format!(
            "this is a {} token; an agent needs a node token (`shotfarm token --node ID`)",
            claims.role.as_str()
        ));
    }
    Ok(NodeId(claims.sub))
}

/// A token's `exp` (Unix seconds), read without checking it (the agent cannot: the server
/// does); `None` when the token is not readable.
pub fn token_expiry(token: &str) -> Option<u64> {
    unverified_claims(token).ok().map(|claims| claims.exp)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::auth::TokenIssuer;

    #[test]
    fn an_agent_reads_its_node_from_a_node_token_and_refuses_user_tokens() {
        let issuer = TokenIssuer::new("agents-test-secret-long-enough");
        let hour = Duration::from_secs(3600);
        let node = issuer.mint("gpu-box-7", Role::Node, hour).expect("mint");
        assert_eq!(node_of_token(&node), Ok(NodeId::from("gpu-box-7")));
        let user = issuer
            .mint("alice", Role::Authenticated, hour)
            .expect("mint");
        let err = node_of_token(&user).expect_err("user token");
        assert!(err.contains("node token"), "{err}");
        assert!(node_of_token("garbage").is_err());
    }
}
