//! The browser pages, compiled into the binary: `/videos/{id}` (one video's live progress) and
//! its script and stylesheet. Plain HTML, CSS and JavaScript with no framework and no build
//! step; the page reads everything it shows from the progress websocket.
//!
//! Architecture Invariant: pages carry no data and no token. The page takes the token from its
//! own `?token=` (then removes it from the address bar) or from local storage, so the HTML is the
//! same for everyone and may be cached by anything in between.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{get, web, HttpResponse};

const PROGRESS_HTML: &str = include_str!("../assets/progress.html");
const PROGRESS_JS: &str = include_str!("../assets/progress.js");
const PROGRESS_STORY_JS: &str = include_str!("../assets/progress-story.js");
const PROGRESS_CSS: &str = include_str!("../assets/progress.css");
const DASHBOARD_HTML: &str = include_str!("../assets/dashboard.html");
const DASHBOARD_JS: &str = include_str!("../assets/dashboard.js");
const DASHBOARD_FLEET_JS: &str = include_str!("../assets/dashboard-fleet.js");
const DASHBOARD_CSS: &str = include_str!("../assets/dashboard.css");

/// Scripts and styles only from this server; sockets and fetches only back to it; images and
/// video (a story video's reference, clips and finished MP4, at signed same-origin links) too.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

/// The progress page of one video (the id is read by the script from the address).
#[get("/videos/{id}")]
async fn video_page(_id: web::Path<String>) -> HttpResponse {
    html(PROGRESS_HTML)
}

/// The operator dashboard (it asks for an operator token, or takes one from `?token=`).
#[get("/")]
async fn dashboard_page() -> HttpResponse {
    html(DASHBOARD_HTML)
}

#[get("/assets/dashboard.js")]
async fn dashboard_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", DASHBOARD_JS)
}

/// The dashboard's fleet-size parts (pool panels, fleet view, autoscaler timeline).
#[get("/assets/dashboard-fleet.js")]
async fn dashboard_fleet_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", DASHBOARD_FLEET_JS)
}

#[get("/assets/dashboard.css")]
async fn dashboard_css() -> HttpResponse {
    asset("text/css; charset=utf-8", DASHBOARD_CSS)
}

/// A page with the strict policy (the page's own HTML is the same for everyone). `nosniff` and
/// `no-referrer` (the address may carry `?token=`) come from `security_headers::add`, which
/// wraps every response; the page sets only what differs from that default.
fn html(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .body(body)
}

#[get("/assets/progress.js")]
async fn progress_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", PROGRESS_JS)
}

/// The progress page's story parts: stage timeline, script, reference, clips and player.
#[get("/assets/progress-story.js")]
async fn progress_story_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", PROGRESS_STORY_JS)
}

#[get("/assets/progress.css")]
async fn progress_css() -> HttpResponse {
    asset("text/css; charset=utf-8", PROGRESS_CSS)
}

/// A script or stylesheet (`nosniff` comes from `security_headers::add`).
fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        // Revalidated each load: the assets change with the binary, which has no hashed names.
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .body(body)
}

/// Registers the pages.
/// The pages' paths (all `GET`), for the `Allow` of a wrong method (`routes/fallback.rs`).
pub const PATHS: [&str; 8] = [
    "/videos/{id}",
    "/",
    "/assets/dashboard.js",
    "/assets/dashboard-fleet.js",
    "/assets/dashboard.css",
    "/assets/progress.js",
    "/assets/progress-story.js",
    "/assets/progress.css",
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(video_page)
        .service(progress_js)
        .service(progress_story_js)
        .service(progress_css)
        .service(dashboard_page)
        .service(dashboard_js)
        .service(dashboard_fleet_js)
        .service(dashboard_css);
}

#[cfg(test)]
// Tests may panic on the unexpected: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_web::{test, App};

    #[actix_rt::test]
    async fn the_page_and_its_assets_are_served_with_a_strict_policy() {
        let app = test::init_service(App::new().configure(configure)).await;
        let resp = test::call_service(
            &app,
            test::TestRequest::get().uri("/videos/vid_x").to_request(),
        )
        .await;
        assert!(resp.status().is_success());
        let csp = resp.headers().get(header::CONTENT_SECURITY_POLICY).unwrap();
        assert!(csp.to_str().unwrap().contains("script-src 'self'"));
        // The player and the clips play the signed same-origin MP4s.
        assert!(csp.to_str().unwrap().contains("media-src 'self'"));
        let body = test::read_body(resp).await;
        let html = std::str::from_utf8(&body).unwrap();
        assert!(html.contains("/assets/progress.js"));
        assert!(html.contains("lang=\"en\""));
        for path in [
            "/assets/progress.js",
            "/assets/progress-story.js",
            "/assets/progress.css",
        ] {
            let resp =
                test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
            assert!(resp.status().is_success(), "{path}");
        }
    }
}

/// [`PATHS`] is kept by hand beside the route macros: this holds them equal.
#[cfg(test)]
mod paths_tests {
    #[test]
    fn paths_are_the_pages_routes() {
        let source = include_str!("pages.rs");
        let mut routes: Vec<&str> = source
            .lines()
            .filter_map(|l| l.trim().strip_prefix("#[get(\""))
            .filter_map(|rest| rest.split('"').next())
            .collect();
        let mut paths = super::PATHS.to_vec();
        routes.sort_unstable();
        paths.sort_unstable();
        assert_eq!(routes, paths);
    }
}
