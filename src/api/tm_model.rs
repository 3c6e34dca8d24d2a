//! What Traffic Monitor clients are told about each backend ("cache"):
//! available or not, on which address family, the Traffic Ops server
//! status it stands for, and the status string that says why (docs/api.md).
//!
//! Owns the rules, in this order: an operator's `disabled`/`drain` →
//! `ADMIN_DOWN`; routing off → `ADMIN_DOWN - traffic disabled by operator`;
//! monitoring paused → the frozen verdicts, `ONLINE - monitoring paused`
//! (or `OFFLINE - monitoring paused`); otherwise the probes, server status
//! `REPORTED`: `REPORTED - available`, `REPORTED - unavailable: <reason>`,
//! and with `publish = "active-only"` only the active backend is available
//! while the other healthy ones say `REPORTED - standby`. As in Traffic
//! Monitor's `health.CalcAvailability`, a family is available only when the
//! backend has an address of it (`host` an IPv6 literal: IPv6 only; an IPv4
//! literal or a host name: IPv4 only). Every view (`CrStates`, `?raw`, the
//! counts, the event log, PeerStates) applies all of these rules: a Traffic
//! Monitor peer that combines our local view optimistically must never see
//! a backend available that we would not route to. Whose health the rules
//! run on is a [`Source`]: this instance's probes, the `[coordination]`
//! leader's combined health, or another instance's published view (the
//! operator's states and flags are shared by every instance, so they come
//! from the truth either way). Pure functions of one `Truth`; nothing here
//! does I/O.

use std::net::IpAddr;
use std::time::SystemTime;

use super::rfc3339;
use switchboard_config::Publish;
use switchboard_core::bus::AdminState;
use switchboard_core::cluster::Truth;
use switchboard_core::coordination::{Decision, PeerView};

/// `lastPoll` of a backend never polled (Go's zero `time.Time`).
pub(crate) const NEVER_POLLED: &str = "0001-01-01T00:00:00Z";

/// Traffic Ops' server status a verdict stands for (`lib/go-tc`'s
/// `CacheStatus`): the first word of every status string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerStatus {
    /// The monitor's health decides.
    Reported,
    /// An operator took it out.
    AdminDown,
    /// Monitoring paused with the backend available: forced up.
    Online,
    /// Monitoring paused with the backend unavailable: forced down.
    Offline,
}

impl ServerStatus {
    /// Traffic Ops' spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ServerStatus::Reported => "REPORTED",
            ServerStatus::AdminDown => "ADMIN_DOWN",
            ServerStatus::Online => "ONLINE",
            ServerStatus::Offline => "OFFLINE",
        }
    }
}

/// The verdict on one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheVerdict {
    /// `isAvailable`.
    pub available: bool,
    /// `ipv4Available`: available and it has an IPv4 address.
    pub ipv4: bool,
    /// `ipv6Available`: available and it has an IPv6 address.
    pub ipv6: bool,
    /// The Traffic Ops server status this verdict stands for.
    pub server_status: ServerStatus,
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

/// The address families `host` has (IPv4, IPv6): an IP literal its own, a
/// host name IPv4 (Traffic Ops requires an IPv4 service address of every
/// server; an IPv6 backend is given as an IPv6 literal).
pub(crate) fn families(host: &str) -> (bool, bool) {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    match literal.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => (false, true),
        _ => (true, false),
    }
}

