//! What Traffic Monitor clients are told about each backend ("cache"):
//! available or not, and the status string that says why (docs/api.md).
//!
//! Owns the rules, in this order: an operator's `disabled`/`drain` →
//! `ADMIN_DOWN`; routing off → `ADMIN_DOWN - traffic disabled by operator`;
//! monitoring paused → the frozen verdicts, `ONLINE - monitoring paused`
//! (or `OFFLINE - monitoring paused`); otherwise the probes:
//! `REPORTED - available`, `REPORTED - unavailable: <reason>`, and with
//! `publish = "active-only"` only the active backend is available while the
//! other healthy ones say `REPORTED - standby`. The `raw` view is the
//! monitor's alone: health and pause only, no operator or publish rule.
//! Pure functions of one `Truth`; nothing here does I/O.

use std::time::SystemTime;

use super::rfc3339;
use switchboard_config::Publish;
use switchboard_core::bus::AdminState;
use switchboard_core::cluster::Truth;

/// `lastPoll` of a backend never polled (Go's zero `time.Time`).
pub(crate) const NEVER_POLLED: &str = "0001-01-01T00:00:00Z";

/// The verdict on one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheVerdict {
    /// `isAvailable` (and both address families).
    pub available: bool,
    /// The status string that says why.
    pub status: String,
}

/// `text` with `: message` appended when the message is not empty.
fn with_message(text: &str, message: &str) -> String {
    if message.is_empty() {
        text.to_string()
    } else {
        format!("{text}: {message}")
    }
}

/// The verdict on backend `pos` under `publish`; `raw` ignores operators.
pub(crate) fn verdict(truth: &Truth, pos: usize, publish: Publish, raw: bool) -> CacheVerdict {
    let b = &truth.backends[pos];
    let verdict = |available: bool, status: String| CacheVerdict { available, status };
    if !raw {
        match b.admin {
            AdminState::Disabled => {
                return verdict(
                    false,
                    with_message("ADMIN_DOWN - disabled by operator", &b.admin_message),
                )
            }
            AdminState::Drain => {
                return verdict(
                    false,
                    with_message("ADMIN_DOWN - draining by operator", &b.admin_message),
                )
            }
            AdminState::Enabled => {}
        }
        if !truth.routing.enabled {
            return verdict(
                false,
                with_message(
                    "ADMIN_DOWN - traffic disabled by operator",
                    &truth.routing.message,
                ),
            );
        }
    }
    let healthy = b.healthy == Some(true);
    let chosen = match (raw, publish) {
        (false, Publish::ActiveOnly) => truth.active == Some(pos),
        _ => healthy,
    };
    if !truth.monitoring.enabled {
        let status = if chosen {
            "ONLINE - monitoring paused"
        } else {
            "OFFLINE - monitoring paused"
        };
        return verdict(chosen, status.to_string());
    }
    if chosen {
        verdict(true, "REPORTED - available".into())
    } else if healthy {
        verdict(false, "REPORTED - standby".into())
    } else {
        verdict(false, format!("REPORTED - unavailable: {}", b.reason))
    }
}

/// `lastPoll`: the latest probe, RFC 3339 UTC with nanoseconds.
pub(crate) fn last_poll(truth: &Truth, pos: usize) -> String {
    truth.backends[pos]
        .last_check
        .as_ref()
        .map_or_else(|| NEVER_POLLED.to_string(), |c| rfc3339::format(c.at))
}

/// Seconds since the Unix epoch (Traffic Monitor's event `time`).
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::config;
    use std::time::Duration;
    use switchboard_core::bus::Bus;
    use switchboard_core::cluster::{Cluster, OperatorState, ProbeResult};

    fn probe(ok: bool) -> ProbeResult {
        ProbeResult {
            ok,
            index: None,
            reason: if ok {
                "healthy: true".into()
            } else {
                "HTTP 503".into()
            },
            latency: Duration::from_millis(1),
            galera: None,
        }
    }

    #[test]
    fn statuses_follow_the_rules() {
        let cluster = Cluster::new(&config(3), &OperatorState::default(), Bus::new(16, 16));
        let t = cluster.truth();
        assert_eq!(
            verdict(&t, 0, Publish::Health, false).status,
            "REPORTED - unavailable: not probed yet"
        );
        assert_eq!(last_poll(&t, 0), NEVER_POLLED);
        cluster.apply_probe(0, probe(true));
        cluster.apply_probe(1, probe(true));
        cluster.apply_probe(2, probe(false));
        let t = cluster.truth();
        let v = |pos, publish, raw| verdict(&t, pos, publish, raw);
        assert_eq!(
            v(0, Publish::Health, false),
            CacheVerdict {
                available: true,
                status: "REPORTED - available".into()
            }
        );
        assert_eq!(v(1, Publish::Health, false).status, "REPORTED - available");
        assert_eq!(
            v(2, Publish::Health, false).status,
            "REPORTED - unavailable: HTTP 503"
        );
        assert_eq!(
            v(1, Publish::ActiveOnly, false),
            CacheVerdict {
                available: false,
                status: "REPORTED - standby".into()
            }
        );
        assert!(v(0, Publish::ActiveOnly, false).available);
        assert!(last_poll(&t, 0).ends_with('Z'));

        cluster
            .set_admin("db-1", AdminState::Disabled, "upgrade", "t")
            .unwrap();
        cluster.set_monitoring(false, "t").unwrap();
        let t = cluster.truth();
        let v = |pos, publish, raw| verdict(&t, pos, publish, raw);
        assert_eq!(
            v(1, Publish::Health, false).status,
            "ADMIN_DOWN - disabled by operator: upgrade"
        );
        assert_eq!(
            v(1, Publish::Health, true).status,
            "ONLINE - monitoring paused"
        );
        assert_eq!(
            v(0, Publish::Health, false).status,
            "ONLINE - monitoring paused"
        );
        assert_eq!(
            v(2, Publish::Health, false).status,
            "OFFLINE - monitoring paused"
        );

        cluster.set_routing(false, "maintenance", "t").unwrap();
        let t = cluster.truth();
        assert_eq!(
            verdict(&t, 0, Publish::Health, false).status,
            "ADMIN_DOWN - traffic disabled by operator: maintenance"
        );
        assert!(verdict(&t, 0, Publish::Health, true).available);
    }
}
