//! What the tests read from an instance's API: its `coordination` state
//! (and waits on it), its events, its metrics, any JSON read. Reads only;
//! a read of an instance that does not answer is `None`, never a guess.

use std::time::Duration;

use serde_json::Value;
use switchboard_harness::{prom, Switchboard};

use crate::scenario::Scenario;
use crate::INSTANCES;

impl Scenario {
    /// `GET /v0/state`'s `coordination` of instance `i` (`None` when its
    /// API does not answer).
    pub(crate) async fn coordination(&self, i: usize) -> Option<Value> {
        Some(self.sbs[i].try_state().await?["coordination"].clone())
    }

    /// Waits until instance `i`'s coordination satisfies `pred`.
    pub(crate) async fn wait_coordination(
        &self,
        i: usize,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let what = format!("{}: {what}", INSTANCES[i]);
        self.sbs[i]
            .wait_state(timeout, &what, |s| pred(&s["coordination"]))
            .await["coordination"]
            .clone()
    }

    /// The newest event index of instance `i` (0 before any).
    pub(crate) async fn last_event(&self, i: usize) -> u64 {
        self.sbs[i].json("/v0/events?since=0").await["lastIndex"]
            .as_u64()
            .unwrap_or(0)
    }

    /// Waits until instance `i` has an event of `kind` after index `since`.
    pub(crate) async fn wait_event(
        &self,
        i: usize,
        since: u64,
        kind: &str,
        timeout: Duration,
    ) -> Value {
        let what = format!("a {kind} event on {}", INSTANCES[i]);
        switchboard_harness::wait_for(timeout, &what, || async {
            let answer = try_json(&self.sbs[i], &format!("/v0/events?since={since}")).await?;
            answer["events"]
                .as_array()?
                .iter()
                .find(|e| e["type"] == kind)
                .cloned()
        })
        .await
    }

    /// The value of the sample `name` (no labels) in instance `i`'s
    /// `/metrics`.
    pub(crate) async fn metric(&self, i: usize, name: &str) -> f64 {
        let text = self.sbs[i]
            .get("/metrics")
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("the metrics text");
        let exposition = prom::parse(&text).unwrap_or_else(|e| panic!("bad /metrics: {e}"));
        exposition.value(name, &[])
    }
}

/// `GET path` as JSON, `None` when the API does not answer 200 with JSON.
pub(crate) async fn try_json(sb: &Switchboard, path: &str) -> Option<Value> {
    let response = sb.get(path).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    serde_json::from_slice(&response.bytes().await.ok()?).ok()
}
