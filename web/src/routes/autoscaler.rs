//! `GET /api/v1/autoscaler` (operators): the autoscaler's recent decisions with their reasons,
//! newest first, beside where budgets stand.

use actix_web::{get, web, HttpResponse};
use serde_json::json;

use shotfarm_actors::Farm;

use crate::auth::Caller;
use crate::problem::ApiError;

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
