//! Artifact downloads and the server's own object route.
//!
//! `GET /api/v1/shots/{id}/artifact?exp=&sig=`: a shot's rendered clip (or a story video's
//! reference image or finished MP4: its stage jobs' artifacts); `.../poster`: the finished MP4's
//! poster. The signed URL is the capability (`artifact_url.rs`): no bearer token; an expired,
//! altered or missing signature is a 403 problem. Any server answers it (the clip's key is in the shared store, its bytes in the
//! artifact store): with a redirect to the store's presigned URL where the store has them and
//! `artifacts.redirect` is on, else streamed from the store with `Range` support (206). A store
//! that is down or slow is a 503 with `Retry-After`.
//!
//! `GET|PUT|DELETE /api/v1/artifacts/object?key=&method=&exp=&sig=`: what a presigned store URL
//! does, for a store without them (`file://`): the server signs these for an agent's own shot
//! and attempt only (`agents/artifacts.rs`); a PUT streams into the store and is visible only
//! once complete.

use actix_web::http::header;
use actix_web::{delete, get, put, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;

use shotfarm_actors::ports::{keys, Access, ArtifactError, ArtifactStore, ByteRange};
use shotfarm_actors::Farm;
use shotfarm_core::ids::ShotId;

use crate::artifact_url::{poster_subject, version_subject, ArtifactSigner};
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
    description = "The shot's clip (a story video's reference image or finished MP4: its stage \
        jobs' artifacts). The signed `artifact_url` of a completed shot is the capability: no \
        bearer token; expired, altered or missing `exp`/`sig` is 403. Where the artifact store \
        presigns URLs (S3, GCS, Azure) the answer is a redirect to one; otherwise the clip is \
        streamed, and a `Range: bytes=` request is answered 206 (416 past the end). 503 with \
        `Retry-After` while the store is down or slow.",
    params(
        ("id" = String, Path, description = "the shot id"),
        ("exp" = Option<String>, Query, description = "expiry, Unix seconds"),
        ("sig" = Option<String>, Query, description = "hex HMAC-SHA256 of the shot id and `exp`"),
        ("Range" = Option<String>, Header, description = "one byte range, `bytes=first-last`"),
    ),
    responses(
        (status = 200, description = "The clip: an H.264 MP4 (a GIF where the server has no ffmpeg), a story video's reference PNG, or its finished MP4", content_type = "video/mp4", body = Vec<u8>),
        (status = 206, description = "The range asked for, with `Content-Range`", body = Vec<u8>),
        (status = 302, description = "Redirect to the store's presigned URL (`Location`)"),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 416, response = crate::openapi::RangeNotSatisfiable),
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
    let exp = signed(&signer, &id, &id, &req)?;
    let key = farm
        .artifact_key(&ShotId::from(id.as_str()))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("shot {id} has no clip")))?;
    deliver(&farm, &key, &id, exp, &req).await
}

#[utoipa::path(
    tag = "videos",
    description = "The poster image of a story video's finished MP4 (its stitch job's). The \
        signed `poster_url` of the video is the capability, as for clips; a redirect to the \
        store's presigned URL, or streamed with `Range` support, as for clips.",
    params(
        ("id" = String, Path, description = "the stitch job's id"),
        ("exp" = Option<String>, Query, description = "unix seconds after which the link is refused"),
        ("sig" = Option<String>, Query, description = "hex HMAC-SHA256 of `<id>/poster` and `exp`"),
        ("Range" = Option<String>, Header, description = "one byte range, `bytes=first-last`"),
    ),
    responses(
        (status = 200, description = "The poster", content_type = "image/png", body = Vec<u8>),
        (status = 206, description = "The range asked for, with `Content-Range`", body = Vec<u8>),
        (status = 302, description = "Redirect to the store's presigned URL (`Location`)"),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 416, response = crate::openapi::RangeNotSatisfiable),
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
    let exp = signed(&signer, &id, &poster_subject(&id), &req)?;
    let key = farm
        .poster_key(&ShotId::from(id.as_str()))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{id} has no poster")))?;
    deliver(&farm, &key, &format!("{id}-poster"), exp, &req).await
}

