//! The rows of the results table: which figure of which workload each row
//! shows, its label and unit, and the target of docs/performance.md it is judged against
//! ([`judge`]). Plain data and verdicts: it must never read samples or
//! format a whole table.

use crate::suite::Profile;

use super::num;

/// What a row is judged against (docs/performance.md).
#[derive(Clone, Copy)]
pub(super) enum Target {
    /// ours ≥ `haproxy` × HAProxy and, if set, ≥ `direct` × direct.
    Ratios {
        haproxy: f64,
        direct: Option<f64>,
    },
    /// ours ≤ HAProxy (latency).
    NotAboveHaproxy,
    /// ours ≤ this many units.
    AtMost(f64),
    None,
}

/// One row of the results table: one figure of one workload.
pub(super) struct Row {
    /// The workload id the figure comes from.
    pub(super) workload: String,
    /// The metric's key in the samples.
    pub(super) metric: &'static str,
    /// What the row says in the table.
    pub(super) label: String,
    /// The figure's unit.
    pub(super) unit: &'static str,
    /// What the figure is judged against.
    pub(super) target: Target,
    /// The reference ratios of docs/performance.md to direct: HAProxy / Go switchboard.
    pub(super) reference: &'static str,
}

/// Every row of the results table, in order, for `profile`'s counts.
pub(super) fn rows(profile: &Profile) -> Vec<Row> {
    let row = |workload: String, metric, label: String, unit, target, reference| Row {
        workload,
        metric,
        label,
        unit,
        target,
        reference,
    };
    let cpu = |workload: &str, metric, label: &str, unit| Row {
        workload: workload.to_string(),
        metric,
        label: label.to_string(),
        unit,
        target: Target::None,
        reference: "",
    };
    let thr = |h, d| Target::Ratios {
        haproxy: h,
        direct: Some(d),
    };
    let mut v = vec![
        row(
            "bulk-1".into(),
            "gbit_per_s",
            "bulk, 1 stream".into(),
            "Gbit/s",
            thr(1.0, 0.65),
            "0.43 / 0.61",
        ),
        row(
            "bulk-8".into(),
            "gbit_per_s",
            "bulk, 8 streams".into(),
            "Gbit/s",
            thr(1.0, 0.65),
            "0.48 / 0.61",
        ),
        cpu(
            "bulk-1",
            "cpu_ms_per_gbyte",
            "— proxy CPU per GB moved, 1 stream",
            "ms",
        ),
        cpu(
            "bulk-8",
            "cpu_ms_per_gbyte",
            "— proxy CPU per GB moved, 8 streams",
            "ms",
        ),
        row(
            "churn-1".into(),
            "conn_per_s",
            "connect + 64 B echo + close, 1 at a time".into(),
            "conn/s",
            thr(1.2, 0.6),
            "0.46 / 0.35",
        ),
        row(
            "churn-32".into(),
            "conn_per_s",
            "same, 32 concurrent".into(),
            "conn/s",
            thr(1.2, 0.6),
            "0.54 / 0.38",
        ),
        cpu(
            "churn-1",
            "cpu_us_per_conn",
            "— proxy CPU per connection, 1 at a time",
            "µs",
        ),
        cpu(
            "churn-32",
            "cpu_us_per_conn",
            "— proxy CPU per connection, 32 concurrent",
            "µs",
        ),
        row(
            "rr-16".into(),
            "req_per_s",
            "request/response, 16 connections, 64 B".into(),
            "req/s",
            Target::Ratios {
                haproxy: 1.0,
                direct: None,
            },
            "0.39 / 0.29",
        ),
        row(
            "rr-16".into(),
            "p50_us",
            "— latency p50".into(),
            "µs",
            Target::NotAboveHaproxy,
            "",
        ),
        row(
            "rr-16".into(),
            "p99_us",
            "— latency p99".into(),
            "µs",
            Target::NotAboveHaproxy,
            "",
        ),
        row(
            "rr-16".into(),
            "p999_us",
            "— latency p99.9".into(),
            "µs",
            Target::None,
            "",
        ),
        cpu("rr-16", "cpu_us_per_req", "— proxy CPU per request", "µs"),
    ];
    for &n in &profile.idle {
        v.push(row(
            format!("idle-{n}"),
            "kib_per_session",
            format!("memory per idle session, {n} sessions (Δ RSS / sessions)"),
            "KiB",
            Target::AtMost(8.0),
            "3.5 KB / 15.0 KB",
        ));
        v.push(row(
            format!("idle-{n}"),
            "rss_per_session_kib",
            format!("— whole RSS / {n} sessions"),
            "KiB",
            Target::None,
            "",
        ));
    }
    for &n in &profile.sever {
        v.push(row(
            format!("sever-{n}"),
            "last_eof_ms",
            format!("sever {n} sessions by command (last client EOF)"),
            "ms",
            Target::AtMost(200.0),
            if n == 2_000 { "127 / 106 ms" } else { "" },
        ));
    }
    if let Some(&n) = profile.sever.last() {
        v.push(row(
            format!("sever-health-{n}"),
            "last_eof_ms",
            format!("sever {n} sessions on a failed health check (from the failing answer)"),
            "ms",
            Target::AtMost(200.0),
            "",
        ));
    }
    v.push(row(
        "failover-refused".into(),
        "max_ms",
        "failover, refused connect (worst trial)".into(),
        "ms",
        Target::AtMost(100.0),
        "",
    ));
    v.push(row(
        "failover-refused".into(),
        "median_ms",
        "— median trial".into(),
        "ms",
        Target::None,
        "",
    ));
    v.push(row(
        "failover-health".into(),
        "max_ms",
        "failover, failing health endpoint (worst trial)".into(),
        "ms",
        Target::AtMost(1550.0),
        "",
    ));
    v.push(row(
        "failover-health".into(),
        "median_ms",
        "— median trial".into(),
        "ms",
        Target::None,
        "",
    ));
    v
}

/// `(target text, Some(met) or None when it cannot be judged)`.
pub(super) fn judge(
    target: Target,
    ours: Option<f64>,
    vs_haproxy: Option<f64>,
    vs_direct: Option<f64>,
    unit: &str,
) -> (String, Option<bool>) {
    match target {
        Target::Ratios { haproxy, direct } => {
            let mut text = format!("≥ {haproxy}× HAProxy");
            let mut met = vs_haproxy.map(|r| r >= haproxy);
            if let Some(d) = direct {
                text.push_str(&format!(", ≥ {d}× direct"));
                met = match (met, vs_direct.map(|r| r >= d)) {
                    (Some(a), Some(b)) => Some(a && b),
                    _ => None,
                };
            }
            (text, met)
        }
        Target::NotAboveHaproxy => ("≤ HAProxy".into(), vs_haproxy.map(|r| r <= 1.0)),
        Target::AtMost(max) => (format!("≤ {} {unit}", num(max)), ours.map(|v| v <= max)),
        Target::None => (String::new(), None),
    }
}
