//! The crate's one error type, [`ApiError`], answered as RFC 9457 problem details
//! (`application/problem+json`), and the glue that turns every extractor failure (bad JSON,
//! oversized bodies, bad query strings, unknown routes) into one.

use std::fmt::Write as _;

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The media type of every error body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The problem `type` of validation failures; every other problem is `about:blank`, whose
/// meaning is its status code alone (RFC 9457 §4.2.1).
pub const VALIDATION_TYPE: &str = "https://shotfarm.dev/problems/validation";

/// Request bodies read by [`JsonBody`] are capped at this many bytes unless a [`BodyLimit`] is
/// registered as app data (the same default as `server.max_body_bytes`).
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;

/// Everything a request can fail with, mapped onto one HTTP status each.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// One or more request fields are invalid (400, with an `errors` list).
    #[error("{}", validation_detail(.0))]
    Validation(Vec<FieldError>),
    /// The request cannot be understood at all, e.g. malformed JSON (400).
    #[error("{0}")]
    BadRequest(String),
    /// Missing, malformed, expired or badly signed token (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such resource, or not the caller's (404: existence is not revealed).
    #[error("{0}")]
    NotFound(String),
    /// The path is a route's, but not under this method (405, with `Allow`).
    #[error("{method} is not allowed here; allowed: {}", .allow.join(", "))]
    MethodNotAllowed {
        method: String,
        allow: Vec<&'static str>,
    },
    /// The target's state forbids the action, e.g. preempting an on-demand node (409).
    #[error("{0}")]
    Conflict(String),
    /// Well formed, but refused for what it means (422): a reused `Idempotency-Key` with another
    /// body. The field names what was refused.
    #[error("{}", .0.message)]
    Unprocessable(FieldError),
    /// The request body is over the configured limit (413).
    #[error("request body is over the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// The request body is not JSON (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The caller's rate or credits are exhausted (429, with `Retry-After`); the detail names
    /// the limit or the plan.
    #[error("{detail}")]
    TooManyRequests { retry_after_s: u64, detail: String },
    /// The farm cannot take the request now, e.g. the store is unreachable (503, with
    /// `Retry-After`).
    #[error("service unavailable: retry after {retry_after_s} s")]
    Unavailable { retry_after_s: u64 },
    /// A `Range` that starts past the end of an artifact of `size` bytes (416, with
    /// `Content-Range: bytes */size`).
    #[error("the range asked for starts past the end of the {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    /// A bug or an unexpected failure (500). The text is logged, never sent to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

/// One invalid field of a request, named by its path in the contract's style
/// (`shots[3].prompt`, `title`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    /// A field error for `field` saying `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The RFC 9457 body of every 4xx/5xx answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// `about:blank`, or `https://shotfarm.dev/problems/validation` for field errors.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Every invalid field, for validation problems (absent otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub errors: Vec<FieldError>,
}

/// App data that caps the bodies [`JsonBody`] reads, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimit(pub usize);

impl ApiError {
    /// A validation failure of a single field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// The problem body this error is answered with. Internal errors get a generic detail: their
    /// text may name files, hosts or queries that clients must not see.
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let (type_uri, title) = match self {
            Self::Validation(_) => (VALIDATION_TYPE, "Invalid request"),
            _ => ("about:blank", status.canonical_reason().unwrap_or("Error")),
        };
        let detail = match self {
            Self::Internal(_) => "an internal error occurred; it has been logged".to_owned(),
            other => other.to_string(),
        };
        let errors = match self {
            Self::Validation(errors) => errors.clone(),
            Self::Unprocessable(error) => vec![error.clone()],
            _ => Vec::new(),
        };
        Problem {
            type_uri: type_uri.to_owned(),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            errors,
        }
    }

    fn retry_after_s(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests { retry_after_s, .. } | Self::Unavailable { retry_after_s } => {
                Some(*retry_after_s)
            }
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(reason) = self {
            tracing::error!(error = %reason, "internal error answered with 500");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE));
        if let Some(seconds) = self.retry_after_s() {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        if let Self::MethodNotAllowed { allow, .. } = self {
            response.insert_header((header::ALLOW, allow.join(", ")));
        }
        if let Self::RangeNotSatisfiable { size } = self {
            response.insert_header((header::CONTENT_RANGE, format!("bytes */{size}")));
        }
        if matches!(self, Self::Unauthorized(_)) {
            // RFC 6750 §3: a 401 tells the client which scheme to use.
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response.json(self.problem())
    }
}

