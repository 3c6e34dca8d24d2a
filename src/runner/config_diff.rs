//! What a reload changes, in words: the one-line summary of the
//! `config_reloaded` event and the refusals of settings that only a
//! restart can change.
//!
//! Compares two validated configurations field by field. Must never put a
//! secret in a line: a changed password reads "credentials changed".

use switchboard_config::{BackendConfig, Config, CoordinationConfig};

/// Settings a running process cannot change: the API's own listeners (the
/// request asking for the reload arrives on one of them), the state
/// file (operator state lives in memory and is written there) and every
/// `[coordination]` key (the etcd session, lease and election are set up
/// once, at start). One problem line per changed setting; empty when the
/// reload may proceed.
pub(super) fn restart_only(old: &Config, new: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |path: &str, before: String, after: String| {
        if before != after {
            problems.push(format!(
                "{path}: changing it needs a restart (running with {before}, the file says {after})"
            ));
        }
    };
    let (a, b) = (&old.api, &new.api);
    check("api.listen", a.listen.to_string(), b.listen.to_string());
    check(
        "api.health_listen",
        show(&a.health_listen),
        show(&b.health_listen),
    );
    check(
        "api.metrics_listen",
        show(&a.metrics_listen),
        show(&b.metrics_listen),
    );
    check(
        "api.aggregator_listen",
        show(&a.aggregator_listen),
        show(&b.aggregator_listen),
    );
    check(
        "state.file",
        show(&old.state.file.as_ref().map(|p| p.display())),
        show(&new.state.file.as_ref().map(|p| p.display())),
    );
    if old.coordination != new.coordination {
        problems.push(format!(
            "coordination: changing it needs a restart ({})",
            coordination_change(&old.coordination, &new.coordination)
        ));
    }
    problems
}

/// Which `[coordination]` settings differ, by name only: the settings
/// hold the etcd password, and an endpoint may carry credentials.
fn coordination_change(old: &CoordinationConfig, new: &CoordinationConfig) -> String {
    let kind = |c: &CoordinationConfig| if c.etcd().is_some() { "etcd" } else { "none" };
    let (Some(a), Some(b)) = (old.etcd(), new.etcd()) else {
        return format!(
            "running with kind = \"{}\", the file says kind = \"{}\"",
            kind(old),
            kind(new)
        );
    };
    let changed = [
        ("endpoints", a.endpoints != b.endpoints),
        ("prefix", a.prefix != b.prefix),
        ("instance", a.instance != b.instance),
        ("lease_ttl", a.lease_ttl != b.lease_ttl),
        ("combine", a.combine != b.combine),
        (
            "on_coordinator_lost",
            a.on_coordinator_lost != b.on_coordinator_lost,
        ),
        ("ca/cert/key", a.tls != b.tls),
        (
            "user/password",
            (&a.user, &a.password) != (&b.user, &b.password),
        ),
    ];
    let names: Vec<String> = changed
        .iter()
        .filter(|(_, differs)| *differs)
        .map(|(name, _)| format!("coordination.{name}"))
        .collect();
    format!("the file changes {}", names.join(", "))
}

/// `none` or the value.
fn show<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or("none".into(), |v| v.to_string())
}

/// One line: every backend added, removed or changed and every section
/// whose settings changed; "no changes" when the file says what is running.
pub(super) fn summary(old: &Config, new: &Config) -> String {
    let mut parts = Vec::new();
    for b in &new.backends {
        match old.backends.iter().find(|o| o.name == b.name) {
            None => parts.push(format!("added {}", b.name)),
            Some(o) if (&o.host, o.port) != (&b.host, b.port) => parts.push(format!(
                "{} moved {}:{} -> {}:{}",
                b.name, o.host, o.port, b.host, b.port
            )),
            Some(o) if !same_backend(o, b) => parts.push(format!("{} changed", b.name)),
            Some(_) => {}
        }
    }
    for o in &old.backends {
        if !new.backends.iter().any(|b| b.name == o.name) {
            parts.push(format!("removed {}", o.name));
        }
    }
    let order = |c: &Config| {
        c.backends
            .iter()
            .map(|b| b.name.clone())
            .collect::<Vec<_>>()
    };
    let mut kept_old = order(old);
    kept_old.retain(|n| new.backends.iter().any(|b| &b.name == n));
    let mut kept_new = order(new);
    kept_new.retain(|n| old.backends.iter().any(|b| &b.name == n));
    if kept_old != kept_new {
        parts.push("backend order changed".into());
    }
    let (m, n) = (&old.monitor, &new.monitor);
    let mut monitor = Vec::new();
    if m.interval != n.interval {
        monitor.push(format!("interval {:?} -> {:?}", m.interval, n.interval));
    }
    if m.timeout != n.timeout {
        monitor.push(format!("timeout {:?} -> {:?}", m.timeout, n.timeout));
    }
    if (m.rise, m.fall) != (n.rise, n.fall) {
        monitor.push(format!(
            "rise/fall {}/{} -> {}/{}",
            m.rise, m.fall, n.rise, n.fall
        ));
    }
    if (m.failback, m.failback_after) != (n.failback, n.failback_after) {
        monitor.push("failback changed".into());
    }
    if !monitor.is_empty() {
        parts.push(format!("monitor {}", monitor.join(", ")));
    }
    if format!("{:?}", old.proxy) != format!("{:?}", new.proxy) {
        parts.push("proxy settings changed".into());
    }
    if old.api.username != new.api.username
        || old.api.password.expose() != new.api.password.expose()
    {
        parts.push("API credentials changed".into());
    }
    if format!("{:?}", old.api) != format!("{:?}", new.api) {
        parts.push("API settings changed".into());
    }
    if format!("{:?}", old.traffic_monitor) != format!("{:?}", new.traffic_monitor) {
        parts.push("traffic_monitor settings changed".into());
    }
    if old.log != new.log {
        parts.push(format!(
            "log level {} -> {}",
            old.log.level.as_deref().unwrap_or("(flag)"),
            new.log.level.as_deref().unwrap_or("(flag)")
        ));
    }
    if parts.is_empty() {
        "no changes".into()
    } else {
        parts.join("; ")
    }
}

/// Same check and connection settings (the Debug form redacts secrets, so
/// a changed check password alone reads as unchanged here; it still takes
/// effect, with the next probe).
fn same_backend(a: &BackendConfig, b: &BackendConfig) -> bool {
    format!("{a:?}") == format!("{b:?}")
}
