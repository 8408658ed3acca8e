//! `/api/v1/nodes`: the GPU nodes, and the operator's preempt, drain and revoke actions.

use std::time::Duration;

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use shotfarm_actors::Farm;
use shotfarm_core::ids::NodeId;

use crate::auth::Caller;
use crate::problem::{parse_json, ApiError};

/// Longest notice a preemption may give (AWS gives the most: two minutes).
const MAX_DEADLINE_S: f64 = 600.0;

#[utoipa::path(
    tag = "operators",
    responses(
        (status = 200, description = "Every node up, then the last that left",
         body = crate::openapi::schemas::NodeListDoc),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/nodes")]
async fn list(farm: web::Data<Farm>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_operator()?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "nodes": farm.nodes().await? })))
}

/// Optional body of a preemption: how long the node has.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PreemptBody {
    deadline_s: Option<f64>,
}

#[derive(Serialize)]
struct Accepted<'a> {
    node: &'a str,
    action: &'a str,
}

#[utoipa::path(
    tag = "operators",
    params(("id" = String, Path, description = "the node id")),
    request_body(content = Option<crate::openapi::schemas::PreemptBodyDoc>, content_type = "application/json",
        description = "optional: the notice the node gets"),
    responses(
        (status = 202, description = "The spot provider reclaims the node",
         body = crate::openapi::schemas::NodeActionDoc),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/nodes/{id}/preempt")]
#[instrument(skip_all, fields(user = %caller.user, node_id = %id))]
async fn preempt(
    farm: web::Data<Farm>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
    _req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require_operator()?;
    let body: PreemptBody = if body.iter().all(u8::is_ascii_whitespace) {
        PreemptBody::default()
    } else {
        parse_json(&body)?
    };
    let deadline = match body.deadline_s {
        None => None,
        Some(s) if s.is_finite() && s > 0.0 && s <= MAX_DEADLINE_S => {
            Some(Duration::from_secs_f64(s))
        }
        Some(_) => {
            return Err(ApiError::field(
                "deadline_s",
                format!("must be above 0 and at most {MAX_DEADLINE_S}"),
            ))
        }
    };
    farm.preempt(NodeId::from(id.as_str()), deadline).await?;
    Ok(HttpResponse::Accepted().json(Accepted {
        node: &id,
        action: "preempt",
    }))
}

#[utoipa::path(
    tag = "operators",
    params(("id" = String, Path, description = "the node id")),
    responses(
        (status = 202, description = "The node finishes its shots, takes no more, then leaves",
         body = crate::openapi::schemas::NodeActionDoc),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/nodes/{id}/drain")]
#[instrument(skip_all, fields(user = %caller.user, node_id = %id))]
async fn drain(
    farm: web::Data<Farm>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_operator()?;
    farm.drain(NodeId::from(id.as_str())).await?;
    Ok(HttpResponse::Accepted().json(Accepted {
        node: &id,
        action: "drain",
    }))
}

/// What a revocation answers.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = NodeRevoked)]
struct Revoked {
    node: String,
    /// `revoke`.
    action: &'static str,
    /// Unix seconds: every token of the node issued at or before it is refused.
    revoked_at: u64,
}

#[utoipa::path(
    tag = "operators",
    description = "Revokes every node token of this node issued up to now (`iat` at or before \
        `revoked_at`): its agent is closed with 4004 on whichever server holds it, its shots \
        requeue, and the old tokens get 401 at the upgrade. A token minted later works again. An \
        id with `:` is 400: enrollment prefixes are revoked at \
        `POST /api/v1/agents/enrollments/{prefix}/revoke`.",
    params(("id" = String, Path, description = "the node id")),
    responses(
        (status = 202, description = "Revoked", body = Revoked),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
/// Revokes every token of the node issued up to now: its agent is closed with 4004 (here at
/// once, on other servers sharing the store at their next heartbeat), its shots requeue, and
/// it cannot connect again until it has a token minted after this.
#[post("/api/v1/nodes/{id}/revoke")]
#[instrument(skip_all, fields(user = %caller.user, node_id = %id))]
async fn revoke(
    farm: web::Data<Farm>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require_operator()?;
    revocable(&id)?;
    let node = NodeId::from(id.as_str());
    let at = crate::auth::now_unix();
    farm.revocations()
        .revoke(&node, at)
        .await
        .map_err(shotfarm_actors::FarmError::from)?;
    if let Some(holder) = req
        .app_data::<web::Data<crate::agents::AgentDirectory>>()
        .and_then(|d| d.holder(&node))
    {
        holder.do_send(crate::agents::directory::ReplaceConnection { revoked: true });
    }
    tracing::warn!(node_id = %node, revoked_at = at, "node tokens revoked");
    Ok(HttpResponse::Accepted().json(Revoked {
        node: node.to_string(),
        action: "revoke",
        revoked_at: at,
    }))
}

/// 400 unless `id` may be revoked as a node: non-empty and without `:`. Enrollment prefixes are
/// revoked in the same keyspace as `enroll:<prefix>` (`auth::enroll::revocation_key`), so a
/// node id with `:` could silently revoke a prefix. Only `:` is refused: `shotfarm token --node`
/// mints any other id, and each of those must stay revocable.
fn revocable(id: &str) -> Result<(), ApiError> {
    if id.trim().is_empty() {
        return Err(ApiError::field("id", "must name a node"));
    }
    if id.contains(':') {
        return Err(ApiError::field(
            "id",
            format!(
                "{id:?} has ':', which no node id may have (`enroll:PREFIX` names an enrollment \
                 prefix); revoke enrollment tokens with POST \
                 /api/v1/agents/enrollments/{{prefix}}/revoke"
            ),
        ));
    }
    Ok(())
}

/// Registers the node routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(preempt)
        .service(drain)
        .service(revoke);
}

#[cfg(test)]
// Tests may panic on the unexpected: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::enroll::revocation_key;
    use crate::auth::{Role, TokenIssuer};
    // Not `use actix_web::test`: it would shadow the `#[test]` attribute.
    use actix_web::http::{header, StatusCode};
    use actix_web::test as http;
    use actix_web::App;
    use shotfarm_actors::adapters::TimingExecutor;
    use shotfarm_actors::Adapters;
    use shotfarm_core::settings::Settings;

    #[test]
    fn ids_with_a_colon_or_empty_are_not_revocable_and_farm_ids_are() {
        for id in [
            "video-spot-1",
            "eu1-video-spot-g0-3",
            "agent-video-spot-7f9c-x2.a_b",
            "gpu box/7",
        ] {
            assert!(revocable(id).is_ok(), "{id}");
        }
        for id in ["", " ", "enroll:gpu-", "a:b"] {
            assert!(
                matches!(revocable(id), Err(ApiError::Validation(_))),
                "{id:?}"
            );
        }
    }

    #[actix_rt::test]
    async fn revoking_node_enroll_prefix_is_400_and_revokes_no_prefix() {
        let settings = Settings::load(None, Vec::new()).unwrap();
        let executor = std::sync::Arc::new(TimingExecutor::new(settings.timing.time_factor));
        let adapters = Adapters::in_memory(&settings, executor);
        let farm = Farm::start_on(settings, adapters).unwrap();
        let issuer = TokenIssuer::new("nodes-test-secret-long-enough");
        let ops = issuer
            .mint("ops", Role::Operator, Duration::from_secs(3600))
            .unwrap();
        let app = http::init_service(
            App::new()
                .app_data(web::Data::new(farm.clone()))
                .app_data(web::Data::new(issuer))
                .configure(configure),
        )
        .await;
        let request = |id: &str| {
            http::TestRequest::post()
                .uri(&format!("/api/v1/nodes/{id}/revoke"))
                .insert_header((header::AUTHORIZATION, format!("Bearer {ops}")))
                .to_request()
        };
        let resp = http::call_service(&app, request("enroll:gpu-")).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = http::read_body_json(resp).await;
        assert!(body.to_string().contains("enrollment"), "{body}");
        let prefix = revocation_key("gpu-");
        assert!(!farm.revocations().is_revoked(&prefix, 0).await.unwrap());

        let resp = http::call_service(&app, request("gpu-1")).await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        let node = NodeId::from("gpu-1");
        assert!(farm.revocations().is_revoked(&node, 0).await.unwrap());
    }
}
