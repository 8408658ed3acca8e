//! The OpenAPI 3.1 document of the `/api/v1` contract, generated from the handlers'
//! `#[utoipa::path]` annotations and the wire types, served at `GET /api/v1/openapi.json` (no
//! token) and printed by `shotfarm openapi` (the checked-in `docs/openapi.json`).

pub mod schemas;

use std::sync::OnceLock;

use actix_web::{get, web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToResponse};

use crate::problem::{FieldError, Problem};

/// 400: a bad field (each named in `errors`), malformed JSON or a bad query parameter.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadRequest(#[allow(dead_code)] Problem);

/// 401: a missing, malformed, expired or badly signed token (with `WWW-Authenticate: Bearer`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unauthorized(#[allow(dead_code)] Problem);

/// 403: the caller may not do this (operator routes for users, a refused `Origin`, a bad
/// signature).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Forbidden(#[allow(dead_code)] Problem);

/// 404: no such resource, or not the caller's (existence is not revealed).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotFound(#[allow(dead_code)] Problem);

/// 409: the target's state forbids the action.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Conflict(#[allow(dead_code)] Problem);

/// 422: well formed but refused for what it means (an `Idempotency-Key` reused for another
/// request); `errors` names the field.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unprocessable(#[allow(dead_code)] Problem);

/// 413: the request body is over `server.max_body_bytes`.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PayloadTooLarge(#[allow(dead_code)] Problem);

/// 415: the request body says it is not JSON.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UnsupportedMediaType(#[allow(dead_code)] Problem);

/// 429: the caller's rate or credits are exhausted; retry after `Retry-After` seconds.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "seconds to wait"))
)]
pub struct TooManyRequests(#[allow(dead_code)] Problem);

/// 503: the store is unreachable; retry after `Retry-After` seconds.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "seconds to wait"))
)]
pub struct Unavailable(#[allow(dead_code)] Problem);

/// 416: a `Range` that starts past the end (with `Content-Range: bytes */<size>`).
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Content-Range" = String, description = "`bytes */<size>`"))
)]
pub struct RangeNotSatisfiable(#[allow(dead_code)] Problem);

/// The document's top: every path, the shared schemas and responses, the bearer scheme.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "shotfarm API",
        version = "1",
        description = "The `/api/v1` contract of shotfarm (docs/API.md). Every `/api/v1` route but \
            this document and signed artifact downloads asks for `Authorization: Bearer <JWT>` \
            (HS256; claims `sub`, `exp`, `role`). Websocket routes are GET upgrades; they also \
            take the token as `?token=`. Every 4xx/5xx body is RFC 9457 problem details."
    ),
    paths(
        crate::routes::videos::submit,
        crate::routes::videos::list,
        crate::routes::videos::read,
        crate::routes::videos::cancel,
        crate::routes::videos::delete_video,
        crate::routes::video_control::pause,
        crate::routes::video_control::resume,
        crate::routes::video_control::retry,
        crate::routes::video_control::reroll,
        crate::routes::video_control::update,
        crate::routes::credits::credits,
        crate::routes::progress::progress,
        crate::routes::artifacts::download,
        crate::routes::artifacts::object_get,
        crate::routes::artifacts::object_put,
        crate::routes::artifacts::object_delete,
        crate::agents::artifacts::sign,
        crate::agents::artifacts::checkpoints,
        crate::agents::artifacts::drop_checkpoints,
        crate::routes::artifacts::poster,
        crate::routes::artifacts::version,
        crate::routes::nodes::list,
        crate::routes::nodes::preempt,
        crate::routes::nodes::drain,
        crate::routes::nodes::revoke,
        crate::routes::holds::hold_pool,
        crate::routes::holds::release_pool,
        crate::routes::holds::hold_user,
        crate::routes::holds::release_user,
        crate::routes::holds::list,
        crate::routes::cluster::cluster,
        crate::routes::queue::queue,
        crate::routes::autoscaler::autoscaler,
        crate::routes::audit::list,
        crate::routes::audit::export,
        crate::routes::operator::operator_stream,
        crate::agents::connect,
        crate::agents::enroll::enroll, crate::agents::enroll::revoke_enrollment,
        openapi_json,
        crate::routes::service::healthz,
        crate::routes::service::readyz,
        crate::routes::service::metrics,
    ),
    components(
        schemas(Problem, FieldError),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            Unprocessable,
            PayloadTooLarge,
            UnsupportedMediaType,
            TooManyRequests,
            Unavailable,
            RangeNotSatisfiable
        )
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "videos", description = "Submit, read, list and cancel videos (owners and operators)"),
        (name = "progress", description = "Live progress websocket"),
        (name = "operators", description = "Nodes, cluster, queue, holds, autoscaler, operator stream (operators only)"),
        (name = "agents", description = "GPU agents' websocket and their shots' artifacts (node tokens)"),
        (name = "service", description = "Health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// Adds the `bearer` security scheme (a JWT in `Authorization: Bearer`).
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "HS256 JWT: `sub` (user or node id), `exp`, `role` (`authenticated`, \
                         `operator` or `node`); `shotfarm token` mints one",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`metrics.token` from the configuration, when set: required on \
                         `/metrics` (401 without it); unset, `/metrics` is open",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as pretty-printed JSON with a trailing newline (what `docs/openapi.json` holds).
pub fn document_json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut text = ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        text.push('\n');
        text
    })
}

/// The OpenAPI document of this API (no token needed).
#[utoipa::path(
    tag = "service",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object))
)]
#[get("/api/v1/openapi.json")]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document_json())
}

/// Registers the document's route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(openapi_json);
}

#[cfg(test)]
mod tests;
