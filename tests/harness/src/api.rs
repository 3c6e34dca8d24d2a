//! Talking to a [`Switchboard`]'s HTTP API: requests with the harness's
//! credentials (or bare ones, for auth tests), JSON reads, `(status, JSON)`
//! calls, `/v0/state` reads and waits, and helpers that pick fields out of
//! the JSON.
//!
//! Every credentialed request carries basic auth (`admin:<password>`) and
//! `X-Forwarded-Proto: https`, so tests keep working when auth and
//! `force_https` are enforced.

use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder};
use serde_json::Value;

use super::{Switchboard, USER};

impl Switchboard {
    /// `http://<api><path>` (`https://` when the API is served over TLS).
    pub fn api_url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.api)
    }

    /// A request to the API with the harness's credentials.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.api_url(path))
            .basic_auth(USER, Some(&self.password))
            .header("X-Forwarded-Proto", "https")
    }

    /// `GET path` with the harness's credentials.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// A request to any URL with no credentials and no forwarding headers.
    pub fn bare(&self, method: Method, url: &str) -> RequestBuilder {
        self.http.request(method, url)
    }

    /// Sends a request; returns (status, parsed JSON body or `Null`).
    pub async fn call(&self, rb: RequestBuilder) -> (u16, Value) {
        let response = rb.send().await.expect("request");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// `PATCH` with a JSON body (or none); returns status and parsed body.
    pub async fn patch(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.request(Method::PATCH, path);
        if let Some(body) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        self.call(req).await
    }

    /// `GET path` with credentials, returning the JSON body; panics unless
    /// 200.
    pub async fn json(&self, path: &str) -> Value {
        let r = self.get(path).send().await.expect("GET");
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// `GET /v0/state`, or `None` when the API does not answer 200.
    pub async fn try_state(&self) -> Option<Value> {
        let response = self.get("/v0/state").send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        serde_json::from_slice(&response.bytes().await.ok()?).ok()
    }

    /// `GET /v0/state`; panics when the API does not answer.
    pub async fn state(&self) -> Value {
        match self.try_state().await {
            Some(v) => v,
            None => panic!("GET /v0/state failed; stderr:\n{}", self.stderr()),
        }
    }

    /// The active backend's name.
    pub async fn active(&self) -> Option<String> {
        self.state().await["active"].as_str().map(str::to_string)
    }

    /// Waits until the state satisfies `pred`; returns that state.
    pub async fn wait_state(
        &self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = Instant::now();
        loop {
            if let Some(state) = self.try_state().await {
                if pred(&state) {
                    return state;
                }
                if started.elapsed() > timeout {
                    panic!(
                        "timed out after {timeout:?} waiting for: {what}\nlast state: {state:#}"
                    );
                }
            } else if started.elapsed() > timeout {
                panic!("timed out after {timeout:?} waiting for: {what} (API not answering)");
            }
            tokio::time::sleep(super::POLL).await;
        }
    }

    /// Waits until `active` is `name` (None: no active).
    pub async fn wait_active(&self, name: Option<&str>, timeout: Duration) -> Value {
        self.wait_state(timeout, &format!("active = {name:?}"), |s| {
            s["active"].as_str() == name
        })
        .await
    }
}

/// The backend named `name` in a `/v0/state` value.
pub fn backend<'a>(state: &'a Value, name: &str) -> &'a Value {
    state["backends"]
        .as_array()
        .and_then(|bs| bs.iter().find(|b| b["name"] == name))
        .unwrap_or_else(|| panic!("no backend {name} in state {state:#}"))
}

/// The proxy's open-session count of one backend (both ports).
pub fn sessions(state: &Value, name: &str) -> u64 {
    backend(state, name)["sessions"]["total"]
        .as_u64()
        .expect("sessions.total")
}

/// The keys of a JSON object, in order.
pub fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}