/// Whose health a verdict is made of.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// This instance's own probes (`?raw`, the counts, the event log).
    Local,
    /// The `[coordination]` leader's combined health (CrStates); a backend
    /// the decision lacks gets its local verdict.
    Combined(&'a Decision),
    /// Another instance's published view (PeerStates); under
    /// `active-only`, its own active is the one available.
    Peer(&'a PeerView),
}

/// Health, why, and whether `publish = "active-only"` would publish it,
/// of backend `pos` as `source` sees it.
fn health(truth: &Truth, pos: usize, source: Source<'_>) -> (bool, String, bool) {
    let b = &truth.backends[pos];
    let local = || {
        (
            b.healthy == Some(true),
            b.reason.clone(),
            truth.active == Some(pos),
        )
    };
    match source {
        Source::Local => local(),
        Source::Combined(d) => {
            d.combined
                .iter()
                .find(|c| c.name == b.name)
                .map_or_else(local, |c| {
                    let why = format!("healthy in {} of {} views", c.healthy_views, c.views);
                    (c.healthy == Some(true), why, truth.active == Some(pos))
                })
        }
        Source::Peer(v) => {
            let active = v.active.as_deref() == Some(b.name.as_str());
            match v.backends.iter().find(|p| p.name == b.name) {
                Some(p) => (p.healthy == Some(true), p.reason.clone(), active),
                None => (false, format!("not in {}'s view", v.instance), active),
            }
        }
    }
}

/// The verdict on backend `pos` under `publish`, from this instance's own
/// probes.
pub(crate) fn verdict(truth: &Truth, pos: usize, publish: Publish) -> CacheVerdict {
    verdict_of(truth, pos, publish, Source::Local)
}

/// The verdict on backend `pos` under `publish`, from `source`'s health.
pub(crate) fn verdict_of(
    truth: &Truth,
    pos: usize,
    publish: Publish,
    source: Source<'_>,
) -> CacheVerdict {
    let b = &truth.backends[pos];
    let (v4, v6) = families(&b.host);
    let verdict = |available: bool, server_status: ServerStatus, status: String| CacheVerdict {
        available,
        ipv4: available && v4,
        ipv6: available && v6,
        server_status,
        status,
    };
    let down = |text: &str, message: &str| {
        verdict(false, ServerStatus::AdminDown, with_message(text, message))
    };
    match b.admin {
        AdminState::Disabled => return down("ADMIN_DOWN - disabled by operator", &b.admin_message),
        AdminState::Drain => return down("ADMIN_DOWN - draining by operator", &b.admin_message),
        AdminState::Enabled => {}
    }
    if !truth.routing.enabled {
        return down(
            "ADMIN_DOWN - traffic disabled by operator",
            &truth.routing.message,
        );
    }
    let (healthy, reason, active) = health(truth, pos, source);
    let chosen = match publish {
        Publish::ActiveOnly => active,
        Publish::Health => healthy,
    };
    if !truth.monitoring.enabled {
        return if chosen {
            verdict(
                true,
                ServerStatus::Online,
                "ONLINE - monitoring paused".into(),
            )
        } else {
            verdict(
                false,
                ServerStatus::Offline,
                "OFFLINE - monitoring paused".into(),
            )
        };
    }
    let reported =
        |available: bool, status: String| verdict(available, ServerStatus::Reported, status);
    if chosen {
        reported(true, "REPORTED - available".into())
    } else if healthy {
        reported(false, "REPORTED - standby".into())
    } else {
        reported(false, format!("REPORTED - unavailable: {reason}"))
    }
}

/// Traffic Monitor's `cacheDownCount` rule (`datareq/cachedowncount.go`):
/// down means the monitor's health decides (`REPORTED`) and says no; an
/// operator's `ADMIN_DOWN`, a paused monitor and a healthy standby of
/// `active-only` are not "down".
pub(crate) fn is_down(truth: &Truth, pos: usize, publish: Publish) -> bool {
    verdict(truth, pos, publish).server_status == ServerStatus::Reported
        && truth.backends[pos].healthy != Some(true)
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
            verdict(&t, 0, Publish::Health).status,
            "REPORTED - unavailable: not probed yet"
        );
        assert_eq!(last_poll(&t, 0), NEVER_POLLED);
        cluster.apply_probe(0, probe(true));
        cluster.apply_probe(1, probe(true));
        cluster.apply_probe(2, probe(false));
        let t = cluster.truth();
        let v = |pos, publish| verdict(&t, pos, publish);
        assert_eq!(
            v(0, Publish::Health),
            CacheVerdict {
                available: true,
                ipv4: true,
                ipv6: false,
                server_status: ServerStatus::Reported,
                status: "REPORTED - available".into()
            }
        );
        assert_eq!(v(1, Publish::Health).status, "REPORTED - available");
        assert_eq!(
            v(2, Publish::Health).status,
            "REPORTED - unavailable: HTTP 503"
        );
        assert!(is_down(&t, 2, Publish::Health));
        let standby = v(1, Publish::ActiveOnly);
        assert_eq!(
            (standby.available, standby.status.as_str()),
            (false, "REPORTED - standby")
        );
        assert!(
            !is_down(&t, 1, Publish::ActiveOnly),
            "a standby is not down"
        );
        assert!(v(0, Publish::ActiveOnly).available);
        assert!(last_poll(&t, 0).ends_with('Z'));

        cluster
            .set_admin("db-1", AdminState::Disabled, "upgrade", "t")
            .unwrap();
        cluster.set_monitoring(false, "t").unwrap();
        let t = cluster.truth();
        let v = |pos| verdict(&t, pos, Publish::Health);
        assert_eq!(
            (v(1).available, v(1).server_status, v(1).status.as_str()),
            (
                false,
                ServerStatus::AdminDown,
                "ADMIN_DOWN - disabled by operator: upgrade"
            )
        );
        assert!(!is_down(&t, 1, Publish::Health), "ADMIN_DOWN is not down");
        assert_eq!(
            (v(0).server_status, v(0).status.as_str()),
            (ServerStatus::Online, "ONLINE - monitoring paused")
        );
        assert_eq!(
            (v(2).available, v(2).status.as_str()),
            (false, "OFFLINE - monitoring paused")
        );
        assert!(!is_down(&t, 2, Publish::Health), "OFFLINE is not down");

        cluster.set_routing(false, "maintenance", "t").unwrap();
        let t = cluster.truth();
        assert_eq!(
            verdict(&t, 0, Publish::Health).status,
            "ADMIN_DOWN - traffic disabled by operator: maintenance"
        );
        assert!(!verdict(&t, 0, Publish::Health).available);
    }

    #[test]
    fn families_follow_the_address() {
        assert_eq!(families("10.0.0.1"), (true, false));
        assert_eq!(families("db-0.example"), (true, false));
        assert_eq!(families("::1"), (false, true));
        assert_eq!(families("[2001:db8::1]"), (false, true));
        assert_eq!(families("::ffff:10.0.0.1"), (true, false));
    }
}
