//! The API's error answers: JSON `{"error": "...", "field": ...}` with
//! 400/401/404/405/413 (docs/api.md), and the two layers that make sure every
//! error leaving the API has that shape.
//!
//! Owns [`ApiError`], the request body limit (64 KiB, [`read_body`] and
//! [`limit_body`]) and [`json_errors`], which rewrites the bare 404/405/413
//! answers axum produces by itself into JSON. It must never put a request
//! header (least of all `Authorization`) into an error message.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The largest request body any route accepts.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// The realm every 401 names, as the Go switchboard does.
pub(crate) const REALM: &str = "Basic realm=\"Authorization Required\"";

/// An error answer: status, message and the offending field, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for people.
    pub error: String,
    /// The request field at fault (`trafficEnabled`, `state`, ...).
    pub field: Option<&'static str>,
}

/// The JSON body of an [`ApiError`]; `field` is `null` when no field is at fault.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    field: Option<&'static str>,
}

impl ApiError {
    /// 400 about one field.
    pub(crate) fn bad_field(field: &'static str, error: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: error.into(),
            field: Some(field),
        }
    }

    /// 400 about the request as a whole.
    pub(crate) fn bad_request(error: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: error.into(),
            field: None,
        }
    }

    /// 401; the response carries `WWW-Authenticate`.
    pub(crate) fn unauthorized() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            error: "authorization required".into(),
            field: None,
        }
    }

    /// 404 for a path, or for a named thing when `field` is given.
    pub(crate) fn not_found(error: impl Into<String>, field: Option<&'static str>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            error: error.into(),
            field,
        }
    }

    /// 413: the body is over [`BODY_LIMIT`].
    pub(crate) fn too_large() -> ApiError {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            error: format!("request body over {} KiB", BODY_LIMIT / 1024),
            field: None,
        }
    }

    /// 500: the server could not do what was asked (nothing was changed).
    pub(crate) fn internal(error: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: error.into(),
            field: None,
        }
    }

    /// 503: `[coordination]`'s store cannot take the change now, so it was
    /// made nowhere; the client may retry.
    pub(crate) fn unavailable(error: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: error.into(),
            field: None,
        }
    }

    /// Any status with a generic message, for answers axum made by itself.
    fn for_status(status: StatusCode) -> ApiError {
        let error = match status {
            StatusCode::NOT_FOUND => "not found".to_string(),
            StatusCode::METHOD_NOT_ALLOWED => "method not allowed".to_string(),
            StatusCode::PAYLOAD_TOO_LARGE => return ApiError::too_large(),
            other => other
                .canonical_reason()
                .unwrap_or("request failed")
                .to_ascii_lowercase(),
        };
        ApiError {
            status,
            error,
            field: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&ErrorBody {
            error: &self.error,
            field: self.field,
        })
        .unwrap_or_else(|_| b"{\"error\":\"error\",\"field\":null}".to_vec());
        let mut response = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(REALM));
        }
        response
    }
}

/// Reads a whole request body, at most [`BODY_LIMIT`] bytes (413 beyond).
pub(crate) async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| ApiError::too_large())
}

/// Middleware: a declared `Content-Length` over [`BODY_LIMIT`] is refused
/// with 413 before any handler runs. Bodies without a length are capped by
/// [`read_body`].
pub(crate) async fn limit_body(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return ApiError::too_large().into_response();
    }
    next.run(request).await
}

/// Middleware: error answers that are not JSON yet (axum's own 404, 405,
/// 413, 415 ...) are rewritten as [`ApiError`]s, keeping headers such as
/// `Allow`.
pub(crate) async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let fresh = ApiError::for_status(status).into_response();
    let (fresh_parts, body) = fresh.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in fresh_parts.headers.iter() {
        parts.headers.insert(name.clone(), value.clone());
    }
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_json(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn errors_are_json_with_field_and_realm() {
        let r = ApiError::bad_field("trafficEnabled", "bad").into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let v = body_json(r).await;
        assert_eq!(
            v,
            serde_json::json!({"error": "bad", "field": "trafficEnabled"})
        );

        let r = ApiError::unauthorized().into_response();
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], REALM);
        assert_eq!(body_json(r).await["field"], serde_json::Value::Null);
    }
}
