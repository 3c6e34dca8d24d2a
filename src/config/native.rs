//! Native TOML configuration (docs/configuration.md).
//!
//! Owns reading a `.toml` file into [`Config`]: every section, every default,
//! every validation rule, and the report of every problem at once with its
//! path. Backends live in `native_backends.rs`. The text is parsed into a
//! generic tree first and walked (see `tree.rs`), so unknown keys, wrong types
//! and invalid values are all reported together; only a TOML syntax error is
//! reported alone. It must never put the API password into a message: syntax
//! errors are reported by line and column without the offending line.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::api_tls::read_native as read_api_tls;
use super::keepalive::read_keepalive;
use super::limits::{read_api_limits, read_max_sessions};
use super::listen::{check_collisions, parse_listen};
use super::native_backends::read_backends;
use super::tree::{Field, Reader, Style};
use super::*;

/// The environment variable that supplies the API password when the file sets
/// neither `api.password` nor `api.password_file`.
pub const PASSWORD_ENV: &str = "SWITCHBOARD_API_PASSWORD";

pub(crate) const ROOT_KEYS: &[&str] = &[
    "proxy",
    "monitor",
    "api",
    "state",
    "traffic_monitor",
    "log",
    "coordination",
    "backends",
];
pub(crate) const PROXY_KEYS: &[&str] = &[
    "listen",
    "standby_listen",
    "connect_timeout",
    "shutdown_delay",
    "drain_timeout",
    "sever_on_failover",
    "refuse_with",
    "tcp_keepalive",
    "tcp_keepalive_interval",
    "tcp_keepalive_count",
    "half_close_timeout",
    "max_sessions",
];
pub(crate) const MONITOR_KEYS: &[&str] = &[
    "interval",
    "timeout",
    "rise",
    "fall",
    "failback",
    "failback_after",
    "enabled",
];
pub(crate) const API_KEYS: &[&str] = &[
    "listen",
    "username",
    "password",
    "password_file",
    "public_reads",
    "force_https",
    "public_metrics",
    "health_listen",
    "static_dir",
    "metrics_listen",
    "aggregator_listen",
    "proxy_uris",
    "tls_cert",
    "tls_key",
    "max_connections",
    "header_timeout",
    "request_timeout",
    "max_header_bytes",
];
pub(crate) const STATE_KEYS: &[&str] = &["file"];
pub(crate) const TRAFFIC_MONITOR_KEYS: &[&str] = &["cluster", "publish", "public", "crconfig_file"];

/// Every listener read so far, by path, for the collision check.
type Listeners = Vec<(String, SocketAddr)>;

/// Parses and validates native TOML; the password may come from
/// `SWITCHBOARD_API_PASSWORD`. Relative file paths are resolved against
/// `dir` (the config file's directory) when given.
pub(crate) fn parse(text: &str, dir: Option<&Path>) -> Result<Config, ConfigErrors> {
    parse_in(text, &|name| std::env::var(name).ok(), dir)
}

/// [`parse`] with the environment supplied by the caller (tests need no
/// process env) and relative paths left as written.
#[cfg(test)]
pub(crate) fn parse_with_env(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    parse_in(text, env, None)
}

/// [`parse_with_env`] with relative file paths resolved against `dir`.
pub(crate) fn parse_in(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    dir: Option<&Path>,
) -> Result<Config, ConfigErrors> {
    let doc: Value = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
    let mut p = Problems::new();
    let root = Reader::new(doc.as_object(), "", Style::Native).with_base(dir);
    root.deny_unknown(ROOT_KEYS, &mut p);
    let mut listeners = Listeners::new();
    let proxy = read_proxy(&root.table("proxy", &mut p), &mut listeners, &mut p);
    let monitor = read_monitor(&root.table("monitor", &mut p), &mut p);
    let api = read_api(&root.table("api", &mut p), env, &mut listeners, &mut p);
    let state = read_state(&root.table("state", &mut p), &mut p);
    let traffic_monitor = read_traffic_monitor(&root.table("traffic_monitor", &mut p), &mut p);
    let log = log::read_log(&root.table("log", &mut p), &mut p);
    let coordination = coordination_read::read_coordination(
        &root.table("coordination", &mut p),
        &state,
        env,
        &coordination_read::host_name,
        &mut p,
    );
    let backends = read_backends(&root, env, &mut p);
    check_collisions(&listeners, &mut p);
    p.into_result()?;
    match (proxy, api) {
        (Some(proxy), Some(api)) => Ok(Config {
            proxy,
            monitor,
            api,
            state,
            traffic_monitor,
            log,
            coordination,
            backends,
        }),
        // Every path to None records a problem, so this is never reached.
        _ => Err(ConfigErrors::single(
            "config",
            "invalid configuration".into(),
        )),
    }
}

