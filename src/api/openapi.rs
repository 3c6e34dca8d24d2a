//! `GET /v0/openapi.json`: the OpenAPI 3.0 document of the API listener
//! (`openapi.json` beside this file, embedded at build time).
//!
//! Owns serving that document and nothing else: the document itself is a
//! file of the repository, kept in step with the routes by the black-box
//! test `tests/api/openapi.rs` (every documented operation answers, every
//! served route is documented) and fuzzed against a live instance by
//! `scripts/api-fuzz` (schemathesis). It is read like any other read (same
//! credentials) and never built or changed at run time.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::App;

/// The document, byte for byte as in the repository.
pub(crate) const DOCUMENT: &str = include_str!("openapi.json");

/// The route that serves it.
pub(crate) fn routes() -> Router<App> {
    Router::new().route("/v0/openapi.json", get(document))
}

/// `GET /v0/openapi.json`.
async fn document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT).into_response()
}

#[cfg(test)]
mod tests {
    use super::DOCUMENT;

    #[test]
    fn the_document_is_openapi_3_0_json_with_paths() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("valid JSON");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.0."));
        let paths = doc["paths"].as_object().expect("paths");
        assert!(paths.contains_key("/v0/openapi.json"));
        assert!(paths.contains_key("/v0/cluster"));
        assert!(doc["components"]["securitySchemes"]["basic"]["scheme"] == "basic");
    }
}
