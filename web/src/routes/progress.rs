//! `GET /api/v1/videos/{id}/progress[?since=SEQ]`: upgrades to the video's live progress
//! websocket (see [`crate::session::progress`]). Checks, in order: the `Origin` (403), the token
//! from the header or `?token=` (401), the caller's read rate (429), `since` (400), ownership
//! (404, operators see all), the user's open sessions (429, `websocket.max_sessions_per_user`),
//! the websocket handshake (400). The read rate and ownership are the farm's (`Farm::reader`,
//! `Farm::watch`), as is the prompt read of each snapshot.

use actix_web::{get, web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use tracing::instrument;

use shotfarm_actors::Farm;
use shotfarm_core::ids::VideoId;

use crate::auth::Caller;
use crate::problem::ApiError;
use crate::session::{origin, ProgressSession, SessionLimiter};
use crate::settings::WebSettings;

#[utoipa::path(
    tag = "progress",
    description = "Upgrades to a websocket of JSON text frames: a `snapshot`, then one `shot` or \
        `video` event per change with a per-video `seq` (docs/API.md, Live progress). To the \
        video's owner only, a running shot's `shot` events carry a live `preview` (a \
        `ShotPreview`: `step` and a PNG `data:` URL of at most 4 KiB) every \
        `preview_every_steps` of its model, and the snapshot each running shot's latest; \
        previews are never stored. Checks \
        before the upgrade, in order: `Origin` (403), token (401), the caller's read rate (429), \
        `since` (400), ownership (404), the user's open sessions (429, \
        `websocket.max_sessions_per_user`), the handshake (400). Client frames over 64 KiB are \
        closed with 1009.",
    params(
        ("id" = String, Path, description = "the video id"),
        ("since" = Option<u64>, Query, format = "uint64",
         description = "replay the events after this sequence number"),
        ("token" = Option<String>, Query, description = "the bearer token, for browsers"),
    ),
    responses(
        (status = 101, description = "Switching to the websocket protocol"),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/videos/{id}/progress")]
#[instrument(skip_all, fields(video_id = %id))]
async fn progress(
    req: HttpRequest,
    payload: web::Payload,
    farm: web::Data<Farm>,
    settings: web::Data<WebSettings>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    origin::check(&req, &settings.server.allowed_origins)?;
    let caller = Caller::from_http(&req)?;
    // The read is counted before `since` is judged, and ownership after it (the order above).
    let reader = farm.reader(caller.identity()).await?;
    let since = since_of(req.query_string())?;
    let watch = farm.watch(reader, &VideoId::from(id.as_str())).await?;
    let permit = SessionLimiter::of(&req)?.acquire(&caller.user)?;
    let mut response = ws::handshake(&req).map_err(|e| {
        ApiError::BadRequest(format!(
            "this route is a websocket; the upgrade failed: {e}"
        ))
    })?;
    let start = watch.open(since).await?;
    let farm = farm.into_inner().as_ref().clone();
    let body = ProgressSession::start(
        farm,
        &settings.websocket,
        watch,
        start,
        payload,
        caller.expires_at,
    );
    Ok(response.streaming(permit.hold(body)))
}

/// The optional `since` of the query (other parameters, such as `token`, are not ours).
fn since_of(query: &str) -> Result<Option<u64>, ApiError> {
    let Some((_, raw)) = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "since")
    else {
        return Ok(None);
    };
    raw.trim().parse().map(Some).map_err(|_| {
        ApiError::field(
            "since",
            format!("must be a sequence number (an integer of 0 or more), got {raw:?}"),
        )
    })
}

/// Registers the progress route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(progress);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_optional_and_must_be_a_number() {
        assert_eq!(since_of("").ok(), Some(None));
        assert_eq!(since_of("token=abc").ok(), Some(None));
        assert_eq!(since_of("token=abc&since=42").ok(), Some(Some(42)));
        assert!(matches!(since_of("since=-1"), Err(ApiError::Validation(_))));
        assert!(since_of("since=x").is_err());
    }
}
