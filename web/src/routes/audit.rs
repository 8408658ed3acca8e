//! `GET /api/v1/audit` and `GET /api/v1/audit/export` (operators): the audit log of inferences
//! and prompt reads, as JSON pages or streamed JSON lines. Entries hold prompt digests, never
//! prompts. Prompt reads are recorded by the farm's reads (`actors/src/farm/reads.rs`).

use actix_web::web::Bytes;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use futures_util::stream;
use serde::Deserialize;
use tracing::error;

use shotfarm_actors::ports::{AuditAction, AuditId, AuditLog, AuditQuery};
use shotfarm_actors::Farm;
use shotfarm_core::ids::{NodeId, VideoId};

use crate::auth::Caller;
use crate::problem::{parse_query, ApiError};

/// Most entries one page holds, and the default.
const MAX_PAGE: usize = 1000;
const DEFAULT_PAGE: usize = 100;
/// Entries the export reads from the log at a time.
const EXPORT_CHUNK: usize = 1000;

/// `?user=&video=&node=&action=&since=&until=&limit=&cursor=`, shared by the page and the export
/// (the OpenAPI parameters of both come from here).
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    /// only entries of this user or operator id (`who`)
    user: Option<String>,
    /// only entries of this video
    video: Option<String>,
    /// only inferences on this node
    node: Option<String>,
    /// `inference` or `prompt_read`
    action: Option<String>,
    /// RFC 3339: entries at or after
    since: Option<String>,
    /// RFC 3339: entries before
    until: Option<String>,
    /// the page size (default 100); for the export, at most this many entries (default: all)
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// start after this entry id (`next_cursor`)
    cursor: Option<String>,
}

/// A time parameter, RFC 3339.
fn time(name: &str, raw: Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(&raw)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|e| {
            ApiError::field(
                name,
                format!("{raw:?} is not an RFC 3339 time such as 2026-05-01T12:00:00Z: {e}"),
            )
        })
}

/// The query the parameters ask for; `limit` unset gives `default_limit`.
fn query_of(raw: &str, default_limit: usize) -> Result<AuditQuery, ApiError> {
    let p: AuditParams = parse_query(raw)?;
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let action = match nonempty(p.action) {
        None => None,
        Some(a) => Some(AuditAction::parse(&a).ok_or_else(|| {
            ApiError::field(
                "action",
                format!(
                    "unknown action {a:?}: use inference, prompt_read, delete, pause, resume, retry, reorder or reroll"
                ),
            )
        })?),
    };
    let (since, until) = (time("since", p.since)?, time("until", p.until)?);
    if let (Some(s), Some(u)) = (since, until) {
        if u <= s {
            return Err(ApiError::field("until", "must be later than since"));
        }
    }
    let limit = match nonempty(p.limit) {
        None => default_limit,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(ApiError::field(
                    "limit",
                    format!("must be a whole number 1..={MAX_PAGE}, got {l:?}"),
                ))
            }
        },
    };
    let cursor = match nonempty(p.cursor) {
        None => None,
        Some(c) => Some(
            c.parse::<AuditId>()
                .map_err(|e| ApiError::field("cursor", e.to_string()))?,
        ),
    };
    Ok(AuditQuery {
        who: nonempty(p.user),
        video: nonempty(p.video).map(|v| VideoId::from(v.as_str())),
        node: nonempty(p.node).map(|n| NodeId::from(n.as_str())),
        action,
        since,
        until,
        limit,
        cursor,
    })
}

