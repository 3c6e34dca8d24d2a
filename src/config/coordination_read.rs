//! Reading `[coordination]` of the native format into
//! [`CoordinationConfig`] (docs/configuration.md, `[coordination]`).
//!
//! Owns the rules of each key (see `coordination.rs` for the types): the
//! keys `kind = "none"` refuses, the `state.file` conflict of `kind =
//! "etcd"`, the prefix, the instance name and its host-name default, the
//! lease in whole seconds, TLS files that must exist (never parsed here),
//! and a password only with a user. Every problem is recorded with its
//! path; it must never put the password into a message.

use std::path::PathBuf;
use std::time::Duration;

use super::coordination::{
    Combine, CoordinationConfig, CoordinationKind, EtcdClientCert, EtcdCoordination, EtcdTls,
    OnCoordinatorLost, COORDINATION_KEYS, DEFAULT_ETCD_PREFIX, DEFAULT_LEASE_TTL,
    ETCD_PASSWORD_ENV,
};
use super::coordination_endpoints::{read_endpoints, Scheme};
use super::native::{read_password, text};
use super::tree::{Field, Reader};
use super::{parse_duration, Problems, Secret, StateConfig};

/// The shortest lease, in seconds: etcd raises a shorter one to its own
/// minimum (1.5 × its election timeout, 1.5 s by default) without saying so.
const MIN_LEASE_SECS: u64 = 2;
/// The longest lease, in seconds: every failover after a lost leader or
/// instance waits up to this long, so more is a typo.
const MAX_LEASE_SECS: u64 = 60;
/// The longest instance name (a DNS label's limit: names are host names).
const MAX_INSTANCE_LEN: usize = 63;
/// Where Linux exposes the host name, the default instance name.
const HOSTNAME_FILE: &str = "/proc/sys/kernel/hostname";

/// The host name (the default instance name), trimmed; the error says why
/// it cannot be had.
pub(crate) fn host_name() -> Result<String, String> {
    let text = std::fs::read_to_string(HOSTNAME_FILE)
        .map_err(|e| format!("cannot read {HOSTNAME_FILE}: {}", e.kind()))?;
    match text.trim() {
        "" => Err(format!("{HOSTNAME_FILE} is empty")),
        name => Ok(name.to_string()),
    }
}

/// Reads `[coordination]` (`r`); with `kind = "etcd"`, a `state.file` in
/// `state` is a problem too. `host_name` supplies the default instance.
/// Anything wrong goes to `p` and the result is then the default.
pub(crate) fn read_coordination(
    r: &Reader<'_>,
    state: &StateConfig,
    env: &dyn Fn(&str) -> Option<String>,
    host_name: &dyn Fn() -> Result<String, String>,
    p: &mut Problems,
) -> CoordinationConfig {
    r.deny_unknown(COORDINATION_KEYS, p);
    let kind = r
        .str("kind", p)
        .check(&r.path("kind"), p, |s| match s.as_str() {
            "none" => Ok(false),
            "etcd" => Ok(true),
            other => Err(format!("must be \"none\" or \"etcd\" (found {other:?})")),
        });
    let etcd = match kind {
        // Which keys apply is unknown: the kind's own problem is enough.
        Field::Bad => None,
        Field::Missing | Field::Got(false) => {
            let why = match kind {
                Field::Missing => "coordination.kind is not set, so \"none\"",
                _ => "coordination.kind is \"none\"",
            };
            deny_etcd_keys(r, why, p);
            None
        }
        Field::Got(true) => {
            if state.file.is_some() {
                p.push(
                    "state.file",
                    "operator state lives in etcd with coordination.kind = \"etcd\"; remove state.file",
                );
            }
            read_etcd(r, env, host_name, p)
        }
    };
    CoordinationConfig {
        kind: etcd.map_or(CoordinationKind::None, CoordinationKind::Etcd),
    }
}

