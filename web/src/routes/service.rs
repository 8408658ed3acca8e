//! Service routes: `/healthz` (process up), `/readyz` (store reachable, actors running) and
//! `/metrics` (Prometheus text; a bearer token when `metrics.token` is set).

use std::time::Instant;

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};

use shotfarm_actors::{Farm, FarmError};
use shotfarm_core::domain::Priority;

use crate::metrics::{render, render_bus_channels, Scrape, ScrapeContext, Snapshot};
use crate::problem::ApiError;
use crate::session::{History, SessionLimiter};

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
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security((), ("metrics_token" = []))
)]
#[get("/metrics")]
async fn metrics(
    req: HttpRequest,
    farm: web::Data<Farm>,
    scrape: web::Data<Scrape>,
    history: web::Data<History>,
) -> Result<HttpResponse, ApiError> {
    if !scrape.admits(bearer(&req)) {
        return Err(ApiError::Unauthorized(
            "/metrics needs `Authorization: Bearer <metrics.token>`".into(),
        ));
    }
    let take = || async {
        let (cluster, nodes) = (farm.cluster().await?, farm.nodes().await?);
        let store_up = farm.store_up().await;
        Ok::<_, FarmError>(Snapshot {
            cluster,
            nodes,
            store_up,
        })
    };
    let snapshot = scrape.snapshots.snapshot(Instant::now(), take).await?;
    let settings = farm.settings();
    let ctx = ScrapeContext {
        pools: settings.models.values().map(|m| m.pool.clone()).collect(),
        objectives: [Priority::High, Priority::Standard]
            .into_iter()
            .map(|p| (p.as_str(), settings.autoscaler.objective(p).as_secs_f64()))
            .collect(),
        sessions_limit: SessionLimiter::of(&req)?.max_total(),
    };
    let mut text = render(farm.metrics(), &snapshot, scrape.snapshots.taken(), &ctx);
    text.push_str(&render_bus_channels(farm.bus().channels()));
    crate::metrics::history::render(&mut text, &history);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}

/// The request's `Authorization: Bearer` token, if it has one.
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Registers the service routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}
