//! The Go switchboard's configuration file (docs/configuration.md ("Go switchboard format")), YAML or JSON, read unchanged.
//!
//! Owns the mapping from the Go program's PascalCase keys (cf-mysql-release
//! and pxc-release, including pxc's `BindAddress` and `Metrics`) onto
//! [`Config`], and the Go program's required keys, all reported at once with
//! their PascalCase paths (`Proxy.Backends[1].StatusPort: required`). As in
//! Go, a zero or empty value counts as missing, and unknown keys are ignored:
//! `StatusLog` is accepted and ignored (state changes are always logged).
//! pxc's `GaleraAgentTLS.{Enabled, CA, ServerName}` turns every galera check
//! into an `https://` one verified with that inline PEM CA and server name;
//! pxc's `API.TLS.{Enabled, Certificate, PrivateKey}` (inline PEMs, checked
//! in `api_tls.rs`) serves the API and springboard listeners over TLS.
//! Everything the format cannot express takes the docs/configuration.md
//! defaults. It must never put the password, a PEM or a private key into a
//! message.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::api_tls::read_go as read_api_tls;
use super::listen::{check_collisions, resolve_host};
use super::tls::check_server_name;
use super::tree::{Field, Reader, Style};
use super::*;

/// Parses and validates a Go switchboard YAML file.
pub(crate) fn parse_yaml(text: &str) -> Result<Config, ConfigErrors> {
    let doc: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_norway::from_str(text)
            .map_err(|e| ConfigErrors::single("config", format!("YAML syntax error: {e}")))?
    };
    from_doc(&doc)
}

/// Parses and validates a Go switchboard JSON file.
pub(crate) fn parse_json(text: &str) -> Result<Config, ConfigErrors> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| ConfigErrors::single("config", format!("JSON syntax error: {e}")))?;
    from_doc(&doc)
}

/// A port Go requires (`nonzero`): missing or 0 is `required`.
fn req_port(r: &Reader<'_>, key: &str, p: &mut Problems) -> Option<u16> {
    r.port(key, true, p).required(&r.path(key), "", p)
}

/// A string Go requires (`nonzero`): missing or empty is `required`.
fn req_text(r: &Reader<'_>, key: &str, p: &mut Problems) -> Option<String> {
    match r.str(key, p) {
        Field::Got(s) if !s.trim().is_empty() => Some(s),
        Field::Bad => None,
        Field::Got(_) | Field::Missing => {
            p.push(r.path(key), "required");
            None
        }
    }
}

