//! `GET /api/v1/autoscaler` (operators): the autoscaler's recent decisions with their reasons,
//! newest first, beside where budgets stand.

use actix_web::{get, web, HttpResponse};
use serde_json::json;

use shotfarm_actors::Farm;

use crate::auth::Caller;
use crate::problem::ApiError;

#[utoipa::path(
    tag = "operators",
    responses(
        (status = 200, description = "The autoscaler's recent decisions, newest first, and the budgets", body = crate::openapi::schemas::AutoscalerDoc),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/autoscaler")]
async fn autoscaler(farm: web::Data<Farm>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_operator()?;
    let cluster = farm.cluster().await?;
    Ok(HttpResponse::Ok().json(json!({
        "enabled": farm.settings().autoscaler.enabled,
        "budget": cluster.budget,
        "decisions": farm.autoscaler_decisions(),
    })))
}

/// Registers the autoscaler route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(autoscaler);
}
