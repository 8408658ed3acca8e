//! Operators' holds: `POST /api/v1/pools/{pool}/hold` and `/release`, `POST
//! /api/v1/users/{user}/hold` and `/release`, and `GET /api/v1/holds`. Operators only (a user's
//! token is a 403, as on every operator route). A held pool places nothing new, a held user's
//! queued work waits; what runs keeps running. Who may, the audit and how the hold reaches every
//! server are the farm's (`Farm::hold`, `Farm::release`).

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::instrument;
use utoipa::ToSchema;

use shotfarm_actors::Farm;
use shotfarm_core::holds::{Hold, HoldTarget};
use shotfarm_core::ids::OwnerId;

use crate::auth::Caller;
use crate::problem::{parse_json, ApiError};

/// A hold's body: why (shown to the owner, other operators and in the audit log).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// One line, at most 200 characters.
    pub reason: String,
}

/// A release's optional body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// Kept in the audit log; optional.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A hold as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = HoldAnswer)]
pub struct HoldJson {
    /// `pool` or `user`.
    pub kind: &'static str,
    /// The pool's name or the user's id.
    pub name: String,
    /// `hold` or `release`: what this answer did.
    pub action: &'static str,
    /// The operator who placed the hold.
    pub by: String,
    pub reason: String,
    /// When the hold was placed.
    pub at: DateTime<Utc>,
}

impl HoldJson {
    fn of(target: &HoldTarget, action: &'static str, hold: Hold) -> Self {
        Self {
            kind: target.kind(),
            name: target.name().to_owned(),
            action,
            by: hold.by,
            reason: hold.reason,
            at: hold.at,
        }
    }
}

/// Parses a hold's body, naming what is wrong.
fn hold_body(body: &web::Bytes) -> Result<HoldRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::field(
            "reason",
            "a hold needs a JSON body with a reason: {\"reason\": \"...\"}",
        ));
    }
    parse_json(body)
}

fn release_body(body: &web::Bytes) -> Result<ReleaseRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(ReleaseRequest::default())
    } else {
        parse_json(body)
    }
}

async fn do_hold(
    farm: &Farm,
    caller: &Caller,
    target: HoldTarget,
    body: &web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require_operator()?;
    let request = hold_body(body)?;
    let hold = farm
        .hold(&caller.identity(), target.clone(), &request.reason)
        .await?;
    Ok(HttpResponse::Ok().json(HoldJson::of(&target, "hold", hold)))
}

async fn do_release(
    farm: &Farm,
    caller: &Caller,
    target: HoldTarget,
    body: &web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require_operator()?;
    let request = release_body(body)?;
    let lifted = farm
        .release(
            &caller.identity(),
            target.clone(),
            request.reason.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(HoldJson::of(&target, "release", lifted)))
}

#[utoipa::path(
    tag = "operators",
    description = "Holds a pool: nothing new is placed on it (running work finishes); its queued \
        work shows `pool_held` on `GET /api/v1/queue`. Applies on this server at once and on \
        every server sharing the store within `store.sweep_period`; kept across restarts on \
        Redis. Audited (`hold`). Unknown pool 404; already held 409.",
    params(("pool" = String, Path, description = "the pool's name")),
    request_body(content = HoldRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The hold placed", body = HoldJson),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/pools/{pool}/hold")]
#[instrument(skip_all, fields(user = %caller.user, pool = %pool))]
async fn hold_pool(
    farm: web::Data<Farm>,
    caller: Caller,
    pool: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    do_hold(&farm, &caller, HoldTarget::Pool(pool.into_inner()), &body).await
}

#[utoipa::path(
    tag = "operators",
    description = "Releases a held pool: its queued work is placed again, in the order and \
        turns it had. Audited (`release`). Unknown pool 404; a pool not held 409.",
    params(("pool" = String, Path, description = "the pool's name")),
    request_body(content = Option<ReleaseRequest>, content_type = "application/json",
                 description = "optional: a reason for the audit log"),
    responses(
        (status = 200, description = "The hold lifted", body = HoldJson),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/pools/{pool}/release")]
#[instrument(skip_all, fields(user = %caller.user, pool = %pool))]
async fn release_pool(
    farm: web::Data<Farm>,
    caller: Caller,
    pool: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    do_release(&farm, &caller, HoldTarget::Pool(pool.into_inner()), &body).await
}

#[utoipa::path(
    tag = "operators",
    description = "Holds a user: none of their queued work is placed, in any pool (running work \
        finishes); their videos show `held` and the queue `user_held`. Applies like a pool \
        hold. Audited (`hold`). Already held 409.",
    params(("user" = String, Path, description = "the user's id (a token's `sub`)")),
    request_body(content = HoldRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The hold placed", body = HoldJson),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 409, response = crate::openapi::Conflict),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/users/{user}/hold")]
#[instrument(skip_all, fields(user = %caller.user, held_user = %user))]
async fn hold_user(
    farm: web::Data<Farm>,
    caller: Caller,
    user: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let target = HoldTarget::User(OwnerId::from(user.into_inner()));
    do_hold(&farm, &caller, target, &body).await
}

#[utoipa::path(
    tag = "operators",
    description = "Releases a held user: their queued work is placed again, in the order and \
        turns it had. Audited (`release`). A user not held 409.",
    params(("user" = String, Path, description = "the user's id")),
    request_body(content = Option<ReleaseRequest>, content_type = "application/json",
                 description = "optional: a reason for the audit log"),
    responses(
        (status = 200, description = "The hold lifted", body = HoldJson),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 409, response = crate::openapi::Conflict),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/users/{user}/release")]
#[instrument(skip_all, fields(user = %caller.user, held_user = %user))]
async fn release_user(
    farm: web::Data<Farm>,
    caller: Caller,
    user: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let target = HoldTarget::User(OwnerId::from(user.into_inner()));
    do_release(&farm, &caller, target, &body).await
}

/// Every hold in place.
#[derive(Serialize, ToSchema)]
#[schema(as = HoldList)]
struct HoldList {
    /// The pools a hold may name (for the dashboard's control).
    pools_known: Vec<String>,
    holds: Vec<HoldJson>,
}

#[utoipa::path(
    tag = "operators",
    responses(
        (status = 200, description = "Every hold in place, pools then users", body = HoldList),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/holds")]
async fn list(farm: web::Data<Farm>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_operator()?;
    let holds = farm.holds(&caller.identity()).await?;
    let pools = holds
        .pools
        .into_iter()
        .map(|(p, h)| HoldJson::of(&HoldTarget::Pool(p), "hold", h));
    let users = holds
        .users
        .into_iter()
        .map(|(u, h)| HoldJson::of(&HoldTarget::User(u), "hold", h));
    Ok(HttpResponse::Ok().json(HoldList {
        pools_known: farm.pools().into_iter().collect(),
        holds: pools.chain(users).collect(),
    }))
}

/// Registers the holds routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(hold_pool)
        .service(release_pool)
        .service(hold_user)
        .service(release_user)
        .service(list);
}
