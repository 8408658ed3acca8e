//! `GET /api/v1/queue`: what is waiting, by pool, stage, priority and requirement, and why; and
//! per pool and stage, what is queued and what is blocked on an earlier stage.

use actix_web::{get, web, HttpResponse};

use shotfarm_actors::Farm;

use crate::auth::Caller;
use crate::problem::ApiError;

#[utoipa::path(
    tag = "operators",
    responses(
        (status = 200, description = "What is waiting and why", body = crate::openapi::schemas::WaitingDoc),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/queue")]
async fn queue(farm: web::Data<Farm>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_operator()?;
    Ok(HttpResponse::Ok().json(farm.waiting().await?))
}

/// Registers the queue route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(queue);
}