#[utoipa::path(
    tag = "videos",
    description = "The clip of one finished version of a shot (or of a story video's stitch: \
        an earlier MP4): a re-roll keeps the earlier versions until retention. The signed \
        `artifact_url` of the version in the shot's `versions` is the capability, as for clips; \
        a redirect to the store's presigned URL, or streamed with `Range` support.",
    params(
        ("id" = String, Path, description = "the shot id"),
        ("version" = u32, Path, description = "the version, from 1"),
        ("exp" = Option<String>, Query, description = "expiry, Unix seconds"),
        ("sig" = Option<String>, Query, description = "hex HMAC-SHA256 of `<id>/v<version>` and `exp`"),
        ("Range" = Option<String>, Header, description = "one byte range, `bytes=first-last`"),
    ),
    responses(
        (status = 200, description = "The version's clip", content_type = "video/mp4", body = Vec<u8>),
        (status = 206, description = "The range asked for, with `Content-Range`", body = Vec<u8>),
        (status = 302, description = "Redirect to the store's presigned URL (`Location`)"),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 416, response = crate::openapi::RangeNotSatisfiable),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(())
)]
#[get("/api/v1/shots/{id}/versions/{version}/artifact")]
async fn version(
    farm: web::Data<Farm>,
    signer: web::Data<ArtifactSigner>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (id, version) = path.into_inner();
    // Versions are numbered from 1: anything else names no version, as a missing one.
    let version = version
        .parse::<u32>()
        .map_err(|_| ApiError::NotFound(format!("shot {id} has no version {version:?}")))?;
    let exp = signed(&signer, &id, &version_subject(&id, version), &req)?;
    let key = farm
        .version_artifact_key(&ShotId::from(id.as_str()), version)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("shot {id} has no clip of version {version}")))?;
    deliver(&farm, &key, &format!("{id}-v{version}"), exp, &req).await
}

/// Checks the request's `?exp=&sig=` against `subject` and returns the expiry: any problem is a
/// 403.
fn signed(
    signer: &ArtifactSigner,
    id: &str,
    subject: &str,
    req: &HttpRequest,
) -> Result<u64, ApiError> {
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
        .map_err(|e| ApiError::Forbidden(e.to_string()))?;
    Ok(exp)
}

/// The object under `key` for a link valid until `exp`: a redirect to the store's presigned URL
/// where it has them and `artifacts.redirect` is on, else streamed (cacheable by the one browser
/// holding the link for as long as it is valid), named `name` with the key's extension.
async fn deliver(
    farm: &Farm,
    key: &str,
    name: &str,
    exp: u64,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let store = farm.artifacts();
    let settings = &farm.settings().artifacts;
    let left = exp.saturating_sub(now_unix());
    if settings.redirect {
        // Valid no longer than the link it came from, nor than presigned URLs are kept short.
        let ttl = settings
            .presign_ttl
            .min(std::time::Duration::from_secs(left.max(1)));
        if let Some(url) = store.presign(Access::Get, key, ttl).await? {
            return Ok(HttpResponse::Found()
                .insert_header((header::LOCATION, url))
                .insert_header((header::CACHE_CONTROL, "private, no-store"))
                .finish());
        }
    }
    let ext = key.rsplit_once('.').map_or("bin", |(_, e)| e).to_owned();
    let mut response = stream(store.as_ref(), key, req).await?;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_str(&format!("private, max-age={left}"))
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        header::HeaderValue::from_str(&format!("inline; filename=\"{name}.{ext}\""))
            .map_err(|_| ApiError::NotFound(format!("{name} has no artifact")))?,
    );
    Ok(response)
}

/// The object under `key`, streamed: all of it (200), or the one range of a `Range` header
/// (206 with `Content-Range`); 404 when there is none.
pub async fn stream(
    store: &dyn ArtifactStore,
    key: &str,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(ByteRange::parse);
    let object = store
        .get(key, range)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such artifact (deleted, or never stored)".into()))?;
    let len = object.range.end - object.range.start;
    let mut response = if range.is_some() {
        let mut r = HttpResponse::PartialContent();
        r.insert_header((
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{}",
                object.range.start,
                object.range.end.saturating_sub(1),
                object.size
            ),
        ));
        r
    } else {
        HttpResponse::Ok()
    };
    response
        .content_type(object.content_type.as_str())
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .no_chunking(len);
    Ok(response.streaming(object.body))
}