#[utoipa::path(
    tag = "operators",
    description = "The audit log, oldest first: one entry per inference (a shot attempt handed \
        to a node) and per prompt read (an owner shown a shot's prompt), with the prompt's keyed \
        digest, never the prompt. `{entries: [...], next_cursor}`; follow `next_cursor` until it \
        is null (a page may be short, even empty, before the end).",
    params(AuditParams),
    responses(
        (status = 200, description = "A page of entries and the cursor of the next"),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/audit")]
pub(crate) async fn list(
    farm: web::Data<Farm>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require_operator()?;
    let query = query_of(req.query_string(), DEFAULT_PAGE)?;
    let page = farm.audit().log().list(&query).await.map_err(|e| {
        error!(error = %e, "reading the audit log failed");
        ApiError::from(shotfarm_actors::FarmError::Store(e))
    })?;
    Ok(HttpResponse::Ok().json(page))
}

/// Where the export stands between chunks.
struct Export {
    log: std::sync::Arc<dyn AuditLog>,
    query: AuditQuery,
    /// Entries still allowed (`limit`, else unbounded).
    left: usize,
    done: bool,
}

/// The next chunk of JSON lines; `None` at the end. A failure mid-way ends the body with an
/// error, so the client sees a truncated transfer rather than a short file that looks whole.
async fn next_lines(mut ex: Export) -> Option<(Result<Bytes, actix_web::Error>, Export)> {
    while !ex.done {
        ex.query.limit = EXPORT_CHUNK.min(ex.left);
        let page = match ex.log.list(&ex.query).await {
            Ok(page) => page,
            Err(e) => {
                error!(error = %e, "audit export failed mid-way");
                ex.done = true;
                let err = actix_web::error::ErrorServiceUnavailable("audit log unavailable");
                return Some((Err(err), ex));
            }
        };
        ex.left = ex.left.saturating_sub(page.entries.len());
        ex.query.cursor = page.next_cursor;
        ex.done = page.next_cursor.is_none() || ex.left == 0;
        if page.entries.is_empty() {
            continue;
        }
        let mut out = Vec::with_capacity(page.entries.len() * 320);
        for entry in &page.entries {
            if let Err(e) = serde_json::to_writer(&mut out, entry) {
                ex.done = true;
                return Some((Err(actix_web::error::ErrorInternalServerError(e)), ex));
            }
            out.push(b'\n');
        }
        return Some((Ok(Bytes::from(out)), ex));
    }
    None
}

#[utoipa::path(
    tag = "operators",
    description = "The audit entries the filters select as JSON lines (`application/x-ndjson`), \
        oldest first, streamed.",
    params(AuditParams),
    responses(
        (status = 200, description = "One entry per line", content_type = "application/x-ndjson"),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/audit/export")]
pub(crate) async fn export(
    farm: web::Data<Farm>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require_operator()?;
    // Unbounded unless `limit` is given; each read takes a chunk of what is left.
    let query = query_of(req.query_string(), usize::MAX)?;
    let state = Export {
        log: std::sync::Arc::clone(farm.audit().log()),
        left: query.limit,
        query,
        done: false,
    };
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(stream::unfold(state, next_lines)))
}

/// Registers the audit routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(export).service(list);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: ApiError) -> String {
        match err {
            ApiError::Validation(errors) => errors[0].field.clone(),
            other => format!("not a validation error: {other}"),
        }
    }

    #[test]
    fn filters_parse_and_bad_ones_name_their_parameter() {
        let q = query_of(
            "user=alice&video=vid_1&node=n1&action=inference&since=2026-01-01T00:00:00Z&limit=5&cursor=17-2",
            DEFAULT_PAGE,
        )
        .expect("valid");
        assert_eq!(q.who.as_deref(), Some("alice"));
        assert_eq!(q.action, Some(AuditAction::Inference));
        assert_eq!(q.limit, 5);
        assert_eq!(q.cursor, Some(AuditId { ms: 17, n: 2 }));
        assert_eq!(query_of("", 7).expect("empty").limit, 7);
        for (raw, field) in [
            ("action=read", "action"),
            ("since=yesterday", "since"),
            ("until=2026-13-01T00:00:00Z", "until"),
            (
                "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
                "until",
            ),
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("limit=x", "limit"),
            ("cursor=abc", "cursor"),
        ] {
            let err = query_of(raw, DEFAULT_PAGE).expect_err(raw);
            assert_eq!(field_of(err), field, "{raw}");
        }
        assert!(
            query_of("prompt=x", DEFAULT_PAGE).is_err(),
            "unknown parameter"
        );
    }
}
