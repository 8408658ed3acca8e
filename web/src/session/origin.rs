//! The `Origin` rule of every websocket route: a browser page may open a socket only from the
//! server's own origin or one on `server.allowed_origins`; a client that sends no `Origin` (an
//! agent, the CLI) is judged by its token alone.
//!
//! Why: a websocket is not subject to CORS, so without this check any page a user visits could
//! open a socket to the farm with a token it found in that user's storage or URL.

use actix_web::http::header;
use actix_web::HttpRequest;

use crate::problem::ApiError;

/// 403 unless the request's `Origin` is absent, the server's own, or allowed.
pub fn check(req: &HttpRequest, allowed: &[String]) -> Result<(), ApiError> {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return Ok(());
    };
    let refuse = |shown: &str| {
        ApiError::Forbidden(format!(
            "origin {shown:?} may not open this websocket: it is neither this server's own \
             origin nor on server.allowed_origins"
        ))
    };
    let origin = origin.to_str().map_err(|_| refuse("<not ASCII>"))?.trim();
    let origin = origin.trim_end_matches('/');
    if is_own(req, origin) || is_allowed(allowed, origin) {
        Ok(())
    } else {
        Err(refuse(origin))
    }
}

/// Whether `origin`'s host and port are those the request was sent to (the `Host` header; the
/// scheme is not compared, so a TLS-terminating proxy in front changes nothing).
fn is_own(req: &HttpRequest, origin: &str) -> bool {
    let Some((_, authority)) = origin.split_once("://") else {
        // `null` (sandboxed frames, file pages) and garbage are never the server's own.
        return false;
    };
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| host.trim().eq_ignore_ascii_case(authority))
}

/// Whether `origin` is on the `server.allowed_origins` list: surrounding spaces, a trailing `/`
/// and case do not matter on either side. One rule for websockets and CORS (`cors.rs`), so an
/// origin allowed to call the API is the one allowed to open a socket.
pub(crate) fn is_allowed(allowed: &[String], origin: &str) -> bool {
    let origin = origin.trim().trim_end_matches('/');
    allowed
        .iter()
        .any(|a| a.trim().trim_end_matches('/').eq_ignore_ascii_case(origin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn req(host: &str, origin: Option<&str>) -> HttpRequest {
        let mut r = TestRequest::get().insert_header((header::HOST, host));
        if let Some(o) = origin {
            r = r.insert_header((header::ORIGIN, o));
        }
        r.to_http_request()
    }

    #[test]
    fn no_origin_is_left_to_the_token() {
        assert!(check(&req("127.0.0.1:8080", None), &[]).is_ok());
    }

    #[test]
    fn the_servers_own_origin_is_allowed() {
        let r = req("127.0.0.1:8080", Some("http://127.0.0.1:8080"));
        assert!(check(&r, &[]).is_ok());
        let r = req("farm.example", Some("https://farm.example/"));
        assert!(check(&r, &[]).is_ok());
    }

    #[test]
    fn other_origins_need_the_allowlist() {
        let r = req("127.0.0.1:8080", Some("https://evil.example"));
        assert!(matches!(check(&r, &[]), Err(ApiError::Forbidden(_))));
        let allowed = vec!["https://app.example".to_owned()];
        let r = req("127.0.0.1:8080", Some("https://app.example"));
        assert!(check(&r, &allowed).is_ok());
        let r = req("127.0.0.1:8080", Some("https://app.example.evil"));
        assert!(check(&r, &allowed).is_err());
        let r = req("127.0.0.1:8080", Some("http://127.0.0.1:9999"));
        assert!(
            check(&r, &allowed).is_err(),
            "another port is another origin"
        );
    }

    #[test]
    fn null_origins_are_refused() {
        let r = req("127.0.0.1:8080", Some("null"));
        assert!(check(&r, &[]).is_err());
    }
}