/// `?key=&method=&exp=&sig=` of the object route.
#[derive(Deserialize)]
struct ObjectQuery {
    key: Option<String>,
    method: Option<String>,
    exp: Option<String>,
    sig: Option<String>,
}

/// The key an object URL grants `method` on, or 403.
fn granted(signer: &ArtifactSigner, req: &HttpRequest, method: &str) -> Result<String, ApiError> {
    let forbidden = || ApiError::Forbidden("this route needs a URL the server signed".into());
    let q: ObjectQuery = serde_urlencoded::from_str(req.query_string()).map_err(|_| forbidden())?;
    let key = q.key.ok_or_else(forbidden)?;
    let exp = q
        .exp
        .and_then(|e| e.parse::<u64>().ok())
        .ok_or_else(forbidden)?;
    if q.method.as_deref() != Some(method) {
        return Err(forbidden());
    }
    signer
        .verify_object(method, &key, exp, &q.sig.ok_or_else(forbidden)?, now_unix())
        .map_err(|e| ApiError::Forbidden(e.to_string()))?;
    Ok(key)
}

#[utoipa::path(
    tag = "agents",
    description = "Reads an object through a URL the server signed for an agent \
        (`POST /api/v1/agents/artifacts/sign`, where the store presigns none); `Range` as on \
        downloads.",
    params(
        ("key" = String, Query, description = "the object's key"),
        ("method" = String, Query, description = "`GET`"),
        ("exp" = u64, Query, description = "expiry, Unix seconds"),
        ("sig" = String, Query, description = "the server's signature"),
    ),
    responses(
        (status = 200, description = "The object", body = Vec<u8>),
        (status = 206, description = "The range asked for", body = Vec<u8>),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 416, response = crate::openapi::RangeNotSatisfiable),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(())
)]
#[get("/api/v1/artifacts/object")]
async fn object_get(
    farm: web::Data<Farm>,
    signer: web::Data<ArtifactSigner>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let key = granted(&signer, &req, "GET")?;
    stream(farm.artifacts().as_ref(), &key, &req).await
}

#[utoipa::path(
    tag = "agents",
    description = "Writes an object through a URL the server signed for an agent. The body \
        streams into the store and the object appears only once all of it arrived: an upload \
        cut short leaves nothing. At most `artifacts.max_upload_bytes` (413).",
    params(
        ("key" = String, Query, description = "the object's key"),
        ("method" = String, Query, description = "`PUT`"),
        ("exp" = u64, Query, description = "expiry, Unix seconds"),
        ("sig" = String, Query, description = "the server's signature"),
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 204, description = "Stored"),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(())
)]
#[put("/api/v1/artifacts/object")]
async fn object_put(
    farm: web::Data<Farm>,
    signer: web::Data<ArtifactSigner>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let key = granted(&signer, &req, "PUT")?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|ct| keys::extension_of(ct).is_some() || *ct == keys::LATENT)
        .unwrap_or_else(|| keys::content_type_of(&key))
        .to_owned();
    // The request's payload lives on this worker's thread; the store's upload may move between
    // threads, so the chunks cross over a small channel (which also bounds what is buffered).
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, ArtifactError>>(4);
    let mut payload = body;
    actix_web::rt::spawn(async move {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| ArtifactError::Io(format!("upload cut short: {e}")));
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    })
    .boxed();
    let limit = farm.settings().artifacts.max_upload_bytes;
    farm.artifacts()
        .put_stream(&key, &content_type, body, limit)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    tag = "agents",
    description = "Deletes an object through a URL the server signed (idempotent).",
    params(
        ("key" = String, Query, description = "the object's key"),
        ("method" = String, Query, description = "`DELETE`"),
        ("exp" = u64, Query, description = "expiry, Unix seconds"),
        ("sig" = String, Query, description = "the server's signature"),
    ),
    responses(
        (status = 204, description = "Gone (or never there)"),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(())
)]
#[delete("/api/v1/artifacts/object")]
async fn object_delete(
    farm: web::Data<Farm>,
    signer: web::Data<ArtifactSigner>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let key = granted(&signer, &req, "DELETE")?;
    farm.artifacts().delete(&key).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the artifact routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(download)
        .service(poster)
        .service(version)
        .service(object_get)
        .service(object_put)
        .service(object_delete);
}