/// A syntax error by position and message only: the offending line may hold the password.
fn syntax_error(text: &str, e: &toml::de::Error) -> ConfigErrors {
    let message = e.message().trim().replace('\n', "; ");
    let at = match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(" at line {line}, column {column}")
        }
        None => String::new(),
    };
    ConfigErrors::single("config", format!("TOML syntax error{at}: {message}"))
}

/// A listen address; a good one is added to `listeners`.
fn listen(
    r: &Reader<'_>,
    key: &str,
    listeners: &mut Listeners,
    p: &mut Problems,
) -> Field<SocketAddr> {
    let path = r.path(key);
    let field = r.str(key, p).check(&path, p, |s| parse_listen(&s));
    if let Field::Got(addr) = field {
        listeners.push((path, addr));
    }
    field
}

/// A duration with a unit.
fn duration(r: &Reader<'_>, key: &str, default: Duration, p: &mut Problems) -> Duration {
    r.str(key, p)
        .check(&r.path(key), p, |s| parse_duration(&s))
        .or(default)
}

/// A duration that must be greater than zero.
fn positive_duration(r: &Reader<'_>, key: &str, default: Duration, p: &mut Problems) -> Duration {
    r.str(key, p)
        .check(&r.path(key), p, |s| match parse_duration(&s)? {
            d if d.is_zero() => Err("must be greater than 0".into()),
            d => Ok(d),
        })
        .or(default)
}

/// A count of consecutive probes: at least 1.
fn count(r: &Reader<'_>, key: &str, default: u32, p: &mut Problems) -> u32 {
    r.uint(key, p)
        .check(&r.path(key), p, |n| match u32::try_from(n) {
            Ok(n) if n >= 1 => Ok(n),
            Ok(_) => Err("must be at least 1".into()),
            Err(_) => Err("is too large".into()),
        })
        .or(default)
}

/// A string that must not be empty when given.
pub(super) fn text(r: &Reader<'_>, key: &str, p: &mut Problems) -> Field<String> {
    r.str(key, p).check(&r.path(key), p, |s| {
        if s.trim().is_empty() {
            Err("must not be empty".into())
        } else {
            Ok(s)
        }
    })
}

fn read_proxy(r: &Reader<'_>, listeners: &mut Listeners, p: &mut Problems) -> Option<ProxyConfig> {
    r.deny_unknown(PROXY_KEYS, p);
    let listen_addr = listen(r, "listen", listeners, p).required(&r.path("listen"), "", p);
    let standby_listen = listen(r, "standby_listen", listeners, p).opt();
    let connect_timeout = positive_duration(r, "connect_timeout", DEFAULT_CONNECT_TIMEOUT, p);
    let shutdown_delay = duration(r, "shutdown_delay", Duration::ZERO, p);
    let drain_timeout = duration(r, "drain_timeout", Duration::ZERO, p);
    let sever_on_failover = r.bool("sever_on_failover", p).or(true);
    let refuse_with = r
        .str("refuse_with", p)
        .check(&r.path("refuse_with"), p, |s| match s.as_str() {
            "close" => Ok(RefuseWith::Close),
            "mysql-error" => Ok(RefuseWith::MysqlError),
            other => Err(format!(
                "must be \"close\" or \"mysql-error\" (found {other:?})"
            )),
        })
        .or(RefuseWith::default());
    let tcp_keepalive = read_keepalive(r, p);
    let half_close_timeout =
        positive_duration(r, "half_close_timeout", DEFAULT_HALF_CLOSE_TIMEOUT, p);
    let max_sessions = read_max_sessions(r, p);
    Some(ProxyConfig {
        listen: listen_addr?,
        standby_listen,
        connect_timeout,
        shutdown_delay,
        drain_timeout,
        sever_on_failover,
        refuse_with,
        tcp_keepalive,
        half_close_timeout,
        max_sessions,
    })
}

fn read_monitor(r: &Reader<'_>, p: &mut Problems) -> MonitorConfig {
    r.deny_unknown(MONITOR_KEYS, p);
    let d = MonitorConfig::default();
    MonitorConfig {
        interval: positive_duration(r, "interval", d.interval, p),
        timeout: positive_duration(r, "timeout", d.timeout, p),
        rise: count(r, "rise", d.rise, p),
        fall: count(r, "fall", d.fall, p),
        failback: r.bool("failback", p).or(d.failback),
        failback_after: duration(r, "failback_after", d.failback_after, p),
        enabled: r.bool("enabled", p).or(d.enabled),
    }
}

