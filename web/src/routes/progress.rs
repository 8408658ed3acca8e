//! `GET /api/v1/videos/{id}/progress[?since=SEQ]`: upgrades to the video's live progress
//! websocket (see [`crate::session::progress`]). Checks, in order: the `Origin` (403), the token
//! from the header or `?token=` (401), `since` (400), ownership (404, operators see all), the
//! websocket handshake (400).

use actix_web::{get, web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use tracing::instrument;

use shotfarm_actors::Farm;

use crate::auth::Caller;
use crate::problem::ApiError;
use crate::routes::videos::owned_video;
use crate::session::{origin, Opening, ProgressSession};

#[get("/api/v1/videos/{id}/progress")]
#[instrument(skip_all, fields(video_id = %id))]
async fn progress(
    req: HttpRequest,
    payload: web::Payload,
    farm: web::Data<Farm>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    origin::check(&req, &farm.settings().server.allowed_origins)?;
    let caller = Caller::from_http(&req)?;
    let since = since_of(req.query_string())?;
    let video = owned_video(&farm, &caller, &id).await?;
    let mut response = ws::handshake(&req).map_err(|e| {
        ApiError::BadRequest(format!(
            "this route is a websocket; the upgrade failed: {e}"
        ))
    })?;
    let start = Opening::prepare(&farm, &video.id, since).await?;
    let farm = farm.into_inner().as_ref().clone();
    let body = ProgressSession::start(farm, video.id, start, payload, caller.expires_at);
    Ok(response.streaming(body))
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
