//! `/api/v1/videos/{id}/pause`, `/resume`, `/retry`, `/shots/{index}/reroll` and `PATCH /api/v1/videos/{id}` (priority,
//! place in the owner's order): the owner's controls over a video after submission. Only the owner may (anyone else, operators included, gets a 404); who may, the
//! audit and what each changes are the farm's (`Farm::pause_video`, `Farm::resume_video`,
//! `Farm::retry_video`, `Farm::reorder_video`), not these routes'; the plan's priority limit is
//! checked here, as the submit route checks it.

use actix_web::{patch, post, web, HttpResponse};
use serde::Deserialize;
use tracing::instrument;
use utoipa::ToSchema;

use shotfarm_actors::farm::Reroll;
use shotfarm_actors::Farm;
use shotfarm_core::domain::Priority;
use shotfarm_core::ids::VideoId;

use crate::auth::Caller;
use crate::problem::{parse_json, ApiError, JsonBody};
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

/// `POST /api/v1/videos/{id}/shots/{index}/reroll`'s optional body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RerollRequest {
    /// The new version's seed; without it a fresh one, different from the current version's.
    #[schema(format = "uint64")]
    pub seed: Option<u64>,
    /// An edited prompt, checked as a submitted one is (else a 400 naming `prompt`); without
    /// it the shot keeps its prompt (a story shot: its scene's).
    pub prompt: Option<String>,
}

#[utoipa::path(
    tag = "videos",
    description = "Re-rolls shot `index` (its place among the video's `shots`, not its stages) \
        of the caller's own completed video: the shot is rendered again as its next `version` \
        (a story shot on the same reference image) with the given or a fresh `seed` and \
        optionally an edited `prompt`; its earlier versions stay listed in its `versions`, each \
        downloadable by its signed `artifact_url` until retention. A story video's stitch runs \
        again once the new version is done, from the latest version of every shot, and the \
        video's `artifact_url` then is the new MP4; meanwhile the video is `running` with \
        `rerolling: true`. Audited (`reroll`, with the version); the shot's writes are on the \
        progress stream. Anyone else's video is a 404, as is an unknown `index` (named). A \
        shot that is not completed, a video that is cancelled, failed (retry it first) or \
        still rendering anything but re-rolls, and a story video whose stitch is already \
        running again are 409s. At most the plan's `max_rerolls_in_flight` (default 2) shots \
        of one video are re-rolled at once: one more is a 429.",
    params(
        ("id" = String, Path, description = "the video id"),
        ("index" = usize, Path, description = "the shot's index among the video's shots"),
    ),
    request_body(content = RerollRequest, content_type = "application/json",
                 description = "optional; an empty body re-rolls with a fresh seed"),
    responses(
        (status = 200, description = "The video, the shot queued as its next version",
         body = crate::wire::VideoJson),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/videos/{id}/shots/{index}/reroll")]
#[instrument(skip_all, fields(user = %caller.user, video_id = %path.0, index = %path.1))]
async fn reroll(
    farm: web::Data<Farm>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let reader = farm.reader(caller.identity()).await?;
    let (id, index) = path.into_inner();
    let id = VideoId::from(id.as_str());
    // Any index that names no shot is a 404 naming it, as one past the last is.
    let Ok(index) = index.parse::<usize>() else {
        return Err(ApiError::NotFound(format!(
            "shot {index:?} of video {id} not found: shots are numbered from 0"
        )));
    };
    let request: RerollRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RerollRequest::default()
    } else {
        parse_json(&body)?
    };
    if let Some(prompt) = &request.prompt {
        let errors = crate::validate::check_prompt("prompt", prompt);
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
    }
    let video = farm
        .reroll_shot(
            reader,
            &id,
            index,
            Reroll {
                seed: request.seed,
                prompt: request.prompt,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(VideoJson::of(&video, &caller.user)))
}

/// `PATCH /api/v1/videos/{id}`'s body: at least one of the two.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateVideoRequest {
    /// `standard`, or `high` where the caller's plan allows it (operators, `high_priority`
    /// plans).
    #[schema(example = "high")]
    pub priority: Option<String>,
    /// Another unfinished video of the caller's: this one's waiting shots go ahead of its in
    /// the caller's own order (other users' shares are untouched).
    #[schema(example = "vid_01")]
    pub before: Option<String>,
}

#[utoipa::path(
    tag = "videos",
    description = "Changes the caller's own unfinished video: its `priority` (within the plan:         `high` needs a plan with `high_priority`, else a 400 naming `priority`) and/or its place         in the caller's own order (`before`: another unfinished video of theirs, else a 400         naming `before`); fair share between users is untouched. Audited (`reorder`). Anyone         else's video is a 404; a final video is a 409.",
    params(("id" = String, Path, description = "the video id")),
    request_body(content = UpdateVideoRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The video as changed", body = crate::wire::VideoJson),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[patch("/api/v1/videos/{id}")]
#[instrument(skip_all, fields(user = %caller.user, video_id = %id))]
async fn update(
    farm: web::Data<Farm>,
    caller: Caller,
    id: web::Path<String>,
    body: JsonBody<UpdateVideoRequest>,
) -> Result<HttpResponse, ApiError> {
    let reader = farm.reader(caller.identity()).await?;
    let account = farm.account(reader.identity())?;
    let request = body.into_inner();
    if request.priority.is_none() && request.before.is_none() {
        return Err(ApiError::field(
            "priority",
            "give priority, before, or both",
        ));
    }
    let priority = match request.priority.as_deref() {
        None => None,
        Some(p) => match Priority::parse(p) {
            None => {
                return Err(ApiError::field(
                    "priority",
                    format!("unknown priority {p:?}: use standard or high"),
                ))
            }
            Some(Priority::High) if !account.high_priority => {
                return Err(ApiError::field(
                    "priority",
                    format!(
                        "high is above what your plan ({}) allows: use standard",
                        account.plan
                    ),
                ))
            }
            Some(p) => Some(p),
        },
    };
    let before = match request.before.as_deref() {
        Some("") => return Err(ApiError::field("before", "must name a video")),
        other => other.map(VideoId::from),
    };
    let video = farm
        .reorder_video(reader, &VideoId::from(id.as_str()), priority, before)
        .await?;
    Ok(HttpResponse::Ok().json(VideoJson::of(&video, &caller.user)))
}

/// Registers the control routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(pause)
        .service(resume)
        .service(retry)
        .service(reroll)
        .service(update);
}
