//! `GET /metrics` (docs/api.md): a prometheus-client registry whose one
//! collector reads the cluster truth, the session counters and the probe
//! latency histograms at scrape time.
//!
//! Owns the metric names, labels and help texts, including pxc-release's
//! `backend_sessions_total{backend="..."}` gauge with its original help
//! line; the `[coordination]` series are `metrics/coordination.rs`'s.
//! Nothing is cached between scrapes and nothing here is written by
//! the data path: a scrape is a handful of atomic loads and one text
//! encoding. It never exposes configuration values beyond backend names.

mod coordination;

use std::fmt;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::App;
use switchboard_core::bus::{AdminState, PortRole};
use switchboard_core::combiner::Combiner;
use switchboard_core::live_config::LiveConfig;

/// The content type of the OpenMetrics text format.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The collector: reads everything at scrape time.
pub(crate) struct SwitchboardCollector {
    /// The read model every series comes from (one snapshot per scrape).
    combiner: Combiner,
    /// The configuration in force: whether the standby port exists (its
    /// series are omitted otherwise) and the reload counts.
    config: LiveConfig,
}

impl fmt::Debug for SwitchboardCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SwitchboardCollector")
    }
}

/// A registry holding the switchboard collector.
pub(crate) fn registry(combiner: Combiner, config: LiveConfig) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SwitchboardCollector { combiner, config }));
    registry
}

/// `GET /metrics`.
pub(crate) async fn scrape(State(app): State<App>) -> Response {
    let mut body = String::with_capacity(8 * 1024);
    match prometheus_client::encoding::text::encode(&mut body, &app.metrics) {
        Ok(()) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "metrics encoding failed").into_response(),
    }
}

/// Shorthand for the per-metric encoder calls.
type Enc<'a> = DescriptorEncoder<'a>;