/// Records every key but `kind` as one this instance would ignore.
fn deny_etcd_keys(r: &Reader<'_>, why: &str, p: &mut Problems) {
    for key in COORDINATION_KEYS.iter().filter(|k| **k != "kind") {
        if r.has(key) {
            p.push(
                r.path(key),
                format!(
                    "only used with coordination.kind = \"etcd\" ({why}: this instance decides alone)"
                ),
            );
        }
    }
}

/// Every key of `kind = "etcd"`; `None` when one is wrong (recorded).
fn read_etcd(
    r: &Reader<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    host_name: &dyn Fn() -> Result<String, String>,
    p: &mut Problems,
) -> Option<EtcdCoordination> {
    let (endpoints, scheme) = read_endpoints(r, p);
    let prefix = r
        .str("prefix", p)
        .check(&r.path("prefix"), p, check_prefix)
        .or(DEFAULT_ETCD_PREFIX.into());
    let instance = read_instance(r, host_name, p);
    let lease_ttl = read_lease_ttl(r, p);
    let combine = choice(r, "combine", &Combine::ALL, p);
    let on_coordinator_lost = choice(r, "on_coordinator_lost", &OnCoordinatorLost::ALL, p);
    let tls = read_tls(r, scheme, p);
    let auth = read_auth(r, env, p);
    // Every key is read above, before `?` can return early.
    let (user, password) = auth?;
    Some(EtcdCoordination {
        endpoints: endpoints?,
        prefix,
        instance: instance?,
        lease_ttl,
        combine,
        on_coordinator_lost,
        tls: tls?,
        user,
        password,
    })
}

/// One of `options` by its spelling; the first option when absent or bad.
fn choice<T: Copy>(r: &Reader<'_>, key: &str, options: &[(&str, T)], p: &mut Problems) -> T {
    let default = options[0].1;
    r.str(key, p)
        .check(&r.path(key), p, |s| {
            options
                .iter()
                .find(|(name, _)| *name == s)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    let names: Vec<String> =
                        options.iter().map(|(n, _)| format!("{n:?}")).collect();
                    format!("must be one of {} (found {s:?})", names.join(", "))
                })
        })
        .or(default)
}

/// `coordination.prefix`: an absolute etcd key path without a trailing `/`.
fn check_prefix(s: String) -> Result<String, String> {
    if let Some(c) = s.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "must be printable ASCII without spaces (found {c:?})"
        ));
    }
    if !s.starts_with('/') {
        return Err("must start with / (e.g. \"/switchboard/db\")".into());
    }
    if s == "/" {
        return Err("must name a prefix below / (e.g. \"/switchboard/db\")".into());
    }
    if s.ends_with('/') {
        return Err("must not end with /".into());
    }
    if s.contains("//") {
        return Err("must not contain //".into());
    }
    Ok(s)
}

/// `coordination.instance`, or the host name when absent.
fn read_instance(
    r: &Reader<'_>,
    host_name: &dyn Fn() -> Result<String, String>,
    p: &mut Problems,
) -> Option<String> {
    let path = r.path("instance");
    match r.str("instance", p) {
        Field::Got(name) => match check_instance(&name) {
            Ok(()) => Some(name),
            Err(e) => {
                p.push(path, e);
                None
            }
        },
        Field::Bad => None,
        Field::Missing => match host_name() {
            Ok(name) => match check_instance(&name) {
                Ok(()) => Some(name),
                Err(e) => {
                    p.push(
                        path,
                        format!(
                            "the host name {name:?} cannot be the default instance name ({e}); set coordination.instance"
                        ),
                    );
                    None
                }
            },
            Err(e) => {
                p.push(
                    path,
                    format!(
                        "required: the default, the host name, is unknown ({e}); set coordination.instance (unique per instance)"
                    ),
                );
                None
            }
        },
    }
}

/// 1..=63 characters of `[A-Za-z0-9._-]`.
fn check_instance(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "may hold only A-Z, a-z, 0-9, '.', '_' and '-' (found {c:?})"
        ));
    }
    if name.len() > MAX_INSTANCE_LEN {
        return Err(format!(
            "must be at most {MAX_INSTANCE_LEN} characters (found {})",
            name.len()
        ));
    }
    Ok(())
}