fn validation_detail(errors: &[FieldError]) -> String {
    let mut detail = match errors.len() {
        1 => "1 field is invalid:".to_owned(),
        n => format!("{n} fields are invalid:"),
    };
    for (i, e) in errors.iter().enumerate() {
        let sep = if i == 0 { " " } else { ", " };
        let _ = write!(detail, "{sep}{}", e.field);
    }
    detail
}

/// Parses a JSON body into `T`, naming the offending field: malformed JSON is a 400 saying where
/// it broke; a wrong type, a missing or an unknown field is a validation error on that field's
/// path (`shots[3].duration_s`).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = path_string(err.path());
        json_error(err.inner(), &path)
    })?;
    // Trailing bytes after the value are malformed JSON, as `serde_json::from_slice` says.
    de.end().map_err(|err| json_error(&err, ""))?;
    Ok(value)
}

/// Parses a query string into `T`, naming the offending parameter (`limit`).
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = path_string(err.path());
        data_error(&err.inner().to_string(), &path, "invalid query string")
    })
}

/// The contract's spelling of a path: `shots[3].prompt`, empty for the document root.
fn path_string(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => {
                let _ = write!(out, "[{index}]");
            }
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// Maps a serde_json error found at `path`.
fn json_error(err: &serde_json::Error, path: &str) -> ApiError {
    use serde_json::error::Category;
    let text = err.to_string();
    // serde_json appends the position; keep the message alone and say the position our way.
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text);
    match err.classify() {
        Category::Eof if err.line() == 1 && err.column() == 0 => {
            ApiError::BadRequest("request body is empty: expected a JSON document".to_owned())
        }
        Category::Syntax | Category::Eof => ApiError::BadRequest(format!(
            "malformed JSON at line {} column {}: {message}",
            err.line(),
            err.column()
        )),
        Category::Io => ApiError::BadRequest(format!("could not read the JSON body: {message}")),
        Category::Data => data_error(message, path, "request body is not valid"),
    }
}

/// Turns a serde data error (wrong type, missing or unknown field) into a field error. serde
/// reports missing and unknown fields at the enclosing object, so their name is appended to the
/// path; an error at the root names no field and is a plain 400 prefixed with `context`.
fn data_error(message: &str, path: &str, context: &str) -> ApiError {
    let join = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else if path == name || path.ends_with(&format!(".{name}")) {
            path.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    if let Some(name) = backticked(message, "missing field `") {
        return ApiError::field(join(name), "is required");
    }
    if let Some(name) = backticked(message, "unknown field `") {
        let expected = message
            .split_once(", ")
            .map_or(String::new(), |(_, rest)| format!("; {rest}"));
        return ApiError::field(join(name), format!("unknown field{expected}"));
    }
    if path.is_empty() {
        return ApiError::BadRequest(format!("{context}: {message}"));
    }
    ApiError::field(path, message)
}

/// The name between `prefix` (which ends in a backtick) and the next backtick.
fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split_once('`').map(|(name, _)| name)
}

/// Maps actix's reading of the body: over the limit is 413, anything else 400.
fn payload_error(err: PayloadError, limit: usize) -> ApiError {
    match err {
        PayloadError::Overflow => ApiError::PayloadTooLarge { limit },
        other => ApiError::BadRequest(format!("could not read the request body: {other}")),
    }
}

