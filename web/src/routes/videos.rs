//! `/api/v1/videos`: submit, read, list and cancel videos. Owners see only their own videos
//! (another user's answers 404: existence is not revealed); operators see every video. Who may
//! see what, the read rate and the audit of prompt reads are the farm's (`Farm::reader`,
//! `Farm::video`, `Farm::list_videos`, `Farm::cancel_video`), not these routes'.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use shotfarm_actors::farm::VideoFilter;
use shotfarm_actors::Farm;
use shotfarm_core::domain::VideoState;
use shotfarm_core::ids::VideoId;

use crate::auth::Caller;
use crate::problem::{parse_query, ApiError, JsonBody};
use crate::validate::{validate, SubmitVideoRequest};
use crate::wire::VideoJson;

/// The header that makes a submission safe to retry.
const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// The longest `Idempotency-Key` taken.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// Most videos one page lists.
const MAX_PAGE: usize = 100;
const DEFAULT_PAGE: usize = 20;

#[utoipa::path(
    tag = "videos",
    request_body(content = crate::validate::SubmitVideoRequest, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header,
            description = "makes a retry safe: the same key and request within 24 h answer the \
                           video it created (200) and charge once; the key with another request \
                           is 422")),
    responses(
        (status = 201, description = "The video, queued", body = crate::wire::VideoJson,
         headers(("Location" = String, description = "the video's URL"))),
        (status = 200, description = "The video this Idempotency-Key created before (nothing \
                                      stored or charged now)", body = crate::wire::VideoJson,
         headers(("Location" = String, description = "the video's URL"))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, response = crate::openapi::Unprocessable),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/videos")]
#[instrument(skip_all, fields(user = %caller.user))]
async fn submit(
    farm: web::Data<Farm>,
    caller: Caller,
    request: HttpRequest,
    body: JsonBody<SubmitVideoRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&request)?;
    let who = caller.identity();
    farm.admit_submission(&who).await?;
    let account = farm.account(&who)?;
    let settings = farm.settings();
    let seed = |prompt: &str| farm.default_seed(&caller.user, prompt);
    let new = validate(
        body.into_inner(),
        &settings.models,
        &settings.default_model,
        account.high_priority,
        &seed,
        &settings.story,
    )?;
    let submitted = farm.submit_charged(&who, &account, new, key).await?;
    let video = &submitted.video;
    let mut answer = if submitted.replayed {
        tracing::info!(video_id = %video.id, "idempotent replay: the key's video answered");
        HttpResponse::Ok()
    } else {
        tracing::info!(video_id = %video.id, shots = video.shots.len(), "video accepted");
        HttpResponse::Created()
    };
    Ok(answer
        .insert_header(("Location", format!("/api/v1/videos/{}", video.id)))
        .json(VideoJson::of(video, &caller.user)))
}

/// The request's `Idempotency-Key`: 1 to [`MAX_IDEMPOTENCY_KEY`] visible ASCII characters (a
/// UUID fits), or absent.
fn idempotency_key(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default();
    let ok =
        (1..=MAX_IDEMPOTENCY_KEY).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(ApiError::field(
            IDEMPOTENCY_KEY,
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        ));
    }
    Ok(Some(key.to_owned()))
}

#[utoipa::path(
    tag = "videos",
    params(("id" = String, Path, description = "the video id")),
    responses(
        (status = 200, description = "The video", body = crate::wire::VideoJson),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, response = crate::openapi::NotFound),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/videos/{id}")]
async fn read(
    farm: web::Data<Farm>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let reader = farm.reader(caller.identity()).await?;
    let video = farm.video(reader, &VideoId::from(id.as_str())).await?;
    let held = farm.hold_note(&video).await?;
    Ok(HttpResponse::Ok().json(VideoJson::of(&video, &caller.user).held(held)))
}

#[utoipa::path(
    tag = "videos",
    params(("id" = String, Path, description = "the video id")),
    responses(
        (status = 200, description = "The video, every unfinished shot cancelled",
         body = crate::wire::VideoJson),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/videos/{id}/cancel")]
#[instrument(skip_all, fields(user = %caller.user, video_id = %id))]
async fn cancel(
    farm: web::Data<Farm>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let reader = farm.reader(caller.identity()).await?;
    let video = farm
        .cancel_video(reader, &VideoId::from(id.as_str()))
        .await?;
    Ok(HttpResponse::Ok().json(VideoJson::of(&video, &caller.user)))
}

#[utoipa::path(
    tag = "videos",
    description = "Deletes a finished video of the caller's own: its clips and other \
        artifacts, its checkpoints, and its record with the sealed title and prompts, at once; \
        audited (`delete`, one entry per shot, prompt digests only). Anyone else's video, \
        operators' included, is a 404 and nothing is removed. An unfinished video is a 409: \
        cancel it first.",
    params(("id" = String, Path, description = "the video id")),
    responses(
        (status = 204, description = "The video and everything stored of it are gone"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/videos/{id}")]
#[instrument(skip_all, fields(user = %caller.user, video_id = %id))]
async fn delete_video(
    farm: web::Data<Farm>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let reader = farm.reader(caller.identity()).await?;
    farm.delete_video(reader, &VideoId::from(id.as_str()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `?state=&limit=&cursor=`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    state: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct VideoList {
    videos: Vec<VideoJson>,
    next_cursor: Option<String>,
}

#[utoipa::path(
    tag = "videos",
    params(
        ("state" = Option<String>, Query, pattern = "^(queued|running|completed|failed|cancelled)?$",
         description = "only videos in this state (empty: any)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "page size (default 20)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "The caller's videos (every owner's for operators), newest first",
         body = crate::openapi::schemas::VideoListDoc),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/videos")]
async fn list(
    farm: web::Data<Farm>,
    caller: Caller,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    // Counted first: a request refused for a bad parameter still counts against the read rate.
    let reader = farm.reader(caller.identity()).await?;
    let params: ListParams = parse_query(req.query_string())?;
    let state = match params.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(VideoState::parse(s).ok_or_else(|| {
            ApiError::field(
                "state",
                format!("unknown state {s:?}: use queued, running, completed, failed or cancelled"),
            )
        })?),
    };
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::field("limit", format!("must be 1..={MAX_PAGE}")));
    }
    let filter = VideoFilter {
        state,
        limit,
        cursor: params.cursor.filter(|c| !c.is_empty()),
    };
    let page = farm.list_videos(reader, filter).await?;
    Ok(HttpResponse::Ok().json(VideoList {
        videos: page
            .videos
            .iter()
            .map(|v| VideoJson::of(v, &caller.user))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Registers the video routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(submit)
        .service(list)
        .service(read)
        .service(cancel)
        .service(delete_video);
}
