//! The document covers exactly the routes the code registers, and the checked-in copy
//! (`docs/openapi.json`) is the generated one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::document_json;

fn document() -> Value {
    serde_json::from_str(document_json()).expect("the document is JSON")
}

/// `(METHOD, path)` of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            ops.insert((method.to_uppercase(), path.clone()));
        }
    }
    ops
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(METHOD, path)` of every actix route macro in this crate's sources (`#[get("...")]` and the
/// like), but the pages: the routes the server answers.
fn registered() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source");
        for line in text.lines() {
            let line = line.trim();
            for method in ["get", "post", "put", "patch", "delete"] {
                let Some(rest) = line.strip_prefix(&format!("#[{method}(\"")) else {
                    continue;
                };
                let path = rest.split('"').next().expect("path");
                let api = path.starts_with("/api/")
                    || matches!(path, "/healthz" | "/readyz" | "/metrics");
                if api {
                    routes.insert((method.to_uppercase(), path.to_owned()));
                }
            }
            assert!(
                !line.contains("web::resource(\"/api") && !line.contains(".route(\"/api"),
                "{}: a route registered without a macro is invisible to this test: {line}",
                file.display()
            );
        }
    }
    routes
}

#[test]
fn every_registered_route_is_documented_and_nothing_else() {
    let doc = document();
    let documented = documented(&doc);
    let registered = registered();
    assert!(registered.len() >= 15, "found only {registered:?}");
    let missing: Vec<_> = registered.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "routes not in the OpenAPI document (add #[utoipa::path] and list them in ApiDoc): {missing:?}"
    );
    assert!(extra.is_empty(), "documented but not registered: {extra:?}");
}

#[test]
fn every_operation_has_a_success_and_its_problems() {
    let doc = document();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|s| s.starts_with('2') || s == "101"),
                "{method} {path} documents no success"
            );
            let secured = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            let api = path.starts_with("/api/v1/");
            let public = matches!(
                path.as_str(),
                "/api/v1/openapi.json"
                    | "/api/v1/shots/{id}/artifact"
                    | "/api/v1/shots/{id}/poster"
                    | "/api/v1/shots/{id}/versions/{version}/artifact"
                    | "/api/v1/artifacts/object"
            );
            assert_eq!(secured, api && !public, "{method} {path}: bearer security");
            if secured {
                assert!(responses.contains_key("401"), "{method} {path}: no 401");
            }
            // Another user's video or shot is a 404 (existence is not revealed).
            if path.starts_with("/api/v1/videos/{id}") || path.starts_with("/api/v1/shots/{id}") {
                assert!(responses.contains_key("404"), "{method} {path}: no 404");
            }
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let r = response["$ref"].as_str().unwrap_or_default();
                    assert!(
                        r.starts_with("#/components/responses/") || path.as_str() == "/readyz",
                        "{method} {path} {status}: not a problem response"
                    );
                }
            }
        }
    }
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["scheme"], "bearer");
    assert_eq!(bearer["bearerFormat"], "JWT");
    let problem = &doc["components"]["responses"]["NotFound"]["content"];
    assert!(
        problem.get("application/problem+json").is_some(),
        "{problem}"
    );
}

#[test]
fn the_checked_in_copy_is_the_generated_document() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == document_json(),
        "{} is not the generated document: run `cargo run -q -- openapi > docs/openapi.json`",
        path.display()
    );
}
