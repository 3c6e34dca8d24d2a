//! The dashboard's files (docs/api.md ("Dashboard")): `static/` embedded in the binary, or the
//! files of `api.static_dir` when the operator overrides them.
//!
//! Owns which paths are assets (`/` is `index.html`), their content types,
//! and the path check for the override directory: only plain relative path
//! components, never `..`, an absolute path or a hidden file. It serves
//! nothing but files and never lists a directory. Another method than GET
//! or HEAD on a file that exists is `405` with `Allow: GET,HEAD`, as on
//! every other known path.

use std::path::{Component, Path, PathBuf};

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::App;

/// The embedded dashboard: `(name, content type, bytes)`.
const EMBEDDED: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../static/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/app.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/charts.js"),
    ),
    (
        "instances.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/instances.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/style.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../static/favicon.svg"),
    ),
];

/// The content type for a file name.
pub(crate) fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// The asset name a request path asks for (`/` → `index.html`), if it is
/// a safe relative path.
pub(crate) fn asset_name(path: &str) -> Option<PathBuf> {
    let trimmed = path.trim_start_matches('/');
    let name = if trimmed.is_empty() {
        "index.html"
    } else {
        trimmed
    };
    let candidate = Path::new(name);
    let safe = candidate.components().all(|c| match c {
        Component::Normal(part) => !part.to_string_lossy().starts_with('.'),
        _ => false,
    });
    safe.then(|| candidate.to_path_buf())
}

/// One asset with its type; dashboards must not be cached stale.
fn file_response(name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type(name)),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        bytes,
    )
        .into_response()
}

/// Whether `GET uri` would serve a file (an embedded one, or one of
/// `api.static_dir`).
pub(crate) async fn exists(app: &App, uri: &Uri) -> bool {
    let Some(name) = asset_name(uri.path()) else {
        return false;
    };
    if let Some(dir) = &app.ctx.config.get().api.static_dir {
        return tokio::fs::metadata(dir.join(&name))
            .await
            .is_ok_and(|m| m.is_file());
    }
    let name = name.to_string_lossy();
    EMBEDDED.iter().any(|(n, _, _)| *n == name)
}

/// The `405` for another method than GET or HEAD on a file.
pub(crate) fn method_not_allowed() -> Response {
    let mut response = ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        error: "method not allowed".into(),
        field: None,
    }
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
    response
}

/// The handler behind the fallback for `GET` paths that are not API routes:
/// an asset, or a JSON 404.
pub(crate) async fn serve_asset(State(app): State<App>, uri: Uri) -> Response {
    let not_found =
        || ApiError::not_found(format!("no such path: {}", uri.path()), None).into_response();
    let Some(name) = asset_name(uri.path()) else {
        return not_found();
    };
    let name_str = name.to_string_lossy().into_owned();
    if let Some(dir) = &app.ctx.config.get().api.static_dir {
        let path = dir.join(&name);
        return match tokio::fs::read(&path).await {
            Ok(bytes) => file_response(&name_str, bytes),
            Err(_) => not_found(),
        };
    }
    match EMBEDDED.iter().find(|(n, _, _)| *n == name_str) {
        Some((n, _, bytes)) => file_response(n, bytes.to_vec()),
        None => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked() {
        assert_eq!(asset_name("/"), Some(PathBuf::from("index.html")));
        assert_eq!(asset_name("/app.js"), Some(PathBuf::from("app.js")));
        assert_eq!(asset_name("/img/a.png"), Some(PathBuf::from("img/a.png")));
        for bad in ["/../etc/passwd", "/a/../../b", "/.env", "//etc/passwd/.."] {
            assert_eq!(asset_name(bad), None, "{bad}");
        }
        assert!(content_type("x.css").starts_with("text/css"));
        assert!(EMBEDDED.iter().all(|(_, _, b)| !b.is_empty()));
    }
}