/// Writes one gauge family: `(labels, value)` rows.
fn gauges<const N: usize, V: EncodeGaugeValue + Copy + fmt::Debug>(
    enc: &mut Enc<'_>,
    name: &str,
    help: &str,
    rows: &[([(&str, &str); N], V)],
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in rows {
        ConstGauge::new(*value).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

/// Writes one counter family (`<name>_total` samples).
fn counters<const N: usize>(
    enc: &mut Enc<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    rows: &[([(&str, &str); N], u64)],
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, unit, MetricType::Counter)?;
    for (labels, value) in rows {
        ConstCounter::new(*value).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

/// Writes one unlabelled gauge.
fn gauge<V: EncodeGaugeValue + fmt::Debug>(
    enc: &mut Enc<'_>,
    name: &str,
    help: &str,
    value: V,
) -> fmt::Result {
    let m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(m)
}

/// Writes one unlabelled counter (`<name>_total`).
fn counter(enc: &mut Enc<'_>, name: &str, help: &str, value: u64) -> fmt::Result {
    let m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(m)
}

/// 1 or 0.
fn flag(b: bool) -> i64 {
    i64::from(b)
}

impl prometheus_client::collector::Collector for SwitchboardCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let snap = self.combiner.snapshot();
        let truth = &snap.truth;
        let c = &snap.counts;
        let names: Vec<&str> = truth.backends.iter().map(|b| b.name.as_str()).collect();
        let ports: &[PortRole] = if self.config.get().proxy.standby_listen.is_some() {
            &[PortRole::Active, PortRole::Standby]
        } else {
            &[PortRole::Active]
        };
        let per_port = |read: &dyn Fn(PortRole, usize) -> u64| {
            let mut rows = Vec::new();
            for (pos, name) in names.iter().enumerate() {
                for port in ports {
                    rows.push((
                        [("backend", *name), ("port", port.as_str())],
                        read(*port, pos),
                    ));
                }
            }
            rows
        };
        let per_backend = |read: &dyn Fn(usize) -> i64| {
            names
                .iter()
                .enumerate()
                .map(|(pos, name)| ([("backend", *name)], read(pos)))
                .collect::<Vec<_>>()
        };

        let sessions: Vec<_> = per_port(&|port, pos| c.sessions[pos].port(port).current)
            .into_iter()
            .map(|(l, v)| (l, v as i64))
            .collect();
        gauges(
            &mut enc,
            "switchboard_backend_sessions",
            "Open sessions per backend and proxy port",
            &sessions,
        )?;
        gauges(
            &mut enc,
            "backend_sessions_total",
            "Gauge of the current sessions from this proxy to a mysql backend",
            &per_backend(&|pos| c.sessions[pos].total() as i64),
        )?;
        let b = &truth.backends;
        gauges(
            &mut enc,
            "switchboard_backend_healthy",
            "1 if the backend's latest verdict is healthy",
            &per_backend(&|pos| flag(b[pos].healthy == Some(true))),
        )?;
        gauges(
            &mut enc,
            "switchboard_backend_active",
            "1 for the backend the active port routes to",
            &per_backend(&|pos| flag(truth.active == Some(pos))),
        )?;
        gauges(
            &mut enc,
            "switchboard_backend_standby",
            "1 for the backend the standby port routes to",
            &per_backend(&|pos| flag(truth.standby == Some(pos))),
        )?;
        gauges(
            &mut enc,
            "switchboard_backend_index",
            "The backend's election index (wsrep_local_index or config position)",
            &per_backend(&|pos| b[pos].index as i64),
        )?;
        let mut admin = Vec::new();
        for (pos, name) in names.iter().enumerate() {
            for state in [AdminState::Enabled, AdminState::Drain, AdminState::Disabled] {
                admin.push((
                    [("backend", *name), ("state", state.as_str())],
                    flag(b[pos].admin == state),
                ));
            }
        }
        gauges(
            &mut enc,
            "switchboard_backend_admin_state",
            "1 for the backend's current admin state",
            &admin,
        )?;
        gauge(
            &mut enc,
            "switchboard_routing_enabled",
            "1 while routing is on",
            flag(truth.routing.enabled),
        )?;
        gauge(
            &mut enc,
            "switchboard_monitoring_enabled",
            "1 while monitoring is on",
            flag(truth.monitoring.enabled),
        )?;
        gauge(
            &mut enc,
            "switchboard_has_active_backend",
            "1 while the active port has a backend",
            flag(truth.active.is_some()),
        )?;
        gauge(
            &mut enc,
            "switchboard_max_sessions",
            "The session limit in force (proxy.max_sessions, or what the open-file limit allows)",
            c.max_sessions as i64,
        )?;

        counter(
            &mut enc,
            "switchboard_failovers",
            "Times the active port moved from one backend to another",
            truth.failovers,
        )?;
        counters(
            &mut enc,
            "switchboard_sessions_opened",
            "Sessions opened per backend and proxy port",
            None,
            &per_port(&|port, pos| c.sessions[pos].port(port).opened),
        )?;
        counters(
            &mut enc,
            "switchboard_sessions_severed",
            "Sessions severed per backend and proxy port",
            None,
            &per_port(&|port, pos| c.sessions[pos].port(port).severed),
        )?;
        let outcomes: Vec<_> = c
            .outcomes
            .iter()
            .map(|(o, n)| ([("outcome", o.as_str())], *n))
            .collect();
        counters(
            &mut enc,
            "switchboard_connections",
            "Accepted connections by outcome",
            None,
            &outcomes,
        )?;
        counters(
            &mut enc,
            "switchboard_relayed",
            "Bytes relayed by finished sessions, up = client to backend, down = backend to client",
            Some(&Unit::Bytes),
            &[
                ([("direction", "up")], c.bytes_up),
                ([("direction", "down")], c.bytes_down),
            ],
        )?;

        let mut m = enc.encode_descriptor(
            "switchboard_probe_latency",
            "Health probe latency per backend",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (b, name) in truth.backends.iter().zip(&names) {
            let s = b.handles.latency.snapshot();
            let labels = [("backend", *name)];
            m.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
                s.sum_seconds,
                s.count,
                &s.buckets,
                None,
            )?;
        }

        if let Some(status) = &truth.coordination {
            coordination::encode(&mut enc, status)?;
        }

        let (applied, refused) = self.config.reloads();
        counters(
            &mut enc,
            "switchboard_config_reloads",
            "Configuration reloads by outcome (applied, or refused with nothing changed)",
            None,
            &[
                ([("outcome", "applied")], applied),
                ([("outcome", "refused")], refused),
            ],
        )?;

        let uptime = SystemTime::now()
            .duration_since(truth.started_at)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        gauge(
            &mut enc,
            "switchboard_uptime_seconds",
            "Seconds since switchboard started",
            uptime,
        )?;
        gauges(
            &mut enc,
            "switchboard_build_info",
            "Always 1, labelled with the version",
            &[([("version", env!("CARGO_PKG_VERSION"))], 1i64)],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::context_and_counters;

    #[test]
    fn encodes_every_family_with_pxc_gauge() {
        let (ctx, counters) = context_and_counters(2);
        let b1 = ctx.cluster.truth().backends[1].handles.clone();
        counters.open(b1, PortRole::Active).mark_severed();
        let registry = registry(ctx.combiner.clone(), ctx.config.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("# HELP backend_sessions_total Gauge of the current sessions from this proxy to a mysql backend\n"));
        assert!(text.contains("# TYPE backend_sessions_total gauge\n"));
        assert!(
            text.contains("backend_sessions_total{backend=\"db-0\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("switchboard_sessions_severed_total{backend=\"db-1\",port=\"active\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "switchboard_probe_latency_seconds_bucket{le=\"+Inf\",backend=\"db-0\"} 0"
            ) || text.contains(
                "switchboard_probe_latency_seconds_bucket{backend=\"db-0\",le=\"+Inf\"} 0"
            ),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