/// `coordination.lease_ttl`: whole seconds, 2 s..=60 s.
fn read_lease_ttl(r: &Reader<'_>, p: &mut Problems) -> Duration {
    r.str("lease_ttl", p)
        .check(&r.path("lease_ttl"), p, |s| {
            let d = parse_duration(&s)?;
            if d.subsec_nanos() != 0 {
                return Err(format!(
                    "{s:?} is not a whole number of seconds (etcd leases are whole seconds)"
                ));
            }
            match d.as_secs() {
                MIN_LEASE_SECS..=MAX_LEASE_SECS => Ok(d),
                _ => Err(format!(
                    "must be {MIN_LEASE_SECS}s..{MAX_LEASE_SECS}s (etcd silently raises a shorter lease; a longer one delays every failover that long)"
                )),
            }
        })
        .or(DEFAULT_LEASE_TTL)
}

/// `ca`, `cert` and `key`: only with `https://` endpoints, `cert` and `key`
/// both or neither, each an existing readable file. `Some(None)` with
/// `http://` endpoints; `None` when something is wrong (recorded).
fn read_tls(r: &Reader<'_>, scheme: Option<Scheme>, p: &mut Problems) -> Option<Option<EtcdTls>> {
    if scheme == Some(Scheme::Http) {
        let mut ok = true;
        for key in ["ca", "cert", "key"] {
            if r.has(key) {
                p.push(
                    r.path(key),
                    "only used with https:// endpoints (coordination.endpoints are http://)",
                );
                ok = false;
            }
        }
        return ok.then_some(None);
    }
    let ca = existing_file(r, "ca", p);
    let cert = existing_file(r, "cert", p);
    let key = existing_file(r, "key", p);
    let mut ok = !matches!(ca, Field::Bad);
    let client = match (cert, key) {
        (Field::Got(cert), Field::Got(key)) => Some(EtcdClientCert { cert, key }),
        (Field::Missing, Field::Missing) => None,
        (Field::Got(_), Field::Missing) => {
            p.push(
                r.path("key"),
                "required with coordination.cert (the client certificate's private key, PEM)",
            );
            ok = false;
            None
        }
        (Field::Missing, Field::Got(_)) => {
            p.push(
                r.path("cert"),
                "required with coordination.key (the client certificate, PEM)",
            );
            ok = false;
            None
        }
        // A bad one is recorded already.
        (Field::Bad, _) | (_, Field::Bad) => {
            ok = false;
            None
        }
    };
    let tls = (scheme == Some(Scheme::Https)).then(|| EtcdTls {
        ca: ca.opt(),
        client,
    });
    ok.then_some(tls)
}

/// A file path that names an existing, readable file; never read further.
fn existing_file(r: &Reader<'_>, key: &str, p: &mut Problems) -> Field<PathBuf> {
    r.file_path(key, p).check(&r.path(key), p, |path| {
        let cannot = |e: std::io::Error| format!("cannot read {}: {}", path.display(), e.kind());
        let file = std::fs::File::open(&path).map_err(cannot)?;
        match file.metadata() {
            Ok(m) if m.is_file() => Ok(path),
            Ok(_) => Err(format!("{} is not a file", path.display())),
            Err(e) => Err(cannot(e)),
        }
    })
}

/// `user` with exactly one password source, or neither user nor password.
/// `None` when something is wrong (recorded).
fn read_auth(
    r: &Reader<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Problems,
) -> Option<(Option<String>, Option<Secret>)> {
    match text(r, "user", p) {
        Field::Got(user) => {
            let password = read_password(r, env, ETCD_PASSWORD_ENV, p)?;
            Some((Some(user), Some(password)))
        }
        Field::Bad => None,
        Field::Missing => {
            let mut ok = true;
            for key in ["password", "password_file"] {
                if r.has(key) {
                    p.push(
                        r.path(key),
                        "only used with coordination.user (etcd authentication needs both)",
                    );
                    ok = false;
                }
            }
            ok.then_some((None, None))
        }
    }
}

#[cfg(test)]
#[path = "coordination_tests.rs"]
mod tests;
