//! `Builder`: the native TOML configuration (docs/configuration.md) of a switchboard
//! under test, from every knob tests turn: backends with galera checks,
//! probe interval and timeout, rise/fall, failback (and `failback_after`),
//! standby port, shutdown delay and drain, connect timeout, the API (password, public reads and
//! metrics, `force_https`, health, metrics and springboard listeners,
//! `static_dir`, `tls_cert`/`tls_key`), the Traffic Monitor section, the operator state file, the
//! log level and extra environment; `refuse_with` and any other `[proxy]`
//! key (`tcp_keepalive = "1s"`), any other `[api]` key (`max_connections
//! = 8`), and per backend extra
//! keys (`proxy_protocol = "v2"`) and extra check keys (`ca`,
//! `server_name`), and the `[coordination]` table (SPEC 13) as raw lines.
//! `Builder::start` writes the file for the ports of each
//! start attempt and hands it to [`Switchboard::launch`].
//!
//! Set knobs with the methods, or with struct update syntax
//! (`Builder { public_reads: true, ..Builder::new() }`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::process::run_args;
use super::{Backend, HealthEndpoint, Ports, Switchboard, TempDir, USER};

/// Native TOML config knobs (durations in ms).
#[derive(Clone)]
pub struct Builder {
    /// (name, data address, galera check URL) in config order.
    pub backends: Vec<(String, SocketAddr, String)>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub rise: u32,
    pub fall: u32,
    pub failback: bool,
    /// `[monitor] failback_after` in ms; not written when `None` (the
    /// default of docs/configuration.md applies).
    pub failback_after_ms: Option<u64>,
    /// `[monitor] enabled`.
    pub monitoring: bool,
    pub sever_on_failover: bool,
    pub standby: bool,
    pub shutdown_delay_ms: u64,
    pub drain_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub password: String,
    pub public_reads: bool,
    pub public_metrics: bool,
    pub force_https: bool,
    pub health_listen: bool,
    pub metrics_listen: bool,
    /// The springboard page, listing `proxy_uris`.
    pub aggregator_listen: bool,
    pub proxy_uris: Vec<String>,
    pub static_dir: Option<PathBuf>,
    pub tm_cluster: String,
    pub tm_publish: &'static str,
    pub tm_public: bool,
    /// `[traffic_monitor] crconfig_file`.
    pub tm_crconfig: Option<PathBuf>,
    /// `[state] file`.
    pub state_file: Option<PathBuf>,
    /// `--log-level`.
    pub log_level: &'static str,
    pub env: Vec<(String, String)>,
    /// `[proxy] refuse_with` (`close` when None).
    pub refuse_with: Option<&'static str>,
    /// More `[proxy]` lines, e.g. `tcp_keepalive = "1s"`.
    pub proxy_keys: Vec<String>,
    /// More `[api]` lines, e.g. `max_connections = 8`.
    pub api_keys: Vec<String>,
    /// (backend name, TOML lines) added to that backend's table, e.g.
    /// `proxy_protocol = "v2"`.
    pub backend_keys: Vec<(String, String)>,
    /// (backend name, `key = value` pairs) added to that backend's inline
    /// check table, e.g. `ca = "/tmp/ca.pem", server_name = "db.test"`.
    pub check_keys: Vec<(String, String)>,
    /// (backend name, inline check table) replacing that backend's galera
    /// check, e.g. `kind = "mysql", user = "monitor", password = "..."`.
    pub checks: Vec<(String, String)>,
    /// `[api] tls_cert`, `tls_key` and the CA (PEM) the harness's client
    /// trusts for them: the API is then reached over `https://`.
    pub api_tls: Option<(PathBuf, PathBuf, String)>,
    /// The lines of a `[coordination]` table (`kind = "etcd"`, ...); no
    /// table when `None` (the default `kind = "none"`).
    pub coordination: Option<String>,
}

