//! Security headers on every response (one `.wrap` in `server.rs`): `nosniff`, no framing
//! (`X-Frame-Options: DENY`), no `Referer` (addresses may carry `?token=`), a strict
//! `Content-Security-Policy` where the route set none (pages set their own, allowing their
//! same-origin script and stylesheet), and `Cache-Control: no-store` on API answers that did
//! not choose a cache policy: they carry private data.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;

/// The policy of a response that set none: it may load nothing and be framed by nobody.
pub const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the headers (a route's own choice of CSP or cache policy is kept).
pub async fn add(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let api = req.path().starts_with("/api/");
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    let set = |headers: &mut header::HeaderMap, name, value: &'static str| {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::CONTENT_SECURITY_POLICY, DEFAULT_CSP);
    if api {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    Ok(res)
}

#[cfg(test)]
// Tests may panic on the unexpected: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_web::{middleware, test, web, App, HttpResponse};

    /// An API path (a plain constant: `openapi/tests.rs` reads route literals as routes).
    const API: &str = "/api/v1/x";

    #[actix_rt::test]
    async fn every_response_gets_the_headers_and_a_routes_own_choice_is_kept() {
        let app = test::init_service(
            App::new()
                .wrap(middleware::from_fn(add))
                .route(API, web::get().to(HttpResponse::Ok))
                .route(
                    "/page",
                    web::get().to(|| async {
                        HttpResponse::Ok()
                            .insert_header((header::CONTENT_SECURITY_POLICY, "script-src 'self'"))
                            .insert_header((header::CACHE_CONTROL, "no-cache"))
                            .finish()
                    }),
                ),
        )
        .await;
        let api = test::call_service(&app, test::TestRequest::get().uri(API).to_request()).await;
        let h = api.headers();
        assert_eq!(h.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
        assert_eq!(h.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
        assert_eq!(h.get(header::REFERRER_POLICY).unwrap(), "no-referrer");
        assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "no-store");
        assert_eq!(h.get(header::CONTENT_SECURITY_POLICY).unwrap(), DEFAULT_CSP);

        let page =
            test::call_service(&app, test::TestRequest::get().uri("/page").to_request()).await;
        let h = page.headers();
        assert_eq!(
            h.get(header::CONTENT_SECURITY_POLICY).unwrap(),
            "script-src 'self'"
        );
        assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "no-cache");
        assert_eq!(h.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
    }
}
