//! `GoConfig`: the Go switchboard's own configuration file (docs/configuration.md ("Go switchboard format")),
//! shaped like that program's documented example (cf. its
//! `validConfig.yml`) plus pxc-release's `BindAddress`, `Metrics` and
//! `API.TLS` (the API over TLS, with inline PEMs),
//! pointed at loopback ports, written as YAML or (the same document) JSON,
//! and started with `run --config`.

use std::fmt::Write as _;

use super::process::run_args;
use super::{Backend, HealthEndpoint, Ports, Switchboard, TempDir, TestCa, USER};

/// The knobs of a Go-format file. Every backend gets `StatusEndpoint:
/// api/v1/status` on its health endpoint's port; `HealthcheckTimeoutMillis`
/// is 500 (so switchboard probes every 100 ms).
pub struct GoConfig<'a> {
    pub backends: Vec<(&'a Backend, &'a HealthEndpoint)>,
    pub password: String,
    pub force_https: bool,
    /// `StaticDir`; `None` leaves the key out.
    pub static_dir: Option<String>,
    /// `Metrics: {Enabled: true, Port: <ports.metrics>}`.
    pub metrics: bool,
    /// `API.ProxyURIs`; empty leaves the key out.
    pub proxy_uris: Vec<String>,
    /// `API.TLS: {Enabled: true, Certificate, PrivateKey}` with this CA's
    /// server certificate; the harness's client then trusts the CA.
    pub api_tls: Option<&'a TestCa>,
}

impl<'a> GoConfig<'a> {
    pub fn new(backends: Vec<(&'a Backend, &'a HealthEndpoint)>, password: &str) -> GoConfig<'a> {
        GoConfig {
            backends,
            password: password.to_string(),
            force_https: false,
            static_dir: None,
            metrics: false,
            proxy_uris: Vec::new(),
            api_tls: None,
        }
    }

    /// The YAML text for `p`.
    pub fn yaml(&self, p: &Ports) -> String {
        let mut y = String::new();
        let _ = writeln!(
            y,
            "API:\n  Port: {}\n  AggregatorPort: {}\n  Username: {USER}\n  Password: {}\n  ForceHttps: {}",
            p.api.port(),
            p.aggregator.port(),
            self.password,
            self.force_https
        );
        if !self.proxy_uris.is_empty() {
            let _ = writeln!(y, "  ProxyURIs: [{}]", self.proxy_uris.join(", "));
        }
        if let Some(ca) = self.api_tls {
            let block =
                |pem: &str| -> String { pem.lines().map(|l| format!("      {l}\n")).collect() };
            let _ = write!(
                y,
                "  TLS:\n    Enabled: true\n    Certificate: |\n{}    PrivateKey: |\n{}",
                block(&ca.cert_pem),
                block(&ca.key_pem)
            );
        }
        let _ = writeln!(
            y,
            "Proxy:\n  Port: {}\n  HealthcheckTimeoutMillis: 500\n  Backends:",
            p.proxy.port()
        );
        for (b, h) in &self.backends {
            let _ = writeln!(
                y,
                "  - Host: 127.0.0.1\n    Port: {}\n    StatusPort: {}\n    StatusEndpoint: api/v1/status\n    Name: {}",
                b.addr.port(),
                h.addr.port(),
                b.name
            );
        }
        let _ = writeln!(y, "HealthPort: {}", p.health.port());
        if let Some(dir) = &self.static_dir {
            let _ = writeln!(y, "StaticDir: {dir}");
        }
        if self.metrics {
            let _ = writeln!(y, "Metrics:\n  Enabled: true\n  Port: {}", p.metrics.port());
        }
        let _ = writeln!(y, "BindAddress: 127.0.0.1");
        y
    }

    /// Starts the binary with this file as `switchboard.<extension>`
    /// (`yml`, `yaml` or `json`) in `dir`.
    pub async fn start(&self, dir: TempDir, extension: &str) -> Switchboard {
        let ca = self.api_tls.map(|ca| ca.ca_pem.clone());
        Switchboard::launch_with_tls(dir, &self.password, &[], false, ca, |dir, ports| {
            let yaml = self.yaml(ports);
            let path = dir.join(format!("switchboard.{extension}"));
            let text = if extension == "json" {
                let value: serde_json::Value = serde_norway::from_str(&yaml).unwrap();
                value.to_string()
            } else {
                yaml
            };
            std::fs::write(&path, text).unwrap();
            run_args(&path)
        })
        .await
    }
}
