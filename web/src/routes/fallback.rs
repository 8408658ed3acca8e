//! The default service: a request no route took. Its path is a known route's under other
//! methods → 405 with `Allow` (the contract: a known route with a wrong method); otherwise the
//! problem-details 404.
//!
//! Why a table: actix tries each route's method guard and, when none passes, falls through to
//! the default service without saying whether the path matched. The table is the OpenAPI
//! document's operations (which `openapi/tests.rs` holds equal to the route macros) and the
//! pages', so a new route is in it by being documented.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use actix_web::dev::ResourceDef;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde_json::Value;

use crate::problem::ApiError;

/// The methods routes are registered with, in the order `Allow` lists them.
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// A route's path pattern and the methods it answers.
struct Route {
    path: ResourceDef,
    methods: Vec<&'static str>,
}

fn routes() -> &'static [Route] {
    static ROUTES: OnceLock<Vec<Route>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let doc: Value = serde_json::from_str(crate::openapi::document_json()).unwrap_or_default();
        let mut by_path: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for method in METHODS {
                if item.get(method.to_lowercase()).is_some() {
                    by_path.entry(path.clone()).or_default().push(method);
                }
            }
        }
        for page in crate::pages::PATHS {
            by_path.entry((*page).to_owned()).or_default().push("GET");
        }
        by_path
            .into_iter()
            .map(|(path, methods)| Route {
                path: ResourceDef::new(path),
                methods,
            })
            .collect()
    })
}

/// The methods some route answers at `path`, in [`METHODS`] order; empty for an unknown path.
pub fn allowed_methods(path: &str) -> Vec<&'static str> {
    let matching: Vec<&Route> = routes().iter().filter(|r| r.path.is_match(path)).collect();
    METHODS
        .into_iter()
        .filter(|m| matching.iter().any(|r| r.methods.contains(m)))
        .collect()
}

/// The default service's handler.
pub async fn unmatched(req: HttpRequest) -> HttpResponse {
    let allow = allowed_methods(req.path());
    if allow.is_empty() {
        return crate::problem::not_found(req).await;
    }
    ApiError::MethodNotAllowed {
        method: req.method().to_string(),
        allow,
    }
    .error_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_path_lists_every_method_its_routes_answer() {
        assert_eq!(allowed_methods("/api/v1/videos"), ["GET", "POST"]);
        assert_eq!(
            allowed_methods("/api/v1/videos/vid_x"),
            ["GET", "PATCH", "DELETE"]
        );
        assert_eq!(allowed_methods("/api/v1/videos/vid_x/cancel"), ["POST"]);
        assert_eq!(allowed_methods("/api/v1/videos/vid_x/pause"), ["POST"]);
        assert_eq!(allowed_methods("/videos/vid_x"), ["GET"]);
        assert_eq!(allowed_methods("/"), ["GET"]);
    }

    #[test]
    fn an_unknown_path_has_no_methods() {
        assert!(allowed_methods("/api/v1/nothing").is_empty());
        assert!(allowed_methods("/api/v1/videos/a/b/c").is_empty());
    }
}
