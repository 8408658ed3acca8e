//! Agents' access to their shots' artifacts: a remote agent holds no store credentials, so it
//! asks the server for a short-lived URL per access — the store's presigned URL where it has
//! them (S3, GCS, Azure), else the server's own object route (`file://`). Every request is
//! checked against the stored shot: only the node holding the shot's current attempt gets one,
//! so another shot, a stale attempt or a finished shot is refused (403). Listing and pruning a
//! shot's checkpoints are answered here directly.

use actix_web::{delete, get, post, web, HttpResponse};
use serde::Deserialize;
use tracing::instrument;

use crate::agent_protocol::{
    ArtifactAccess, ArtifactObject, ArtifactRequest, CheckpointSteps, SignedAccess,
};
use crate::artifact_url::ArtifactSigner;
use crate::auth::{now_unix, NodeCaller};
use crate::problem::{ApiError, JsonBody};
use shotfarm_actors::ports::{keys, Access, DirectStorage, ShotAttempt, ShotStorage};
use shotfarm_actors::Farm;
use shotfarm_core::ids::ShotId;

/// Refuses (403) unless the caller's node holds `attempt` of `shot` now; a revoked token is 401.
/// Returns what the shot's job reads from the stages before it.
async fn check_holder(
    farm: &Farm,
    caller: &NodeCaller,
    shot: &ShotId,
    attempt: u32,
) -> Result<Vec<String>, ApiError> {
    if farm
        .revocations()
        .is_revoked(&caller.node, caller.issued_at)
        .await
        .map_err(shotfarm_actors::FarmError::from)?
    {
        return Err(ApiError::Unauthorized(format!(
            "the token of node {} was revoked",
            caller.node
        )));
    }
    match farm.shot_holding(shot).await? {
        Some(h) if h.runs(&caller.node, attempt) => return Ok(h.inputs),
        _ => {}
    }
    Err(ApiError::Forbidden(format!(
        "node {} does not run attempt {attempt} of shot {shot}: no access to its artifacts",
        caller.node
    )))
}

#[utoipa::path(
    tag = "agents",
    description = "A short-lived URL for one access to an artifact of a shot the calling node \
        runs: read or write the latent after a step, write the attempt's clip (a stitch's \
        poster), or read what its job takes from the stages before it (a story shot's reference \
        image, a stitch's clips: only those keys, else 403). The key is derived from the shot, \
        attempt and object. The store's presigned URL where it has them, \
        else the server's own object route. 403 unless the node holds that attempt now.",
    request_body = ArtifactRequest,
    responses(
        (status = 200, description = "The URL, its method and the object's key", body = SignedAccess),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/agents/artifacts/sign")]
#[instrument(skip_all, fields(node_id = %caller.node))]
async fn sign(
    farm: web::Data<Farm>,
    signer: web::Data<ArtifactSigner>,
    caller: NodeCaller,
    body: JsonBody<ArtifactRequest>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    let inputs = check_holder(&farm, &caller, &req.shot, req.attempt).await?;
    let key = match (&req.object, req.access) {
        (ArtifactObject::Checkpoint { step }, _) => keys::checkpoint(&req.shot, *step),
        (ArtifactObject::Clip { content_type }, ArtifactAccess::Put) => {
            keys::clip(&req.shot, req.attempt, content_type).ok_or_else(|| {
                ApiError::field("object.content_type", "not a media type the farm serves")
            })?
        }
        (ArtifactObject::Clip { .. }, ArtifactAccess::Get) => {
            return Err(ApiError::field(
                "access",
                "a clip is read through its video's signed artifact_url",
            ))
        }
        (ArtifactObject::Poster { content_type }, ArtifactAccess::Put) => {
            keys::poster(&req.shot, req.attempt, content_type).ok_or_else(|| {
                ApiError::field("object.content_type", "not an image type the farm serves")
            })?
        }
        (ArtifactObject::Poster { .. }, ArtifactAccess::Get) => {
            return Err(ApiError::field(
                "access",
                "a poster is read through its video's signed poster_url",
            ))
        }
        (ArtifactObject::Input { key }, ArtifactAccess::Get) => {
            if !inputs.contains(key) {
                return Err(ApiError::Forbidden(format!(
                    "{key} is not an input of shot {}",
                    req.shot
                )));
            }
            key.clone()
        }
        (ArtifactObject::Input { .. }, ArtifactAccess::Put) => {
            return Err(ApiError::field(
                "access",
                "an input is written by the job that made it",
            ))
        }
    };
    let access = match req.access {
        ArtifactAccess::Get => Access::Get,
        ArtifactAccess::Put => Access::Put,
    };
    let ttl = farm.settings().artifacts.presign_ttl;
    let expires_at = now_unix() + ttl.as_secs();
    let url = match farm.artifacts().presign(access, &key, ttl).await? {
        Some(url) => url,
        None => signer.object_url(access.method(), &key, expires_at),
    };
    Ok(HttpResponse::Ok().json(SignedAccess {
        url,
        method: access.method().to_owned(),
        key,
        expires_at,
    }))
}

/// `?shot=&attempt=[&before=]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShotQuery {
    shot: String,
    attempt: u32,
    before: Option<u32>,
}

/// The shot and attempt `q` names, once the caller is checked to hold that attempt now.
async fn held(farm: &Farm, caller: &NodeCaller, q: &ShotQuery) -> Result<ShotAttempt, ApiError> {
    let at = ShotAttempt {
        shot: ShotId::from(q.shot.as_str()),
        attempt: q.attempt,
    };
    check_holder(farm, caller, &at.shot, at.attempt).await?;
    Ok(at)
}

#[utoipa::path(
    tag = "agents",
    description = "The steps at which a latent of the shot is saved (a resuming attempt looks \
        for the nearest one). 403 unless the node holds that attempt now.",
    params(
        ("shot" = String, Query, description = "the shot id"),
        ("attempt" = u32, Query, description = "the attempt the node runs"),
    ),
    responses(
        (status = 200, description = "Saved steps, ascending", body = CheckpointSteps),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/agents/artifacts/checkpoints")]
#[instrument(skip_all, fields(node_id = %caller.node))]
async fn checkpoints(
    farm: web::Data<Farm>,
    caller: NodeCaller,
    q: web::Query<ShotQuery>,
) -> Result<HttpResponse, ApiError> {
    let at = held(&farm, &caller, &q).await?;
    let steps = DirectStorage::new(farm.artifacts().clone())
        .checkpoint_steps(&at)
        .await?;
    Ok(HttpResponse::Ok().json(CheckpointSteps { steps }))
}

#[utoipa::path(
    tag = "agents",
    description = "Deletes the shot's checkpoints before `before` (all of them without it: the \
        shot is done). 403 unless the node holds that attempt now.",
    params(
        ("shot" = String, Query, description = "the shot id"),
        ("attempt" = u32, Query, description = "the attempt the node runs"),
        ("before" = Option<u32>, Query, description = "keep this step and later ones"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/agents/artifacts/checkpoints")]
#[instrument(skip_all, fields(node_id = %caller.node))]
async fn drop_checkpoints(
    farm: web::Data<Farm>,
    caller: NodeCaller,
    q: web::Query<ShotQuery>,
) -> Result<HttpResponse, ApiError> {
    let at = held(&farm, &caller, &q).await?;
    let storage = DirectStorage::new(farm.artifacts().clone());
    match q.before {
        Some(step) => storage.prune_checkpoints(&at, step).await?,
        None => storage.drop_checkpoints(&at).await?,
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the agents' artifact routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(sign)
        .service(checkpoints)
        .service(drop_checkpoints);
}
