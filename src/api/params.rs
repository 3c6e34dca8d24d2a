//! The parameters of a control request (PATCH), wherever the client put
//! them: the query string, a form body (`application/x-www-form-urlencoded`)
//! or a JSON object body (docs/api.md).
//!
//! Owns the merge rule (a body value wins over the same name in the query
//! string, as Go's `Request.FormValue` does) and the typing of values: JSON
//! may carry real booleans, strings or numbers; everything else is text and
//! booleans are read with Go's spellings. It never logs a value and never
//! decides what a parameter means: the handlers do.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{header, HeaderMap, Uri};

use super::bool_param::{parse_go_bool, SPELLINGS};
use super::error::{read_body, ApiError};

/// One parameter's value as it arrived.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    /// From the query string, a form, or a JSON string or number.
    Text(String),
    /// A JSON boolean.
    Bool(bool),
    /// A JSON array or object: never valid for any parameter.
    Invalid(&'static str),
}

/// The merged parameters of one request.
#[derive(Debug, Default)]
pub(crate) struct Params {
    values: HashMap<String, Value>,
}

impl Params {
    /// Reads the query string and the body (capped at 64 KiB, 413 beyond).
    pub(crate) async fn read(
        uri: &Uri,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<Params, ApiError> {
        let mut params = Params::default();
        if let Some(query) = uri.query() {
            params.add_form(query.as_bytes());
        }
        let body = read_body(body).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(params);
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        match content_type.as_deref() {
            Some(t) if t == "application/json" || t.ends_with("+json") => params.add_json(&body)?,
            Some("application/x-www-form-urlencoded") | Some("text/plain") => {
                params.add_form(&body)
            }
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "unsupported body type {other}; send a query string, a form or a JSON object"
                )))
            }
            None if body.trim_ascii_start().starts_with(b"{") => params.add_json(&body)?,
            None => params.add_form(&body),
        }
        Ok(params)
    }

    fn add_form(&mut self, form: &[u8]) {
        for (name, value) in form_urlencoded::parse(form) {
            self.values
                .insert(name.into_owned(), Value::Text(value.into_owned()));
        }
    }

    fn add_json(&mut self, body: &[u8]) -> Result<(), ApiError> {
        let parsed: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("body is not valid JSON: {e}")))?;
        let serde_json::Value::Object(object) = parsed else {
            return Err(ApiError::bad_request("JSON body must be an object"));
        };
        for (name, value) in object {
            let value = match value {
                serde_json::Value::Null => continue,
                serde_json::Value::Bool(b) => Value::Bool(b),
                serde_json::Value::String(s) => Value::Text(s),
                serde_json::Value::Number(n) => Value::Text(n.to_string()),
                serde_json::Value::Array(_) => Value::Invalid("an array"),
                serde_json::Value::Object(_) => Value::Invalid("an object"),
            };
            self.values.insert(name, value);
        }
        Ok(())
    }

    /// A text parameter (`message`, `state`); `None` when absent.
    pub(crate) fn text(&self, name: &'static str) -> Result<Option<&str>, ApiError> {
        match self.values.get(name) {
            None => Ok(None),
            Some(Value::Text(s)) => Ok(Some(s)),
            Some(Value::Bool(_)) => Err(ApiError::bad_field(
                name,
                format!("{name} must be a string"),
            )),
            Some(Value::Invalid(what)) => Err(ApiError::bad_field(
                name,
                format!("{name} must be a string, not {what}"),
            )),
        }
    }

    /// A boolean parameter in Go's spellings or a JSON boolean; `None` when absent.
    pub(crate) fn flag(&self, name: &'static str) -> Result<Option<bool>, ApiError> {
        let bad = |found: &str| {
            ApiError::bad_field(
                name,
                format!("{name} must be a boolean ({SPELLINGS}); found {found}"),
            )
        };
        match self.values.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Text(s)) => parse_go_bool(s)
                .map(Some)
                .ok_or_else(|| bad(&format!("{s:?}"))),
            Some(Value::Invalid(what)) => Err(bad(what)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(query: &str, content_type: Option<&str>, body: &str) -> Result<Params, ApiError> {
        let uri: Uri = format!("/v0/cluster?{query}").parse().unwrap();
        let mut headers = HeaderMap::new();
        if let Some(t) = content_type {
            headers.insert(header::CONTENT_TYPE, t.parse().unwrap());
        }
        Params::read(&uri, &headers, Body::from(body.to_string())).await
    }

    #[tokio::test]
    async fn query_form_and_json_merge_with_body_winning() {
        let p = read(
            "trafficEnabled=true&message=q",
            Some("application/x-www-form-urlencoded"),
            "message=form+body",
        )
        .await
        .unwrap();
        assert_eq!(p.flag("trafficEnabled").unwrap(), Some(true));
        assert_eq!(p.text("message").unwrap(), Some("form body"));

        let p = read(
            "",
            Some("application/json"),
            r#"{"trafficEnabled": false, "message": "m", "x": null}"#,
        )
        .await
        .unwrap();
        assert_eq!(p.flag("trafficEnabled").unwrap(), Some(false));
        assert_eq!(p.text("message").unwrap(), Some("m"));

        let p = read("", None, r#" {"monitoringEnabled": "F"}"#)
            .await
            .unwrap();
        assert_eq!(p.flag("monitoringEnabled").unwrap(), Some(false));
        assert_eq!(p.flag("trafficEnabled").unwrap(), None);
    }

    #[tokio::test]
    async fn bad_values_name_their_field() {
        let p = read("trafficEnabled=yes", None, "").await.unwrap();
        assert_eq!(
            p.flag("trafficEnabled").unwrap_err().field,
            Some("trafficEnabled")
        );
        let p = read(
            "",
            Some("application/json"),
            r#"{"trafficEnabled": [true]}"#,
        )
        .await
        .unwrap();
        assert_eq!(
            p.flag("trafficEnabled").unwrap_err().field,
            Some("trafficEnabled")
        );
        let p = read("", Some("application/json"), r#"{"message": true}"#)
            .await
            .unwrap();
        assert_eq!(p.text("message").unwrap_err().field, Some("message"));
        assert!(read("", Some("application/json"), "[1]").await.is_err());
        assert!(read("", Some("application/json"), "{").await.is_err());
    }
}
