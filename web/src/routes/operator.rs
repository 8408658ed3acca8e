//! `GET /api/v1/operator/stream`: upgrades to the operator websocket (see
//! [`crate::session::operator`]). Checks, in order: the `Origin` (403), the token from the header
//! or `?token=` (401), the operator role (403, before any upgrade), the operator's open sessions
//! (429), the websocket handshake (400).

use actix_web::{get, web, HttpRequest, HttpResponse};
use actix_web_actors::ws;

use shotfarm_actors::Farm;

use crate::auth::Caller;
use crate::problem::ApiError;
use crate::session::{origin, History, OperatorSession, SessionLimiter};
use crate::settings::WebSettings;

#[utoipa::path(
    tag = "operators",
    description = "Upgrades to a websocket of cluster and node telemetry frames (`full`, then \
        `delta`), at least once a second (docs/API.md, Operators). Checks before the upgrade: \
        `Origin` (403), token (401), operator role (403), the operator's open sessions (429, \
        `websocket.max_sessions_per_user`), the handshake (400).",
    params(("token" = Option<String>, Query, description = "the bearer token, for browsers")),
    responses(
        (status = 101, description = "Switching to the websocket protocol"),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 429, response = crate::openapi::TooManyRequests),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/operator/stream")]
async fn operator_stream(
    req: HttpRequest,
    payload: web::Payload,
    farm: web::Data<Farm>,
    settings: web::Data<WebSettings>,
    history: web::Data<History>,
) -> Result<HttpResponse, ApiError> {
    origin::check(&req, &settings.server.allowed_origins)?;
    let caller = Caller::from_http(&req)?;
    caller.require_operator()?;
    let permit = SessionLimiter::of(&req)?.acquire(&caller.user)?;
    let mut response = ws::handshake(&req).map_err(|e| {
        ApiError::BadRequest(format!(
            "this route is a websocket; the upgrade failed: {e}"
        ))
    })?;
    let farm = farm.into_inner().as_ref().clone();
    let body = OperatorSession::start(
        farm,
        history.into_inner(),
        caller.identity(),
        &settings.websocket,
        payload,
        caller.expires_at,
    );
    Ok(response.streaming(permit.hold(body)))
}

/// Registers the operator stream route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(operator_stream);
}