fn from_doc(doc: &Value) -> Result<Config, ConfigErrors> {
    if !(doc.is_object() || doc.is_null()) {
        return Err(ConfigErrors::single(
            "config",
            "expected a map of keys (Proxy, API, HealthPort, ...) at the top level".into(),
        ));
    }
    let mut p = Problems::new();
    let root = Reader::new(doc.as_object(), "", Style::Switchboard);

    let bind = match root.str("BindAddress", &mut p) {
        Field::Got(host) if !host.trim().is_empty() => match resolve_host(host.trim()) {
            Ok(ip) => Some(ip),
            Err(e) => {
                p.push("BindAddress", e);
                None
            }
        },
        Field::Bad => None,
        Field::Got(_) | Field::Missing => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
    };

    let proxy = root.table("Proxy", &mut p);
    let proxy_port = req_port(&proxy, "Port", &mut p);
    let inactive_port = proxy.port("InactiveMysqlPort", true, &mut p).opt();
    let timeout_ms = match proxy.uint("HealthcheckTimeoutMillis", &mut p) {
        Field::Got(ms) if ms > 0 => Some(ms),
        Field::Bad => None,
        Field::Got(_) | Field::Missing => {
            p.push("Proxy.HealthcheckTimeoutMillis", "required");
            None
        }
    };
    let shutdown_secs = proxy.uint("ShutdownDelaySeconds", &mut p).or(0);
    let galera_tls = read_galera_agent_tls(&root.table("GaleraAgentTLS", &mut p), &mut p);
    let backends = read_backends(&proxy, galera_tls.as_ref(), &mut p);

    let api = root.table("API", &mut p);
    let api_port = req_port(&api, "Port", &mut p);
    let aggregator_port = req_port(&api, "AggregatorPort", &mut p);
    let username = req_text(&api, "Username", &mut p);
    let password = req_text(&api, "Password", &mut p);
    let force_https = api.bool("ForceHttps", &mut p).or(false);
    let proxy_uris = api.strings("ProxyURIs", &mut p).or(Vec::new());
    let api_tls = read_api_tls(&api.table("TLS", &mut p), &mut p);

    let health_port = req_port(&root, "HealthPort", &mut p);
    let static_dir = root
        .str("StaticDir", &mut p)
        .opt()
        .filter(|s| !s.trim().is_empty())
        .map(PathBuf::from);

    let metrics = root.table("Metrics", &mut p);
    let metrics_enabled = metrics.bool("Enabled", &mut p).or(false);
    let metrics_port = match metrics.port("Port", true, &mut p) {
        Field::Missing if metrics_enabled => {
            p.push("Metrics.Port", "required when Metrics.Enabled is true");
            None
        }
        field if metrics_enabled => field.opt(),
        _ => None,
    };
    let metrics_listen = metrics_port.map(|port| SocketAddr::from((Ipv4Addr::LOCALHOST, port)));

    // Go serves the health endpoint from the API listener when the ports match.
    let health_port = health_port.map(|port| (Some(port) != api_port).then_some(port));

    if let Some(ip) = bind {
        let at = |port: Option<u16>| port.map(|port| SocketAddr::new(ip, port));
        let candidates = [
            ("Proxy.Port", at(proxy_port)),
            ("Proxy.InactiveMysqlPort", at(inactive_port)),
            ("API.Port", at(api_port)),
            ("API.AggregatorPort", at(aggregator_port)),
            ("HealthPort", at(health_port.flatten())),
            ("Metrics.Port", metrics_listen),
        ];
        let listeners: Vec<(String, SocketAddr)> = candidates
            .iter()
            .filter_map(|(path, addr)| addr.map(|a| (path.to_string(), a)))
            .collect();
        check_collisions(&listeners, &mut p);
    }

    p.into_result()?;
    let (
        Some(ip),
        Some(proxy_port),
        Some(timeout_ms),
        Some(api_port),
        Some(aggregator_port),
        Some(username),
        Some(password),
        Some(health_port),
    ) = (
        bind,
        proxy_port,
        timeout_ms,
        api_port,
        aggregator_port,
        username,
        password,
        health_port,
    )
    else {
        // Every path to None records a problem, so this is never reached.
        return Err(ConfigErrors::single(
            "config",
            "invalid configuration".into(),
        ));
    };
    let at = |port: u16| SocketAddr::new(ip, port);
    let timeout = Duration::from_millis(timeout_ms);
    Ok(Config {
        proxy: ProxyConfig {
            listen: at(proxy_port),
            standby_listen: inactive_port.map(at),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            shutdown_delay: Duration::from_secs(shutdown_secs),
            drain_timeout: Duration::ZERO,
            sever_on_failover: true,
            refuse_with: RefuseWith::Close,
            // Go's net defaults, which the Go switchboard's sockets had.
            tcp_keepalive: Some(TcpKeepalive::default()),
            half_close_timeout: DEFAULT_HALF_CLOSE_TIMEOUT,
            max_sessions: None,
        },
        monitor: MonitorConfig {
            interval: timeout / 5,
            timeout,
            ..MonitorConfig::default()
        },
        api: ApiConfig {
            listen: at(api_port),
            username,
            password: Secret::new(password),
            public_reads: false,
            force_https,
            public_metrics: false,
            health_listen: health_port.map(at),
            static_dir,
            metrics_listen,
            aggregator_listen: Some(at(aggregator_port)),
            proxy_uris,
            tls: api_tls,
            limits: ApiLimits::default(),
        },
        state: StateConfig::default(),
        traffic_monitor: TrafficMonitorConfig::default(),
        log: LogConfig::default(),
        coordination: CoordinationConfig::default(),
        backends,
    })
}