impl Builder {
    /// Defaults: probe every 200 ms with a generous 1 s timeout (a busy
    /// debug build must not fail probes in tests that are not about the
    /// monitor), rise = fall = 1, failback, sever on failover, no standby
    /// port, no shutdown delay or drain, 1 s connect timeout; the API closed
    /// (no public reads or metrics), no `force_https`, no extra listeners;
    /// Traffic Monitor cluster `db`, publish `health`, public; no state
    /// file; log level `info`.
    pub fn new() -> Builder {
        Builder {
            backends: Vec::new(),
            interval_ms: 200,
            timeout_ms: 1000,
            rise: 1,
            fall: 1,
            failback: true,
            failback_after_ms: None,
            monitoring: true,
            sever_on_failover: true,
            standby: false,
            shutdown_delay_ms: 0,
            drain_timeout_ms: 0,
            connect_timeout_ms: 1000,
            password: "test-secret-pw".into(),
            public_reads: false,
            public_metrics: false,
            force_https: false,
            health_listen: false,
            metrics_listen: false,
            aggregator_listen: false,
            proxy_uris: Vec::new(),
            static_dir: None,
            tm_cluster: "db".into(),
            tm_publish: "health",
            tm_public: true,
            tm_crconfig: None,
            state_file: None,
            log_level: "info",
            env: Vec::new(),
            refuse_with: None,
            proxy_keys: Vec::new(),
            api_keys: Vec::new(),
            backend_keys: Vec::new(),
            check_keys: Vec::new(),
            checks: Vec::new(),
            api_tls: None,
            coordination: None,
        }
    }

    /// Serves the API over TLS from these PEM files; the harness's client
    /// trusts `ca_pem` and speaks `https://`.
    pub fn api_tls(mut self, cert: PathBuf, key: PathBuf, ca_pem: &str) -> Builder {
        self.api_tls = Some((cert, key, ca_pem.to_string()));
        self
    }

    /// Adds a backend with a galera check against `health`.
    pub fn backend(mut self, b: &Backend, health: &HealthEndpoint) -> Builder {
        self.backends.push((b.name.clone(), b.addr, health.url()));
        self
    }

    pub fn interval(mut self, interval_ms: u64, timeout_ms: u64) -> Builder {
        self.interval_ms = interval_ms;
        self.timeout_ms = timeout_ms;
        self
    }

    pub fn rise_fall(mut self, rise: u32, fall: u32) -> Builder {
        self.rise = rise;
        self.fall = fall;
        self
    }

    pub fn failback(mut self, on: bool) -> Builder {
        self.failback = on;
        self
    }

    /// `[monitor] failback_after` (ms).
    pub fn failback_after(mut self, ms: u64) -> Builder {
        self.failback_after_ms = Some(ms);
        self
    }

    pub fn standby(mut self) -> Builder {
        self.standby = true;
        self
    }

    pub fn shutdown(mut self, delay_ms: u64, drain_ms: u64) -> Builder {
        self.shutdown_delay_ms = delay_ms;
        self.drain_timeout_ms = drain_ms;
        self
    }

