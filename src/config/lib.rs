//! The one internal configuration every part of switchboard runs on.
//!
//! Two file formats map onto it: native TOML (docs/configuration.md, `native.rs`) and the
//! Go switchboard's YAML/JSON (docs/configuration.md ("Go switchboard format"), `switchboard.rs`); the extension of
//! the file decides which. Both report every problem at once through
//! [`ConfigErrors`], each with its path. This module must never print, log or
//! return a secret: every password lives in a [`Secret`] whose `Debug` and
//! `Display` are redacted.

mod api_tls;
mod coordination;
mod coordination_endpoints;
mod coordination_read;
mod crconfig;
#[cfg(test)]
mod docs_tests;
mod duration;
mod keepalive;
mod limits;
mod listen;
mod log;
mod mysql_check;
mod native;
mod native_backends;
mod problems;
mod switchboard;
mod tls;
mod tree;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use api_tls::ApiTls;
pub use coordination::{
    Combine, CoordinationConfig, CoordinationKind, EtcdClientCert, EtcdCoordination, EtcdTls,
    OnCoordinatorLost, DEFAULT_ETCD_PREFIX, DEFAULT_LEASE_TTL, ETCD_PASSWORD_ENV,
};
pub use crconfig::{
    check_crconfig, crconfig_from_bytes, read_crconfig, CrConfigDoc, CrConfigFile, CrConfigStats,
    FileStamp,
};
pub use duration::parse_duration;
pub use limits::{
    ApiLimits, DEFAULT_API_HEADER_TIMEOUT, DEFAULT_API_MAX_CONNECTIONS,
    DEFAULT_API_MAX_HEADER_BYTES, DEFAULT_API_REQUEST_TIMEOUT,
};
pub use log::{LogConfig, LOG_LEVELS};
pub use mysql_check::{MysqlCheck, MysqlTls, CHECK_PASSWORD_ENV};
pub use native::PASSWORD_ENV;
pub use problems::{ConfigErrors, Problem, Problems};
pub use tls::{CaCerts, HttpTls};

/// `proxy.connect_timeout` when the file sets none (both formats).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub proxy: ProxyConfig,
    pub monitor: MonitorConfig,
    pub api: ApiConfig,
    pub state: StateConfig,
    pub traffic_monitor: TrafficMonitorConfig,
    /// `[log]`: the level the file asks for, if any.
    pub log: LogConfig,
    /// `[coordination]`: alone (the default, and always for the Go
    /// switchboard format) or agreeing with other instances through etcd.
    pub coordination: CoordinationConfig,
    /// In config order; a backend's position here is its tie-breaker in the
    /// election and its default index.
    pub backends: Vec<BackendConfig>,
}

/// `[proxy]`: the data-path listeners and their timings.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub listen: SocketAddr,
    /// Routes to the highest-index healthy enabled backend.
    pub standby_listen: Option<SocketAddr>,
    pub connect_timeout: Duration,
    pub shutdown_delay: Duration,
    pub drain_timeout: Duration,
    pub sever_on_failover: bool,
    /// What a client whose connection cannot be routed gets.
    pub refuse_with: RefuseWith,
    /// `tcp_keepalive` with its interval and count: TCP keep-alive on both
    /// sockets of every session, so a client or backend that vanished
    /// without a FIN (a host that lost power, a dropped NAT entry) frees
    /// its session instead of holding it forever. `None`: off
    /// (`tcp_keepalive = "0s"`).
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// How long a session may stay half-closed: once one direction has
    /// ended (its FIN arrived and was passed on), the session is closed if
    /// the other has not ended within this time.
    pub half_close_timeout: Duration,
    /// Sessions open at once on both proxy ports, counted from the accept
    /// (connecting ones too); a client beyond it is closed at once (with a
    /// MySQL error 1040 under `refuse_with = "mysql-error"`), never
    /// queued. `None`: derived from the open-file limit by the bridge.
    pub max_sessions: Option<u64>,
}

/// `proxy.half_close_timeout` when the file sets none (both formats).
pub const DEFAULT_HALF_CLOSE_TIMEOUT: Duration = Duration::from_secs(3600);

/// The kernel's TCP keep-alive settings of a session's sockets. Linux
/// counts them in whole seconds, so they are whole seconds here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpKeepalive {
    /// Idle time before the first probe (`TCP_KEEPIDLE`).
    pub idle: Duration,
    /// Time between unanswered probes (`TCP_KEEPINTVL`).
    pub interval: Duration,
    /// Unanswered probes after which the connection is dead
    /// (`TCP_KEEPCNT`): the session ends with ETIMEDOUT.
    pub count: u32,
}

/// What Go's `net` package gives every connection of the Go switchboard
/// (15 s idle, 15 s between probes, and Linux's 9 probes), so that a
/// migrated deployment detects a vanished peer just as fast: within
/// 15 s + 9 × 15 s = 2.5 min. It applies to the Go switchboard format too.
impl Default for TcpKeepalive {
    fn default() -> Self {
        TcpKeepalive {
            idle: Duration::from_secs(15),
            interval: Duration::from_secs(15),
            count: 9,
        }
    }
}

/// `proxy.refuse_with`: how a connection that cannot be routed (routing
/// off, no active backend) is turned away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RefuseWith {
    /// Accept and close at once: the client sees EOF (the Go switchboard's
    /// behaviour).
    #[default]
    Close,
    /// A MySQL error packet in place of the server greeting, saying why,
    /// then close: MySQL clients print the reason instead of "Lost
    /// connection".
    MysqlError,
}