fn read_api(
    r: &Reader<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    listeners: &mut Listeners,
    p: &mut Problems,
) -> Option<ApiConfig> {
    r.deny_unknown(API_KEYS, p);
    let default_listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 8080));
    let listen_addr = match listen(r, "listen", listeners, p) {
        Field::Got(addr) => addr,
        Field::Bad => default_listen,
        Field::Missing => {
            listeners.push((r.path("listen"), default_listen));
            default_listen
        }
    };
    let health_listen = listen(r, "health_listen", listeners, p).opt();
    let metrics_listen = listen(r, "metrics_listen", listeners, p).opt();
    let aggregator_listen = listen(r, "aggregator_listen", listeners, p).opt();
    let username = text(r, "username", p).or("admin".into());
    let password = read_password(r, env, PASSWORD_ENV, p);
    let public_reads = r.bool("public_reads", p).or(false);
    let force_https = r.bool("force_https", p).or(false);
    let public_metrics = r.bool("public_metrics", p).or(false);
    let static_dir = r.file_path("static_dir", p).opt();
    let proxy_uris = r.strings("proxy_uris", p).or(Vec::new());
    let tls = read_api_tls(r, p);
    let limits = read_api_limits(r, p);
    // Every key is read above, before `?` can return early.
    Some(ApiConfig {
        listen: listen_addr,
        username,
        password: password?,
        public_reads,
        force_https,
        public_metrics,
        health_listen,
        static_dir,
        metrics_listen,
        aggregator_listen,
        proxy_uris,
        tls,
        limits,
    })
}

/// Exactly one of `password`, `password_file`, or the environment variable
/// `env_name`; never echoed. Shared by `[api]` and the `mysql` check.
pub(super) fn read_password(
    r: &Reader<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    env_name: &str,
    p: &mut Problems,
) -> Option<Secret> {
    let inline = r.str("password", p);
    let file = r.file_path("password_file", p);
    match (inline, file) {
        (Field::Got(_), Field::Got(_)) => {
            p.push(
                r.path("password_file"),
                "set only one of password and password_file",
            );
            None
        }
        (Field::Bad, _) | (_, Field::Bad) => None,
        (Field::Got(password), Field::Missing) => {
            if password.is_empty() {
                p.push(r.path("password"), "must not be empty");
                return None;
            }
            Some(Secret::new(password))
        }
        (Field::Missing, Field::Got(path)) => match std::fs::read_to_string(&path) {
            // The path is the operator's own (resolved against the config
            // file's directory when relative), never a secret.
            Ok(content) => {
                let password = content.trim_end_matches(['\n', '\r']);
                if password.is_empty() {
                    p.push(
                        r.path("password_file"),
                        format!("{} is empty", path.display()),
                    );
                    return None;
                }
                Some(Secret::new(password))
            }
            Err(e) => {
                p.push(
                    r.path("password_file"),
                    format!("cannot read {}: {}", path.display(), e.kind()),
                );
                None
            }
        },
        (Field::Missing, Field::Missing) => match env(env_name) {
            Some(password) if !password.is_empty() => Some(Secret::new(password)),
            _ => {
                p.push(
                    r.path("password"),
                    format!("required (password, password_file or {env_name})"),
                );
                None
            }
        },
    }
}

fn read_state(r: &Reader<'_>, p: &mut Problems) -> StateConfig {
    r.deny_unknown(STATE_KEYS, p);
    StateConfig {
        file: r.file_path("file", p).opt(),
    }
}

fn read_traffic_monitor(r: &Reader<'_>, p: &mut Problems) -> TrafficMonitorConfig {
    r.deny_unknown(TRAFFIC_MONITOR_KEYS, p);
    let d = TrafficMonitorConfig::default();
    let publish = r
        .str("publish", p)
        .check(&r.path("publish"), p, |s| match s.as_str() {
            "health" => Ok(Publish::Health),
            "active-only" => Ok(Publish::ActiveOnly),
            other => Err(format!(
                "must be \"health\" or \"active-only\" (found {other:?})"
            )),
        })
        .or(d.publish);
    let crconfig = r
        .file_path("crconfig_file", p)
        .check(&r.path("crconfig_file"), p, |path| {
            let initial = read_crconfig(&path)?;
            Ok(CrConfigFile {
                path,
                initial: Arc::new(initial),
            })
        })
        .opt();
    TrafficMonitorConfig {
        cluster: text(r, "cluster", p).or(d.cluster),
        publish,
        public: r.bool("public", p).or(d.public),
        crconfig,
    }
}

#[cfg(test)]
#[path = "native_tests.rs"]
mod tests;
