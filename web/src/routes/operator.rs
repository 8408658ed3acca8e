//! `GET /api/v1/operator/stream`: upgrades to the operator websocket (see
//! [`crate::session::operator`]). Checks, in order: the `Origin` (403), the token from the header
//! or `?token=` (401), the operator role (403, before any upgrade), the websocket handshake (400).

use actix_web::{get, web, HttpRequest, HttpResponse};
use actix_web_actors::ws;

use shotfarm_actors::Farm;

use crate::auth::Caller;
use crate::problem::ApiError;
use crate::session::{origin, OperatorSession};

#[get("/api/v1/operator/stream")]
async fn operator_stream(
    req: HttpRequest,
    payload: web::Payload,
    farm: web::Data<Farm>,
) -> Result<HttpResponse, ApiError> {
    origin::check(&req, &farm.settings().server.allowed_origins)?;
    let caller = Caller::from_http(&req)?;
    caller.require_operator()?;
    let mut response = ws::handshake(&req).map_err(|e| {
        ApiError::BadRequest(format!(
            "this route is a websocket; the upgrade failed: {e}"
        ))
    })?;
    let farm = farm.into_inner().as_ref().clone();
    let body = OperatorSession::start(farm, payload, caller.expires_at);
    Ok(response.streaming(body))
}

/// Registers the operator stream route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(operator_stream);
}