/// `[monitor]`: how backends are probed and how the active is elected.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    pub failback: bool,
    /// With `failback`, how long a backend must have been healthy without a
    /// break (counted from the end of its `rise`) before it takes the active
    /// role from a healthy active. Zero: at once.
    pub failback_after: Duration,
    pub enabled: bool,
}

/// docs/configuration.md defaults: probe every 1s with a 500ms timeout, rise = fall = 1,
/// failback on, monitoring on.
impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            rise: 1,
            fall: 1,
            failback: true,
            failback_after: Duration::ZERO,
            enabled: true,
        }
    }
}

/// `[api]`: the HTTP listeners and their security.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    pub username: String,
    pub password: Secret,
    pub public_reads: bool,
    pub force_https: bool,
    /// `/metrics` served without auth on the API listener.
    pub public_metrics: bool,
    pub health_listen: Option<SocketAddr>,
    pub static_dir: Option<PathBuf>,
    /// A separate, unauthenticated `/metrics` listener (pxc's `Metrics.Port`).
    pub metrics_listen: Option<SocketAddr>,
    /// The springboard page (switchboard's `API.AggregatorPort`).
    pub aggregator_listen: Option<SocketAddr>,
    /// Links shown on the springboard page (switchboard's `API.ProxyURIs`).
    pub proxy_uris: Vec<String>,
    /// Serve the API and springboard listeners over TLS with this
    /// certificate (`api.tls_cert`/`tls_key`, pxc's `API.TLS`); `None`:
    /// plain HTTP. The health and metrics listeners are plain HTTP always.
    pub tls: Option<ApiTls>,
    /// Connections, header size and request time on each listener.
    pub limits: ApiLimits,
}

/// `[state]`: where operator state survives restarts.
#[derive(Debug, Clone, Default)]
pub struct StateConfig {
    pub file: Option<PathBuf>,
}

/// `[traffic_monitor]`: how `/publish/CrStates` and friends present us.
#[derive(Debug, Clone)]
pub struct TrafficMonitorConfig {
    pub cluster: String,
    pub publish: Publish,
    pub public: bool,
    /// The Traffic Router configuration served at `/publish/CrConfig`
    /// (`crconfig_file`), checked at load; `None`: that path is a 404.
    pub crconfig: Option<CrConfigFile>,
}

/// docs/configuration.md defaults: cluster `db`, publish health, no auth.
impl Default for TrafficMonitorConfig {
    fn default() -> Self {
        TrafficMonitorConfig {
            cluster: "db".into(),
            publish: Publish::Health,
            public: true,
            crconfig: None,
        }
    }
}

/// Which backends CrStates reports available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// Every healthy backend is available.
    Health,
    /// Only the active backend is available; the others say `standby`.
    ActiveOnly,
}

/// One `[[backends]]` entry.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub check: Check,
    /// A PROXY protocol header in front of every connection to this backend.
    pub proxy_protocol: ProxyProtocol,
}

/// `backends[].proxy_protocol`: whether the backend is told the client's
/// address with a PROXY protocol header (MariaDB `proxy_protocol_networks`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProxyProtocol {
    /// Plain TCP: the backend sees the proxy's address.
    #[default]
    Off,
    /// The binary version 2 header, before any byte of the client's.
    V2,
}

/// How a backend is probed (docs/operations.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// HTTP 200 with JSON `"healthy": true`; `wsrep_local_index` is the index.
    /// `tls` applies to an `https://` URL.
    Galera { url: String, tls: HttpTls },
    /// HTTP 200 is healthy. `tls` applies to an `https://` URL.
    Http { url: String, tls: HttpTls },
    /// A TCP connect to the backend (or to `port`) succeeds.
    Tcp { port: Option<u16> },
    /// A kept MySQL connection reads the node's Galera and read-only state
    /// (docs/configuration.md, "The mysql check").
    Mysql(MysqlCheck),
}

/// A value that must never be printed: `Debug` and `Display` say `***`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The real value, for comparison only; never log what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The file formats switchboard reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Yaml,
    Json,
}

impl Format {
    /// Picks the format from the file extension (`.toml`, `.yml`/`.yaml`, `.json`).
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "toml" => Some(Format::Toml),
            "yml" | "yaml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

impl Config {
    /// Reads, parses and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let format = Format::from_path(path).ok_or_else(|| {
            ConfigErrors::single(
                "config",
                format!(
                    "{}: unknown extension; use .toml, .yml, .yaml or .json",
                    path.display()
                ),
            )
        })?;
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors::single("config", format!("cannot read {}: {e}", path.display()))
        })?;
        Config::parse_in(&text, format, path.parent())
    }

    /// Parses and validates configuration text in the given format; relative
    /// file paths stay relative to the working directory.
    pub fn parse(text: &str, format: Format) -> Result<Config, ConfigErrors> {
        Config::parse_in(text, format, None)
    }

    /// [`Config::parse`] for text read from a file in `dir`: relative file
    /// paths (CA files, ...) are resolved against `dir`.
    pub fn parse_in(
        text: &str,
        format: Format,
        dir: Option<&Path>,
    ) -> Result<Config, ConfigErrors> {
        match format {
            Format::Toml => native::parse(text, dir),
            Format::Yaml => switchboard::parse_yaml(text),
            Format::Json => switchboard::parse_json(text),
        }
    }

    /// Looks up a backend's position by name.
    pub fn backend_position(&self, name: &str) -> Option<usize> {
        self.backends.iter().position(|b| b.name == name)
    }
}
