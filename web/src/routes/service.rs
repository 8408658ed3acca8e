//! Service routes: `/healthz` (process up), `/readyz` (store reachable, actors running) and
//! `/metrics` (Prometheus text).

use actix_web::{get, web, HttpResponse};

use shotfarm_actors::Farm;

use crate::metrics::{render, render_bus_channels};
use crate::problem::ApiError;

#[utoipa::path(
    tag = "service",
    responses(
        (status = 200, description = "The process is up", body = crate::openapi::schemas::StatusDoc),
    )
)]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

#[utoipa::path(
    tag = "service",
    responses(
        (status = 200, description = "The store answers and the supervisor runs", body = crate::openapi::schemas::StatusDoc),
        (status = 503, description = "Not ready", body = crate::openapi::schemas::StatusDoc),
    )
)]
#[get("/readyz")]
async fn readyz(farm: web::Data<Farm>) -> HttpResponse {
    if farm.ready().await {
        HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "2"))
            .json(serde_json::json!({ "status": "not ready" }))
    }
}

#[utoipa::path(
    tag = "service",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
#[get("/metrics")]
async fn metrics(farm: web::Data<Farm>) -> Result<HttpResponse, ApiError> {
    let (cluster, nodes) = (farm.cluster().await?, farm.nodes().await?);
    let mut text = render(farm.metrics(), &cluster, &nodes);
    text.push_str(&render_bus_channels(farm.bus().channels()));
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}

/// Registers the service routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}
