//! `GET /api/v1/shots/{id}/artifact?exp=&sig=`: a shot's rendered clip. The signed URL is the
//! capability (`artifact_url.rs`): no bearer token is asked for; an expired, altered or missing
//! signature is a 403 problem.

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Deserialize;

use shotfarm_actors::Farm;
use shotfarm_core::ids::ShotId;

use crate::artifact_url::ArtifactSigner;
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
        (status = 200, description = "The clip (an animated GIF)", content_type = "image/gif", body = Vec<u8>),
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
    let forbidden = || {
        ApiError::Forbidden(
            "this route needs the signed artifact_url from the video (?exp=&sig=)".into(),
        )
    };
    let query: SignedQuery =
        serde_urlencoded::from_str(req.query_string()).map_err(|_| forbidden())?;
    let exp = query
        .exp
        .and_then(|e| e.parse::<u64>().ok())
        .ok_or_else(forbidden)?;
    let sig = query.sig.ok_or_else(forbidden)?;
    let now = now_unix();
    signer
        .verify(&id, exp, &sig, now)
        .map_err(|e| ApiError::Forbidden(e.to_string()))?;
    let clip = farm
        .artifact(&ShotId::from(id.as_str()))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("shot {id} has no clip")))?;
    let ext = clip
        .content_type
        .rsplit('/')
        .next()
        .unwrap_or("bin")
        .to_owned();
    Ok(HttpResponse::Ok()
        .content_type(clip.content_type)
        // Cacheable by the one browser holding the link, for as long as the link is valid.
        .insert_header((
            header::CACHE_CONTROL,
            format!("private, max-age={}", exp.saturating_sub(now)),
        ))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{id}.{ext}\""),
        ))
        .body(clip.bytes))
}

/// Registers the artifact route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(download);
}
