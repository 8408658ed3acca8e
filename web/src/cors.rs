//! CORS for the REST API from `server.allowed_origins` (the list the websocket `Origin` check
//! reads): a listed origin may call with `Authorization` and `Content-Type`, by GET and POST,
//! preflight included; any other origin gets no CORS headers, so a browser keeps the answer
//! from its page. Same-origin pages need no CORS.

use actix_cors::Cors;
use actix_web::http::{header, Method};

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE_S: usize = 600;

/// The CORS middleware for `allowed` origins (`https://app.example`; a trailing `/` and case
/// do not matter).
pub fn middleware(allowed: &[String]) -> Cors {
    let allowed = allowed.to_vec();
    Cors::default()
        .allowed_origin_fn(move |origin, _| {
            origin
                .to_str()
                .is_ok_and(|o| crate::session::origin::is_allowed(&allowed, o))
        })
        .allowed_methods([Method::GET, Method::POST])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(PREFLIGHT_MAX_AGE_S)
}

#[cfg(test)]
// Tests may panic on the unexpected: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_web::{test, web, App, HttpResponse};

    /// An API path (a plain constant: `openapi/tests.rs` reads route literals as routes).
    const API: &str = "/api/v1/videos";

    #[actix_rt::test]
    async fn listed_origins_get_cors_and_others_get_none() {
        let app = test::init_service(
            App::new()
                .wrap(middleware(&["https://App.example/".to_owned()]))
                .route(API, web::get().to(HttpResponse::Ok)),
        )
        .await;
        let preflight = |origin: &str| {
            test::TestRequest::default()
                .method(Method::OPTIONS)
                .uri(API)
                .insert_header((header::ORIGIN, origin))
                .insert_header((header::ACCESS_CONTROL_REQUEST_METHOD, "POST"))
                .insert_header((
                    header::ACCESS_CONTROL_REQUEST_HEADERS,
                    "authorization, content-type",
                ))
                .to_request()
        };
        let ok = test::call_service(&app, preflight("https://app.example")).await;
        assert!(ok.status().is_success(), "{}", ok.status());
        let h = ok.headers();
        assert_eq!(
            h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(),
            "https://app.example"
        );
        let methods = h
            .get(header::ACCESS_CONTROL_ALLOW_METHODS)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            methods.contains("POST") && methods.contains("GET"),
            "{methods}"
        );
        let allowed = h
            .get(header::ACCESS_CONTROL_ALLOW_HEADERS)
            .unwrap()
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"));

        let other = test::call_service(&app, preflight("https://evil.example")).await;
        assert!(
            other
                .headers()
                .keys()
                .all(|k| !k.as_str().starts_with("access-control-")),
            "{:?}",
            other.headers()
        );
        let simple = test::TestRequest::get()
            .uri(API)
            .insert_header((header::ORIGIN, "https://evil.example"))
            .to_request();
        let simple = test::call_service(&app, simple).await;
        assert!(simple.status().is_success());
        assert!(simple
            .headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-")));
    }
}
