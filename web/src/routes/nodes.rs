//! `/api/v1/nodes`: the GPU nodes, and the operator's preempt and drain actions.

use std::time::Duration;

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use shotfarm_actors::ids::NodeId;
use shotfarm_actors::Farm;

use crate::auth::Caller;
use crate::problem::{parse_json, ApiError};

/// Longest notice a preemption may give (AWS gives the most: two minutes).
const MAX_DEADLINE_S: f64 = 600.0;

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

/// Registers the node routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(preempt).service(drain);
}
