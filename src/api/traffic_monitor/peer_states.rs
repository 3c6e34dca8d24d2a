//! `/publish/PeerStates` (`traffic_monitor/datareq/peerstate.go`,
//! `APIPeerStates`): what every other live `[coordination]` instance
//! publishes, in the shape Traffic Monitor serves its peers' states and
//! `tmclient.PeerStates` decodes: `pp` (the query, as Traffic Monitor
//! echoes it), `date` (`Mon Jan 02 15:04:05 UTC 2006`) and `peers`: per
//! instance, per cache, a one-element list `[{"value", "ipv4Available",
//! "ipv6Available"}]`.
//!
//! Owns that shape. Each peer's availability is `tm_model`'s verdict run
//! on that instance's published view (its health, its active under
//! `publish = "active-only"`), with the operator's states and flags from
//! the truth, since they are shared by every instance. This instance is
//! never listed (Traffic Monitor does not list itself); alone, `peers` is
//! `{}`. Instances and caches are in name order. Reads one snapshot; never
//! fails.

use std::collections::BTreeMap;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use serde::Serialize;
use time::OffsetDateTime;

use super::super::tm_model::{verdict_of, Source};
use super::super::App;

/// One cache in one peer's view (`datareq.CacheState`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PeerCacheState {
    /// Available in that peer's view (Traffic Monitor names it `value`).
    value: bool,
    /// Available over IPv4.
    ipv4_available: bool,
    /// Available over IPv6.
    ipv6_available: bool,
}

/// The document (`datareq.APIPeerStates`, `CommonAPIData` first).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PeerStates {
    /// The query parameters, as Traffic Monitor's `ParametersStr` writes them.
    pp: String,
    /// When it was answered, in Traffic Monitor 1.0's date format.
    date: String,
    /// Instance → cache → `[state]`.
    peers: BTreeMap<String, BTreeMap<String, [PeerCacheState; 1]>>,
}

/// `GET /publish/PeerStates`.
pub(crate) async fn peer_states(State(app): State<App>, uri: Uri) -> Json<PeerStates> {
    let snap = app.ctx.combiner.snapshot();
    let truth = &snap.truth;
    let publish = app.ctx.config.get().traffic_monitor.publish;
    let mut peers = BTreeMap::new();
    if let Some(status) = &truth.coordination {
        for view in status
            .views
            .iter()
            .filter(|v| v.instance != status.instance)
        {
            let caches = truth
                .backends
                .iter()
                .enumerate()
                .map(|(pos, b)| {
                    let v = verdict_of(truth, pos, publish, Source::Peer(view));
                    let state = PeerCacheState {
                        value: v.available,
                        ipv4_available: v.ipv4,
                        ipv6_available: v.ipv6,
                    };
                    (b.name.clone(), [state])
                })
                .collect();
            peers.insert(view.instance.clone(), caches);
        }
    }
    Json(PeerStates {
        pp: parameters(&uri),
        date: date(SystemTime::now()),
        peers,
    })
}

/// `srvhttp.ParametersStr`: `name=[value]` for every query parameter,
/// joined by `, ` (in the query's order; Go's map order is random).
fn parameters(uri: &Uri) -> String {
    let Some(query) = uri.query() else {
        return String::new();
    };
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| format!("{k}=[{v}]"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `srvhttp.DateStr`: `Mon Jan 02 15:04:05 UTC 2006`.
fn date(t: SystemTime) -> String {
    let t = OffsetDateTime::from(t);
    let short = |s: String| s.chars().take(3).collect::<String>();
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        short(t.weekday().to_string()),
        short(t.month().to_string()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.year()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_and_parameters_read_as_traffic_monitor_writes_them() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_136_214_245);
        assert_eq!(date(t), "Mon Jan 02 15:04:05 UTC 2006");
        let uri: Uri = "/publish/PeerStates?hc=1&peers=a%20b".parse().unwrap();
        assert_eq!(parameters(&uri), "hc=[1], peers=[a b]");
        assert_eq!(parameters(&"/publish/PeerStates".parse().unwrap()), "");
    }
}