/// Maps the errors of `web::Json` (see [`json_config`]).
pub fn json_error_handler(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => ApiError::PayloadTooLarge { limit },
        JsonPayloadError::ContentType => {
            ApiError::UnsupportedMediaType("request body must be application/json".to_owned())
        }
        JsonPayloadError::Deserialize(e) => json_error(&e, ""),
        JsonPayloadError::Serialize(e) => ApiError::Internal(format!("serializing JSON: {e}")),
        JsonPayloadError::Payload(e) => payload_error(e, 0),
        other => ApiError::BadRequest(other.to_string()),
    };
    api.into()
}

/// Maps the errors of `web::Path`: a path parameter that does not parse.
pub fn path_error_handler(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    let api = match err {
        PathError::Deserialize(e) => ApiError::BadRequest(format!("invalid path parameter: {e}")),
        other => ApiError::BadRequest(other.to_string()),
    };
    api.into()
}

/// Maps the errors of `web::Query`; prefer [`parse_query`], which names the parameter.
pub fn query_error_handler(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match err {
        QueryPayloadError::Deserialize(e) => data_error(&e.to_string(), "", "invalid query string"),
        other => ApiError::BadRequest(other.to_string()),
    };
    api.into()
}

/// A `web::JsonConfig` whose errors are problem details, capped at `limit` bytes.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(json_error_handler)
}

/// A `web::PathConfig` whose errors are problem details.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(path_error_handler)
}

/// A `web::QueryConfig` whose errors are problem details.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(query_error_handler)
}

/// The default service: any route the app does not know is a 404 problem.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::NotFound(format!("no route for {} {}", req.method(), req.path())).error_response()
}

/// A JSON body parsed with [`parse_json`], so errors name the field; read up to the
/// [`BodyLimit`] app data (default [`DEFAULT_BODY_LIMIT`]). A body with a content type must
/// say JSON; one with none is read as JSON (curl and scripts often send none).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    /// The parsed value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<BodyLimit>()
            .or_else(|| req.app_data::<web::Data<BodyLimit>>().map(|d| d.get_ref()))
            .map_or(DEFAULT_BODY_LIMIT, |l| l.0);
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("").to_owned());
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if let Some(ct) = content_type {
                if !is_json_media_type(&ct) {
                    return Err(ApiError::UnsupportedMediaType(format!(
                        "request body must be application/json, not {ct:?}"
                    )));
                }
            }
            // Refuse early when the client says up front that the body is too large.
            if declared_length.is_some_and(|n| n > limit) {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            let mut body = Vec::with_capacity(declared_length.unwrap_or(0));
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| payload_error(e, limit))?;
                if body.len() + chunk.len() > limit {
                    return Err(ApiError::PayloadTooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            parse_json(&body).map(JsonBody)
        })
    }
}

