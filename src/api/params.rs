//! The parameters of a control request (PATCH), wherever the client put
//! them: the query string, a form body (`application/x-www-form-urlencoded`)
//! or a JSON object body (docs/api.md).
//!
//! Owns the merge rule (a body value wins over the same name in the query
//! string, and the first of a repeated name wins, as Go's
//! `Request.FormValue` does), the rule that every value given must be valid
//! wherever it is (an invalid query value is refused even when the body
//! overrides it, so a client's mistake is never silently ignored), and the
//! typing of values: JSON may carry real booleans, strings or numbers;
//! everything else is text and booleans are read with Go's spellings. It
//! never logs a value and never decides what a parameter means: the
//! handlers do.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{header, HeaderMap, Uri};

use super::bool_param::{parse_go_bool, SPELLINGS};
use super::error::{read_body, ApiError};

/// One parameter's value as it arrived.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    /// From the query string, a form, or a JSON string.
    Text(String),
    /// A JSON number, as written: a flag may be `1` or `0`, a text
    /// parameter must be a string.
    Number(String),
    /// A JSON boolean.
    Bool(bool),
    /// A JSON array or object: never valid for any parameter.
    Invalid(&'static str),
}

/// The parameters of one request: every value of every name, the body's
/// first (in their order), then the query string's.
#[derive(Debug, Default)]
pub(crate) struct Params {
    values: HashMap<String, Vec<Value>>,
}

