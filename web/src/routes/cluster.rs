//! `/api/v1/cluster`: queue depth, GPUs busy, utilization, preemptions and cost at a glance.

use actix_web::{get, web, HttpResponse};

use shotfarm_actors::Farm;

use crate::auth::Caller;
use crate::problem::ApiError;

#[get("/api/v1/cluster")]
async fn cluster(farm: web::Data<Farm>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_operator()?;
    Ok(HttpResponse::Ok().json(farm.cluster().await?))
}

/// Registers the cluster route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(cluster);
}
