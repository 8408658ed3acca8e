//! `/api/v1/videos/{id}/pause`, `/resume` and `/retry`: the owner's controls over a video after
//! submission. Only the owner may (anyone else, operators included, gets a 404); who may, the
//! audit and what each changes are the farm's (`Farm::pause_video`, `Farm::resume_video`,
//! `Farm::retry_video`), not these routes'.

use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use tracing::instrument;
use utoipa::ToSchema;

use shotfarm_actors::Farm;
use shotfarm_core::ids::VideoId;

use crate::auth::Caller;
use crate::problem::{parse_json, ApiError};
use crate::wire::VideoJson;

/// `POST /api/v1/videos/{id}/pause`'s optional body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    /// Stop running shots now, at their next step boundary, and hold them from their last
    /// checkpoint (not counted as preemptions); without it they finish first.
    #[serde(default)]
    pub now: bool,
}

#[utoipa::path(
    tag = "videos",
    description = "Pauses the caller's own unfinished video: its queued shots (and stages) leave \
        the queue and show `paused` with `paused_reason`; a stage that becomes ready meanwhile \
        waits paused; running shots finish, or with `{\"now\": true}` stop at a step boundary \
        and wait from their checkpoint (not counted against the preemption budget). Audited \
        (`pause`, one entry per shot). Anyone else's video is a 404; a final video is a 409.",
    params(("id" = String, Path, description = "the video id")),
    request_body(content = PauseRequest, content_type = "application/json",
                 description = "optional; an empty body pauses without stopping running shots"),
    responses(
        (status = 200, description = "The video, paused", body = crate::wire::VideoJson),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/videos/{id}/pause")]
#[instrument(skip_all, fields(user = %caller.user, video_id = %id))]
async fn pause(
    farm: web::Data<Farm>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let reader = farm.reader(caller.identity()).await?;
    let request: PauseRequest = if body.iter().all(u8::is_ascii_whitespace) {
        PauseRequest::default()
    } else {
        parse_json(&body)?
    };
    let video = farm
        .pause_video(reader, &VideoId::from(id.as_str()), request.now)
        .await?;
    Ok(HttpResponse::Ok().json(VideoJson::of(&video, &caller.user)))
}

#[utoipa::path(
    tag = "videos",
    description = "Resumes the caller's own paused video: its paused shots and stages are \
        requeued from their checkpoints in the places they had, so the video keeps its age for \
        fair share and at-risk ordering. Audited (`resume`). Anyone else's video is a 404; a \
        video that is not paused is a 409.",
    params(("id" = String, Path, description = "the video id")),
    responses(
        (status = 200, description = "The video, requeued", body = crate::wire::VideoJson),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/videos/{id}/resume")]
#[instrument(skip_all, fields(user = %caller.user, video_id = %id))]
async fn resume(
    farm: web::Data<Farm>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let reader = farm.reader(caller.identity()).await?;
    let video = farm
        .resume_video(reader, &VideoId::from(id.as_str()))
        .await?;
    Ok(HttpResponse::Ok().json(VideoJson::of(&video, &caller.user)))
}

#[utoipa::path(
    tag = "videos",
    description = "Retries the caller's own failed video: its failed shots (and the stages \
        that ended because of them) are requeued from the start with fresh failure and \
        preemption budgets; completed shots are kept. Costs one credit on a metered plan (the \
        failure refunded the video's): a spent allowance is a 429 and nothing is requeued. \
        Audited (`retry`). Anyone else's video is a 404; a video that did not fail is a 409.",
    params(("id" = String, Path, description = "the video id")),
    responses(
        (status = 200, description = "The video, its failed shots requeued",
         body = crate::wire::VideoJson),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/videos/{id}/retry")]
#[instrument(skip_all, fields(user = %caller.user, video_id = %id))]
async fn retry(
    farm: web::Data<Farm>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let reader = farm.reader(caller.identity()).await?;
    let video = farm
        .retry_video(reader, &VideoId::from(id.as_str()))
        .await?;
    Ok(HttpResponse::Ok().json(VideoJson::of(&video, &caller.user)))
}

/// Registers the control routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(pause).service(resume).service(retry);
}
