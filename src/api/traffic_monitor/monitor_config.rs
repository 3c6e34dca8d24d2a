//! `/api/monitor-config` (`datareq/monitorconfig.go`): what Traffic
//! Monitor monitors, as `lib/go-tc`'s `TrafficMonitorConfigMap`; and
//! `/publish/ConfigDoc` (`datareq/configdoc.go`, `handler.OpsConfig`), which
//! `tmcheck` reads for the CDN name.
//!
//! Owns mapping switchboard's configuration onto those types: each backend
//! is a `TrafficServer` of type `DB` in the cache group named after
//! `traffic_monitor.cluster`, with one interface (its data address) and a
//! server `status` that is the Traffic Ops status its verdict stands for
//! (`REPORTED`, `ADMIN_DOWN`, `ONLINE`, `OFFLINE`); each backend has its own
//! profile carrying its check (kind, timeout, the URL without credentials
//! or query); the cluster is the one delivery service. Never shows a
//! password, a URL's user information or its query.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::super::tm_model::verdict;
use super::super::App;
use super::{CACHE_TYPE, INTERFACE};
use switchboard_config::{Check, Config};

/// A check's URL without user information, query or fragment.
fn public_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or("");
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => String::new(),
    }
}

/// A backend's check as Traffic Monitor's profile parameters
/// (`tc.TMParameters`, as jsoniter marshals it).
fn parameters(config: &Config, name: &str) -> Value {
    let check = config
        .backend_position(name)
        .map(|pos| &config.backends[pos].check);
    let (kind, url) = match check {
        Some(Check::Galera { url, .. }) => ("galera", public_url(url)),
        Some(Check::Http { url, .. }) => ("http", public_url(url)),
        Some(Check::Tcp { .. }) => ("tcp", String::new()),
        Some(Check::Mysql(_)) => ("mysql", String::new()),
        None => ("", String::new()),
    };
    json!({
        "health.connection.timeout": config.monitor.timeout.as_millis() as u64,
        "health.polling.url": url,
        "health.polling.format": "",
        "health.polling.type": kind,
        "history.count": switchboard_core::cluster::HISTORY,
        "MinFreeKbps": 0,
    })
}

/// The profile name of backend `name`.
fn profile(name: &str) -> String {
    format!("SWITCHBOARD_{name}")
}

/// `GET /api/monitor-config`.
pub(crate) async fn monitor_config(State(app): State<App>) -> Json<Value> {
    let snap = app.ctx.combiner.snapshot();
    let truth = &snap.truth;
    let config = app.ctx.config.get();
    let tm = &config.traffic_monitor;
    let mut servers = BTreeMap::new();
    let mut profiles = BTreeMap::new();
    for (pos, b) in truth.backends.iter().enumerate() {
        let v = verdict(truth, pos, tm.publish);
        servers.insert(
            b.name.clone(),
            json!({
                "cachegroup": tm.cluster,
                "fqdn": b.host,
                "hashId": b.name,
                "hostName": b.name,
                "interfaces": [{
                    "ipAddresses": [{
                        "address": b.host,
                        "gateway": null,
                        "serviceAddress": true,
                    }],
                    "maxBandwidth": null,
                    "monitor": true,
                    "mtu": null,
                    "name": INTERFACE,
                }],
                "port": b.port,
                "profile": profile(&b.name),
                "status": v.server_status.as_str(),
                "type": CACHE_TYPE,
            }),
        );
        profiles.insert(
            profile(&b.name),
            json!({
                "parameters": parameters(&config, &b.name),
                "name": profile(&b.name),
                "type": CACHE_TYPE,
            }),
        );
    }
    Json(json!({
        "TrafficServer": servers,
        "CacheGroup": {
            tm.cluster.clone(): {
                "name": tm.cluster,
                "coordinates": { "latitude": 0.0, "longitude": 0.0 },
            }
        },
        "Config": {
            "health.polling.interval": config.monitor.interval.as_millis() as u64,
        },
        "TrafficMonitor": {},
        "DeliveryService": {
            tm.cluster.clone(): {
                "xmlId": tm.cluster,
                "TotalTpsThreshold": 0,
                "status": "REPORTED",
                "TotalKbpsThreshold": 0,
                "topology": "",
                "type": "ANY_MAP",
            }
        },
        "Profile": profiles,
        "Topology": {},
    }))
}

/// `GET /publish/ConfigDoc`: `handler.OpsConfig`; `cdnName` is the CrConfig's
/// `CDN_name` (empty without one), `httpListener` the API's address. There
/// is no Traffic Ops: its URL, user and password are empty, `usingDummyTO`
/// is true.
pub(crate) async fn config_doc(State(app): State<App>) -> Json<Value> {
    let config = app.ctx.config.get();
    let served = app
        .traffic_monitor
        .crconfig
        .current(config.traffic_monitor.crconfig.as_ref())
        .await;
    let cdn = served.map_or(String::new(), |doc| doc.stats.cdn_name.clone());
    Json(json!({
        "cdnName": cdn,
        "certFile": "",
        "httpListener": config.api.listen.to_string(),
        "httpsListener": "",
        "insecure": false,
        "keyFile": "",
        "password": "",
        "url": "",
        "username": "",
        "usingDummyTO": true,
    }))
}

#[cfg(test)]
mod tests {
    use super::public_url;

    #[test]
    fn urls_lose_credentials_and_queries() {
        assert_eq!(
            public_url("http://u:pw@10.0.0.1:9200/api/v1/status?token=x#f"),
            "http://10.0.0.1:9200/api/v1/status"
        );
        assert_eq!(public_url("https://db-0:9200"), "https://db-0:9200");
        assert_eq!(public_url("nonsense"), "");
    }
}
