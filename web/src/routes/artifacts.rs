//! `GET /api/v1/shots/{id}/artifact?exp=&sig=`: a shot's rendered clip (or a story video's
//! reference image or finished MP4: its stage jobs' artifacts); `.../poster`: the finished MP4's
//! poster. The signed URL is the
//! capability (`artifact_url.rs`): no bearer token is asked for; an expired, altered or missing
//! signature is a 403 problem.

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Deserialize;

use shotfarm_actors::Farm;
use shotfarm_core::ids::ShotId;

use crate::artifact_url::{poster_subject, ArtifactSigner};
use crate::auth::now_unix;
use crate::problem::ApiError;

/// `?exp=&sig=`, read as text so that any altered value is a 403, never a 400.
#[derive(Deserialize)]
struct SignedQuery {
    exp: Option<String>,
    sig: Option<String>,
}

#[utoipa::path(
    tag = "videos",
    description = "The shot's clip. The signed `artifact_url` of a completed shot is the \
        capability: no bearer token; expired, altered or missing `exp`/`sig` is 403.",
    params(
        ("id" = String, Path, description = "the shot id"),
        ("exp" = Option<String>, Query, description = "expiry, Unix seconds"),
        ("sig" = Option<String>, Query, description = "hex HMAC-SHA256 of the shot id and `exp`"),
    ),
    responses(
        (status = 200, description = "The clip: an H.264 MP4 (a GIF where the server has no ffmpeg), a story video's reference PNG, or its finished MP4", content_type = "video/mp4", body = Vec<u8>),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(())
)]
#[get("/api/v1/shots/{id}/artifact")]
async fn download(
    farm: web::Data<Farm>,
    signer: web::Data<ArtifactSigner>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    signed(&signer, &id, &id, &req)?;
    let clip = farm
        .artifact(&ShotId::from(id.as_str()))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("shot {id} has no clip")))?;
    Ok(serve(clip, &id, expiry(&req)))
}

#[utoipa::path(
    tag = "videos",
    description = "The poster image of a story video's finished MP4 (its stitch job's). The \
        signed `poster_url` of the video is the capability, as for clips.",
    params(
        ("id" = String, Path, description = "the stitch job's id"),
        ("exp" = Option<String>, Query, description = "unix seconds after which the link is refused"),
        ("sig" = Option<String>, Query, description = "hex HMAC-SHA256 of `<id>/poster` and `exp`"),
    ),
    responses(
        (status = 200, description = "The poster", content_type = "image/png", body = Vec<u8>),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(())
)]
#[get("/api/v1/shots/{id}/poster")]
async fn poster(
    farm: web::Data<Farm>,
    signer: web::Data<ArtifactSigner>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    signed(&signer, &id, &poster_subject(&id), &req)?;
    let image = farm
        .poster(&ShotId::from(id.as_str()))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{id} has no poster")))?;
    Ok(serve(image, &format!("{id}-poster"), expiry(&req)))
}

/// Checks the request's `?exp=&sig=` against `subject`: any problem is a 403.
fn signed(
    signer: &ArtifactSigner,
    id: &str,
    subject: &str,
    req: &HttpRequest,
) -> Result<(), ApiError> {
    let forbidden = || {
        ApiError::Forbidden(format!(
            "this route needs the signed link from the video (?exp=&sig=) for {id}"
        ))
    };
    let query: SignedQuery =
        serde_urlencoded::from_str(req.query_string()).map_err(|_| forbidden())?;
    let exp = query
        .exp
        .and_then(|e| e.parse::<u64>().ok())
        .ok_or_else(forbidden)?;
    let sig = query.sig.ok_or_else(forbidden)?;
    signer
        .verify(subject, exp, &sig, now_unix())
        .map_err(|e| ApiError::Forbidden(e.to_string()))
}

/// The checked link's expiry (0 if absent: `signed` refused it already).
fn expiry(req: &HttpRequest) -> u64 {
    serde_urlencoded::from_str::<SignedQuery>(req.query_string())
        .ok()
        .and_then(|q| q.exp)
        .and_then(|e| e.parse().ok())
        .unwrap_or(0)
}

/// The stored file, cacheable by the one browser holding the link for as long as it is valid.
fn serve(clip: shotfarm_actors::ports::Clip, name: &str, exp: u64) -> HttpResponse {
    let ext = clip
        .content_type
        .rsplit('/')
        .next()
        .unwrap_or("bin")
        .to_owned();
    HttpResponse::Ok()
        .content_type(clip.content_type)
        .insert_header((
            header::CACHE_CONTROL,
            format!("private, max-age={}", exp.saturating_sub(now_unix())),
        ))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{name}.{ext}\""),
        ))
        .body(clip.bytes)
}

/// Registers the artifact route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(download).service(poster);
}