/// pxc's `GaleraAgentTLS`: when `Enabled`, galera checks use `https://`,
/// trust only the inline PEM `CA` (required, as in Go) and verify
/// `ServerName` when one is given. Disabled or absent: `None`.
fn read_galera_agent_tls(r: &Reader<'_>, p: &mut Problems) -> Option<HttpTls> {
    if !r.bool("Enabled", p).or(false) {
        return None;
    }
    const ORIGIN: &str = "GaleraAgentTLS.CA";
    let ca = match r.str("CA", p) {
        Field::Got(pem) if !pem.trim().is_empty() => {
            match CaCerts::from_pem(pem.as_bytes(), ORIGIN) {
                Ok(ca) => Some(ca),
                Err(e) => {
                    let e = e.strip_prefix("GaleraAgentTLS.CA: ").unwrap_or(&e);
                    p.push(r.path("CA"), format!("cannot parse the PEM: {e}"));
                    None
                }
            }
        }
        Field::Bad => None,
        Field::Got(_) | Field::Missing => {
            p.push(
                r.path("CA"),
                "required when GaleraAgentTLS.Enabled is true (the CA's PEM)",
            );
            None
        }
    };
    let server_name = match r.str("ServerName", p) {
        Field::Got(name) if !name.trim().is_empty() => {
            match check_server_name(name.trim().to_string()) {
                Ok(name) => Some(name),
                Err(e) => {
                    p.push(r.path("ServerName"), e);
                    None
                }
            }
        }
        _ => None,
    };
    Some(HttpTls { ca, server_name })
}

/// `Proxy.Backends`: at least one, each with all five fields; names must be
/// unique. With `tls` (pxc's `GaleraAgentTLS`) their checks use `https://`.
fn read_backends(
    proxy: &Reader<'_>,
    tls: Option<&HttpTls>,
    p: &mut Problems,
) -> Vec<BackendConfig> {
    let items = match proxy.tables("Backends", p) {
        Field::Got(items) if !items.is_empty() => items,
        Field::Bad => return Vec::new(),
        Field::Got(_) | Field::Missing => {
            p.push(proxy.path("Backends"), "required (at least one backend)");
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(items.len());
    let mut names: Vec<(String, String)> = Vec::new();
    for b in items.iter().filter(|b| b.exists()) {
        let host = req_text(b, "Host", p);
        let port = req_port(b, "Port", p);
        let status_port = req_port(b, "StatusPort", p);
        let endpoint = req_text(b, "StatusEndpoint", p);
        let name = req_text(b, "Name", p);
        if let Some(name) = &name {
            match names.iter().find(|(n, _)| n == name) {
                Some((_, first)) => p.push(
                    b.path("Name"),
                    format!("duplicate name {name:?} (also {first}); names must be unique"),
                ),
                None => names.push((name.clone(), b.path("Name"))),
            }
        }
        if let (Some(host), Some(port), Some(status_port), Some(endpoint), Some(name)) =
            (host, port, status_port, endpoint, name)
        {
            let url_host = if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]")
            } else {
                host.clone()
            };
            let path = endpoint.trim_start_matches('/');
            let scheme = if tls.is_some() { "https" } else { "http" };
            out.push(BackendConfig {
                name,
                host,
                port,
                check: Check::Galera {
                    url: format!("{scheme}://{url_host}:{status_port}/{path}"),
                    tls: tls.cloned().unwrap_or_default(),
                },
                proxy_protocol: ProxyProtocol::Off,
            });
        }
    }
    out
}

#[cfg(test)]
#[path = "switchboard_tests.rs"]
mod tests;