impl Params {
    /// Reads the query string and the body (capped at 64 KiB, 413 beyond).
    pub(crate) async fn read(
        uri: &Uri,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<Params, ApiError> {
        let body = read_body(body).await?;
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        Params::parse(uri.query(), content_type, &body)
    }

    /// The parameters of a query string, a `Content-Type` value and a body
    /// already read: the whole parser but the reading, so that the fuzz
    /// targets run it (through [`parse_control_params`]).
    fn parse(
        query: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Params, ApiError> {
        let mut params = Params::default();
        if !body.iter().all(u8::is_ascii_whitespace) {
            params.add_body(content_type, body)?;
        }
        // After the body's: the first value of a name wins.
        if let Some(query) = query {
            params.add_form(query.as_bytes());
        }
        Ok(params)
    }

    /// Adds the values of a non-empty body, read as `content_type` says.
    fn add_body(&mut self, content_type: Option<&str>, body: &[u8]) -> Result<(), ApiError> {
        let content_type = content_type.map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
        match content_type.as_deref() {
            Some(t) if t == "application/json" || t.ends_with("+json") => self.add_json(body),
            Some("application/x-www-form-urlencoded") | Some("text/plain") => {
                self.add_form(body);
                Ok(())
            }
            Some(other) => Err(ApiError::bad_request(format!(
                "unsupported body type {other}; send a query string, a form or a JSON object"
            ))),
            None if body.trim_ascii_start().starts_with(b"{") => self.add_json(body),
            None => {
                self.add_form(body);
                Ok(())
            }
        }
    }

    /// Adds one value of `name` after those already held.
    fn push(&mut self, name: String, value: Value) {
        self.values.entry(name).or_default().push(value);
    }

    fn add_form(&mut self, form: &[u8]) {
        for (name, value) in form_urlencoded::parse(form) {
            self.push(name.into_owned(), Value::Text(value.into_owned()));
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
                serde_json::Value::Number(n) => Value::Number(n.to_string()),
                serde_json::Value::Array(_) => Value::Invalid("an array"),
                serde_json::Value::Object(_) => Value::Invalid("an object"),
            };
            self.push(name, value);
        }
        Ok(())
    }

    /// Every value of `name`, the winning one first.
    fn all(&self, name: &str) -> &[Value] {
        self.values.get(name).map_or(&[], Vec::as_slice)
    }

    /// A text parameter (`message`, `state`); `None` when absent. Every
    /// value given must be text; the first wins.
    pub(crate) fn text(&self, name: &'static str) -> Result<Option<&str>, ApiError> {
        let mut first = None;
        for value in self.all(name) {
            let text = match value {
                Value::Text(s) => s.as_str(),
                Value::Bool(_) => {
                    return Err(ApiError::bad_field(
                        name,
                        format!("{name} must be a string"),
                    ))
                }
                Value::Number(_) => {
                    return Err(ApiError::bad_field(
                        name,
                        format!("{name} must be a string, not a number"),
                    ))
                }
                Value::Invalid(what) => {
                    return Err(ApiError::bad_field(
                        name,
                        format!("{name} must be a string, not {what}"),
                    ))
                }
            };
            first = first.or(Some(text));
        }
        Ok(first)
    }

    /// A text parameter every value of which must pass `valid` (described
    /// as `allowed` in the 400); the first wins. `None` when absent.
    pub(crate) fn choice(
        &self,
        name: &'static str,
        allowed: &str,
        valid: impl Fn(&str) -> bool,
    ) -> Result<Option<&str>, ApiError> {
        let winner = self.text(name)?;
        for value in self.all(name) {
            if let Value::Text(s) = value {
                if !valid(s) {
                    return Err(ApiError::bad_field(
                        name,
                        format!("{name} must be {allowed}; found {s:?}"),
                    ));
                }
            }
        }
        Ok(winner)
    }

    /// A boolean parameter in Go's spellings or a JSON boolean; `None` when
    /// absent. Every value given must be a boolean; the first wins.
    pub(crate) fn flag(&self, name: &'static str) -> Result<Option<bool>, ApiError> {
        let bad = |found: &str| {
            ApiError::bad_field(
                name,
                format!("{name} must be a boolean ({SPELLINGS}); found {found}"),
            )
        };
        let mut first = None;
        for value in self.all(name) {
            let flag = match value {
                Value::Bool(b) => *b,
                Value::Text(s) | Value::Number(s) => {
                    parse_go_bool(s).ok_or_else(|| bad(&format!("{s:?}")))?
                }
                Value::Invalid(what) => return Err(bad(what)),
            };
            first = first.or(Some(flag));
        }
        Ok(first)
    }
}

/// Every control parameter a PATCH handler reads (`trafficEnabled`,
/// `monitoringEnabled`, `message`, `state`), parsed from a raw query string,
/// `Content-Type` value and body exactly as the handlers get them: the
/// present ones with their typed value (`"true"`/`"false"` for the flags),
/// or the message of the 400 the PATCH would answer. Public so that the
/// fuzz targets (`fuzz/`) run the real parser; the handlers use [`Params`].
pub fn parse_control_params(
    query: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<(&'static str, String)>, String> {
    let params = Params::parse(query, content_type, body).map_err(|e| e.error)?;
    let mut found = Vec::new();
    for name in ["trafficEnabled", "monitoringEnabled"] {
        if let Some(value) = params.flag(name).map_err(|e| e.error)? {
            found.push((name, value.to_string()));
        }
    }
    if let Some(value) = params.text("message").map_err(|e| e.error)? {
        found.push(("message", value.to_string()));
    }
    let state = params
        .choice("state", "enabled, drain or disabled", |s| {
            switchboard_core::bus::AdminState::parse(s).is_some()
        })
        .map_err(|e| e.error)?;
    if let Some(value) = state {
        found.push(("state", value.to_string()));
    }
    Ok(found)
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
        let p = read(
            "",
            Some("application/json"),
            r#"{"message": 0, "trafficEnabled": 1}"#,
        )
        .await
        .unwrap();
        assert_eq!(
            p.text("message").unwrap_err().error,
            "message must be a string, not a number"
        );
        assert_eq!(p.flag("trafficEnabled").unwrap(), Some(true));
        assert!(read("", Some("application/json"), "[1]").await.is_err());
        assert!(read("", Some("application/json"), "{").await.is_err());
    }

    /// The public entry the fuzz target `patch_params` (fuzz/) drives: the
    /// same parser as the handlers, typed values or the 400's message.
    #[test]
    fn parse_control_params_reads_what_the_handlers_read() {
        assert_eq!(
            parse_control_params(
                Some("trafficEnabled=T&message=q"),
                Some("application/x-www-form-urlencoded"),
                b"message=body+wins&state=drain&other=x",
            ),
            Ok(vec![
                ("trafficEnabled", "true".to_string()),
                ("message", "body wins".to_string()),
                ("state", "drain".to_string()),
            ])
        );
        assert_eq!(
            parse_control_params(None, None, br#" {"monitoringEnabled": false}"#),
            Ok(vec![("monitoringEnabled", "false".to_string())])
        );
        assert!(parse_control_params(None, Some("application/json"), b"{")
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(parse_control_params(None, Some("application/xml"), b"<a/>")
            .unwrap_err()
            .contains("unsupported body type"));
        assert!(parse_control_params(Some("trafficEnabled=yes"), None, b"")
            .unwrap_err()
            .contains("trafficEnabled"));
        // Invalid UTF-8 in a form is replaced, never a panic.
        assert_eq!(
            parse_control_params(None, None, b"message=%FF%FE\xff"),
            Ok(vec![("message", "\u{fffd}\u{fffd}\u{fffd}".to_string())])
        );
    }

    #[tokio::test]
    async fn every_value_must_be_valid_and_the_first_of_the_body_wins() {
        // An invalid query value is refused even though the body overrides it.
        let p = read(
            "trafficEnabled=yes",
            Some("application/json"),
            r#"{"trafficEnabled": true}"#,
        )
        .await
        .unwrap();
        assert_eq!(
            p.flag("trafficEnabled").unwrap_err().field,
            Some("trafficEnabled")
        );
        let valid = |s: &str| s == "drain" || s == "enabled";
        let p = read("state=sleep", None, "state=drain").await.unwrap();
        assert_eq!(
            p.choice("state", "drain or enabled", valid)
                .unwrap_err()
                .error,
            "state must be drain or enabled; found \"sleep\""
        );
        // Repeated names: Go's FormValue takes the first, the body's before the query's.
        let p = read("state=enabled&state=drain", None, "").await.unwrap();
        assert_eq!(p.choice("state", "x", valid).unwrap(), Some("enabled"));
        let p = read("state=enabled", None, "state=drain").await.unwrap();
        assert_eq!(p.choice("state", "x", valid).unwrap(), Some("drain"));
        let p = read("message=q", None, "message=b1&message=b2")
            .await
            .unwrap();
        assert_eq!(p.text("message").unwrap(), Some("b1"));
    }
}
