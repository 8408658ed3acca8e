//! `GET /api/v1/credits`: the caller's plan and what is left of it this period. Counts as a
//! read against the caller's rate limit.

use actix_web::{get, web, HttpResponse};

use shotfarm_actors::Farm;

use crate::auth::Caller;
use crate::problem::ApiError;

#[utoipa::path(
    tag = "videos",
    description = "The caller's plan and what is left of it this period (counts as a read \
        against the caller's rate).",
    responses(
        (status = 200, description = "The caller's credits", body = crate::openapi::schemas::CreditsDoc),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/credits")]
async fn credits(farm: web::Data<Farm>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let view = farm.credits(farm.reader(caller.identity()).await?).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Registers the credits route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(credits);
}