/// `application/json` or any `+json` type, parameters ignored.
fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
// Tests may panic on the unexpected: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;
    use actix_web::test as actix_test;
    use actix_web::App;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        title: Option<String>,
        shots: Vec<Shot>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shot {
        prompt: String,
        duration_s: Option<u32>,
    }

    fn fields(err: &ApiError) -> Vec<String> {
        match err {
            ApiError::Validation(errors) => errors.iter().map(|e| e.field.clone()).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    async fn body_of(err: ApiError) -> (StatusCode, Option<String>, Problem) {
        let resp = err.error_response();
        let status = resp.status();
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = to_bytes(resp.into_body()).await.unwrap();
        (status, ct, serde_json::from_slice(&bytes).unwrap())
    }

    #[test]
    fn wrong_type_names_the_indexed_field() {
        let body = br#"{"shots":[{"prompt":"a"},{"prompt":"b"},{"prompt":"c"},{"prompt":"d","duration_s":"long"}]}"#;
        let err = parse_json::<Doc>(body).unwrap_err();
        assert_eq!(fields(&err), ["shots[3].duration_s"]);
    }

    #[test]
    fn unknown_field_is_named_with_its_path() {
        let err = parse_json::<Doc>(br#"{"shots":[{"prompt":"a","fps":24}]}"#).unwrap_err();
        assert_eq!(fields(&err), ["shots[0].fps"]);
        let err = parse_json::<Doc>(br#"{"shots":[],"colour":1}"#).unwrap_err();
        assert_eq!(fields(&err), ["colour"]);
        let ApiError::Validation(errors) = err else {
            unreachable!()
        };
        assert!(errors[0].message.contains("title"), "{errors:?}");
    }

    #[test]
    fn missing_field_is_named_with_its_path() {
        let err = parse_json::<Doc>(br#"{"title":"x"}"#).unwrap_err();
        assert_eq!(fields(&err), ["shots"]);
        let err = parse_json::<Doc>(br#"{"shots":[{"prompt":"a"},{}]}"#).unwrap_err();
        assert_eq!(fields(&err), ["shots[1].prompt"]);
    }

    #[test]
    fn malformed_json_is_a_bad_request_with_position() {
        let err = parse_json::<Doc>(br#"{"shots": [}"#).unwrap_err();
        let ApiError::BadRequest(detail) = err else {
            panic!("expected bad request, got {err:?}")
        };
        assert!(
            detail.starts_with("malformed JSON at line 1 column"),
            "{detail}"
        );
        assert!(matches!(
            parse_json::<Doc>(b""),
            Err(ApiError::BadRequest(d)) if d.contains("empty")
        ));
        assert!(matches!(
            parse_json::<Doc>(br#"{"shots":[]} x"#),
            Err(ApiError::BadRequest(_))
        ));
        // A root of the wrong type is a plain 400, naming no field.
        assert!(matches!(
            parse_json::<Doc>(b"7"),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn parse_json_accepts_a_good_document() {
        let doc = parse_json::<Doc>(br#"{"shots":[{"prompt":"a","duration_s":3}]}"#).unwrap();
        assert_eq!(doc.shots[0].duration_s, Some(3));
    }

    #[test]
    fn query_errors_name_the_parameter() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct List {
            limit: Option<u32>,
            state: Option<String>,
        }
        let err = parse_query::<List>("state=queued&limit=lots").unwrap_err();
        assert_eq!(fields(&err), ["limit"]);
        let ok = parse_query::<List>("limit=5").unwrap();
        assert_eq!(ok.limit, Some(5));
    }

    #[actix_rt::test]
    async fn validation_problem_has_status_type_and_errors() {
        let err = ApiError::Validation(vec![
            FieldError::new("shots[3].prompt", "must not be blank"),
            FieldError::new("title", "too long"),
        ]);
        let (status, ct, problem) = body_of(err).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(ct.as_deref(), Some(PROBLEM_CONTENT_TYPE));
        assert_eq!(problem.status, 400);
        assert_eq!(problem.type_uri, VALIDATION_TYPE);
        assert_eq!(problem.errors.len(), 2);
        assert_eq!(problem.errors[0].field, "shots[3].prompt");
        assert!(
            problem.detail.contains("shots[3].prompt, title"),
            "{}",
            problem.detail
        );
    }

    #[actix_rt::test]
    async fn problem_json_uses_the_rfc_field_names() {
        let resp = ApiError::NotFound("no video vid_x".into()).error_response();
        let bytes = to_bytes(resp.into_body()).await.unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["type"], "about:blank");
        assert_eq!(value["title"], "Not Found");
        assert_eq!(value["status"], 404);
        assert_eq!(value["detail"], "no video vid_x");
        assert!(value.get("errors").is_none());
    }

    #[actix_rt::test]
    async fn rate_limits_and_unavailability_say_when_to_retry() {
        for (err, code) in [
            (
                ApiError::TooManyRequests {
                    retry_after_s: 7,
                    detail: "rate limit on reads hit".into(),
                },
                429,
            ),
            (ApiError::Unavailable { retry_after_s: 7 }, 503),
        ] {
            let resp = err.error_response();
            assert_eq!(resp.status().as_u16(), code);
            assert_eq!(resp.headers().get(header::RETRY_AFTER).unwrap(), "7");
        }
    }

    #[actix_rt::test]
    async fn internal_errors_do_not_leak_their_cause() {
        let (status, _, problem) =
            body_of(ApiError::Internal("redis at 10.0.0.3 refused".into())).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!problem.detail.contains("10.0.0.3"), "{}", problem.detail);
    }

    #[actix_rt::test]
    async fn statuses_map_one_to_one() {
        let cases = [
            (ApiError::BadRequest(String::new()), 400),
            (ApiError::Unauthorized(String::new()), 401),
            (ApiError::Forbidden(String::new()), 403),
            (ApiError::NotFound(String::new()), 404),
            (ApiError::PayloadTooLarge { limit: 1 }, 413),
            (ApiError::UnsupportedMediaType(String::new()), 415),
        ];
        for (err, code) in cases {
            let (status, ct, problem) = body_of(err).await;
            assert_eq!(status.as_u16(), code);
            assert_eq!(problem.status, code);
            assert_eq!(ct.as_deref(), Some(PROBLEM_CONTENT_TYPE));
        }
    }

    #[actix_rt::test]
    async fn json_body_over_the_limit_is_413() {
        let (req, mut pl) = actix_test::TestRequest::post()
            .app_data(BodyLimit(16))
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload(r#"{"shots":[{"prompt":"a long enough prompt"}]}"#)
            .to_http_parts();
        let err = JsonBody::<Doc>::from_request(&req, &mut pl)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ApiError::PayloadTooLarge { limit: 16 }),
            "{err:?}"
        );
    }

    #[actix_rt::test]
    async fn json_body_parses_and_refuses_other_media_types() {
        let (req, mut pl) = actix_test::TestRequest::post()
            .insert_header((header::CONTENT_TYPE, "application/json; charset=utf-8"))
            .set_payload(r#"{"shots":[{"prompt":"a"}]}"#)
            .to_http_parts();
        let doc = JsonBody::<Doc>::from_request(&req, &mut pl).await.unwrap();
        assert_eq!(doc.into_inner().shots.len(), 1);

        let (req, mut pl) = actix_test::TestRequest::post()
            .insert_header((header::CONTENT_TYPE, "text/plain"))
            .set_payload(r#"{"shots":[]}"#)
            .to_http_parts();
        let err = JsonBody::<Doc>::from_request(&req, &mut pl)
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::UnsupportedMediaType(_)), "{err:?}");
    }

    #[actix_rt::test]
    async fn web_json_errors_become_problems() {
        async fn echo(doc: web::Json<Doc>) -> HttpResponse {
            HttpResponse::Ok().body(doc.shots.len().to_string())
        }
        let app = actix_test::init_service(
            App::new()
                .app_data(json_config(32))
                .route("/", web::post().to(echo))
                .default_service(web::to(not_found)),
        )
        .await;
        let req = actix_test::TestRequest::post()
            .uri("/")
            .set_json(serde_json::json!({"shots": [{"prompt": "x".repeat(64)}]}))
            .to_request();
        let resp = actix_test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            resp.headers().get(header::CONTENT_TYPE).unwrap(),
            PROBLEM_CONTENT_TYPE
        );

        let req = actix_test::TestRequest::post()
            .uri("/")
            .set_json(serde_json::json!({"title": "t"}))
            .to_request();
        let resp = actix_test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let problem: Problem = actix_test::read_body_json(resp).await;
        assert_eq!(problem.errors[0].field, "shots");
    }

    #[actix_rt::test]
    async fn unknown_routes_are_404_problems() {
        let app = actix_test::init_service(App::new().default_service(web::to(not_found))).await;
        let req = actix_test::TestRequest::get()
            .uri("/api/v1/nope")
            .to_request();
        let resp = actix_test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            resp.headers().get(header::CONTENT_TYPE).unwrap(),
            PROBLEM_CONTENT_TYPE
        );
        let problem: Problem = actix_test::read_body_json(resp).await;
        assert!(
            problem.detail.contains("/api/v1/nope"),
            "{}",
            problem.detail
        );
    }
}