    pub fn state_file(mut self, path: PathBuf) -> Builder {
        self.state_file = Some(path);
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Builder {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Adds a backend `name` at `addr` with a galera check at any `url`
    /// (`https://...`).
    pub fn backend_at(mut self, name: &str, addr: SocketAddr, url: &str) -> Builder {
        self.backends
            .push((name.to_string(), addr, url.to_string()));
        self
    }

    /// Adds a backend `name` at `addr` probed by the inline check table
    /// `check` (`kind = "mysql", user = "...", password = "..."`).
    pub fn backend_with_check(mut self, name: &str, addr: SocketAddr, check: &str) -> Builder {
        self.backends.push((name.to_string(), addr, String::new()));
        self.checks.push((name.into(), check.into()));
        self
    }

    /// Adds `key = value` pairs to the check of backend `name`.
    pub fn check_keys(mut self, name: &str, keys: &str) -> Builder {
        self.check_keys.push((name.into(), keys.into()));
        self
    }

    /// Adds a `key = value` line to `[proxy]`.
    pub fn proxy_key(mut self, line: &str) -> Builder {
        self.proxy_keys.push(line.into());
        self
    }

    /// Adds a `key = value` line to `[api]`.
    pub fn api_key(mut self, line: &str) -> Builder {
        self.api_keys.push(line.into());
        self
    }

    /// Writes a `[coordination]` table of these TOML lines (`kind =
    /// "etcd"\nendpoints = [...]`, ...).
    pub fn coordination(mut self, lines: &str) -> Builder {
        self.coordination = Some(lines.to_string());
        self
    }

    /// Adds TOML lines to the table of backend `name`.
    pub fn backend_keys(mut self, name: &str, lines: &str) -> Builder {
        self.backend_keys.push((name.into(), lines.into()));
        self
    }

    /// The TOML text for `ports`.
    pub fn toml(&self, ports: &Ports) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "[proxy]\nlisten = \"{}\"", ports.proxy);
        if self.standby {
            let _ = writeln!(t, "standby_listen = \"{}\"", ports.standby);
        }
        let _ = writeln!(
            t,
            "connect_timeout = \"{}ms\"\nshutdown_delay = \"{}ms\"\ndrain_timeout = \"{}ms\"\nsever_on_failover = {}\n",
            self.connect_timeout_ms, self.shutdown_delay_ms, self.drain_timeout_ms, self.sever_on_failover
        );
        if let Some(refuse_with) = self.refuse_with {
            let _ = writeln!(t, "refuse_with = \"{refuse_with}\"\n");
        }
        for line in &self.proxy_keys {
            let _ = writeln!(t, "{line}");
        }
        let _ = writeln!(
            t,
            "[monitor]\ninterval = \"{}ms\"\ntimeout = \"{}ms\"\nrise = {}\nfall = {}\nfailback = {}\nenabled = {}\n",
            self.interval_ms, self.timeout_ms, self.rise, self.fall, self.failback, self.monitoring
        );
        if let Some(ms) = self.failback_after_ms {
            // Still inside `[monitor]`: the blank line above ends no table.
            let _ = writeln!(t, "failback_after = \"{ms}ms\"\n");
        }
        self.api_toml(&mut t, ports);
        let _ = writeln!(
            t,
            "[traffic_monitor]\ncluster = \"{}\"\npublish = \"{}\"\npublic = {}\n",
            self.tm_cluster, self.tm_publish, self.tm_public
        );
        if let Some(file) = &self.tm_crconfig {
            // Still inside `[traffic_monitor]`: the blank line above ends no table.
            let _ = writeln!(t, "crconfig_file = \"{}\"\n", file.display());
        }
        if let Some(file) = &self.state_file {
            let _ = writeln!(t, "[state]\nfile = \"{}\"\n", file.display());
        }
        if let Some(lines) = &self.coordination {
            let _ = writeln!(t, "[coordination]\n{lines}\n");
        }
        for (name, addr, url) in &self.backends {
            let extra = |keys: &[(String, String)], sep: &str| -> String {
                keys.iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, k)| format!("{sep}{k}"))
                    .collect()
            };
            let check = match self.checks.iter().find(|(n, _)| n == name) {
                Some((_, check)) => check.clone(),
                None => format!("kind = \"galera\", url = \"{url}\""),
            };
            let _ = writeln!(
                t,
                "[[backends]]\nname = \"{name}\"\nhost = \"{}\"\nport = {}\ncheck = {{ {check}{} }}{}\n",
                addr.ip(),
                addr.port(),
                extra(&self.check_keys, ", "),
                extra(&self.backend_keys, "\n"),
            );
        }
        t
    }

    /// The `[api]` section.
    fn api_toml(&self, t: &mut String, ports: &Ports) {
        let _ = writeln!(
            t,
            "[api]\nlisten = \"{}\"\nusername = \"{USER}\"\npassword = \"{}\"\npublic_reads = {}\npublic_metrics = {}\nforce_https = {}",
            ports.api, self.password, self.public_reads, self.public_metrics, self.force_https
        );
        if self.health_listen {
            let _ = writeln!(t, "health_listen = \"{}\"", ports.health);
        }
        if self.metrics_listen {
            let _ = writeln!(t, "metrics_listen = \"{}\"", ports.metrics);
        }
        if self.aggregator_listen {
            let _ = writeln!(t, "aggregator_listen = \"{}\"", ports.aggregator);
            let uris: Vec<String> = self.proxy_uris.iter().map(|u| format!("\"{u}\"")).collect();
            let _ = writeln!(t, "proxy_uris = [{}]", uris.join(", "));
        }
        if let Some(dir) = &self.static_dir {
            let _ = writeln!(t, "static_dir = \"{}\"", dir.display());
        }
        for line in &self.api_keys {
            let _ = writeln!(t, "{line}");
        }
        if let Some((cert, key, _)) = &self.api_tls {
            let _ = writeln!(
                t,
                "tls_cert = \"{}\"\ntls_key = \"{}\"",
                cert.display(),
                key.display()
            );
        }
        t.push('\n');
    }

    /// Starts the binary with this config; panics if it does not come up.
    pub async fn start(self) -> Switchboard {
        let dir = TempDir::new("sb");
        let password = self.password.clone();
        let env = self.env.clone();
        let standby = self.standby;
        let ca = self.api_tls.as_ref().map(|(_, _, ca)| ca.clone());
        let mut sb =
            Switchboard::launch_with_tls(dir, &password, &env, standby, ca, |dir, ports| {
                let path = dir.join("switchboard.toml");
                std::fs::write(&path, self.toml(ports)).unwrap();
                let mut args = vec!["--log-level".to_string(), self.log_level.to_string()];
                args.extend(run_args(&path));
                args
            })
            .await;
        sb.builder = Some(self);
        sb
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}
