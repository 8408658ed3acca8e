//! `/api/v1/cluster`: queue depth, GPUs busy, utilization, preemptions and cost at a glance.

use actix_web::{get, web, HttpResponse};

use shotfarm_actors::Farm;

use crate::auth::Caller;
use crate::problem::ApiError;

#[utoipa::path(
    tag = "operators",
    responses(
        (status = 200, description = "Queue depth, GPUs, utilization, preemptions and cost", body = crate::openapi::schemas::ClusterDoc),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/cluster")]
async fn cluster(farm: web::Data<Farm>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_operator()?;
    Ok(HttpResponse::Ok().json(farm.cluster().await?))
}

/// Registers the cluster route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(cluster);
}
