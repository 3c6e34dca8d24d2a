//! `Sb`: the real `switchboard run` binary under test, configured through
//! native TOML with every API knob ([`Knobs`]), with an HTTP client that
//! speaks to its listeners. Ports are picked free first; a start that loses
//! a port race is retried with fresh ones. Dropping an `Sb` SIGKILLs its
//! child (by pid) and, when the test panicked, prints its stderr tail.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder};
use serde_json::Value;

use super::{free_addr, EchoBackend, HealthEndpoint, TempDir, POLL};

pub const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
pub const USER: &str = "admin";

/// Configuration knobs (durations in ms).
#[derive(Clone)]
pub struct Knobs {
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub password: String,
    pub public_reads: bool,
    pub public_metrics: bool,
    pub force_https: bool,
    pub health_listen: bool,
    pub metrics_listen: bool,
    pub aggregator_listen: bool,
    pub proxy_uris: Vec<String>,
    pub standby: bool,
    pub static_dir: Option<PathBuf>,
    pub tm_cluster: String,
    pub tm_publish: &'static str,
    pub tm_public: bool,
    pub log_level: &'static str,
    pub env: Vec<(String, String)>,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            interval_ms: 100,
            timeout_ms: 80,
            password: "pa55-w0rd-for-api-tests".into(),
            public_reads: false,
            public_metrics: false,
            force_https: false,
            health_listen: false,
            metrics_listen: false,
            aggregator_listen: false,
            proxy_uris: Vec::new(),
            standby: false,
            static_dir: None,
            tm_cluster: "db".into(),
            tm_publish: "health",
            tm_public: true,
            log_level: "info",
            env: Vec::new(),
        }
    }
}

/// The ports of one start attempt.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub proxy: SocketAddr,
    pub standby: SocketAddr,
    pub api: SocketAddr,
    pub health: SocketAddr,
    pub metrics: SocketAddr,
    pub aggregator: SocketAddr,
}

impl Knobs {
    /// The TOML for these knobs, backends and ports.
    pub fn toml(&self, backends: &[(&EchoBackend, &HealthEndpoint)], p: &Ports) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "[proxy]\nlisten = \"{}\"", p.proxy);
        if self.standby {
            let _ = writeln!(t, "standby_listen = \"{}\"", p.standby);
        }
        let _ = writeln!(t, "connect_timeout = \"500ms\"\n");
        let _ = writeln!(
            t,
            "[monitor]\ninterval = \"{}ms\"\ntimeout = \"{}ms\"\n",
            self.interval_ms, self.timeout_ms
        );
        let _ = writeln!(
            t,
            "[api]\nlisten = \"{}\"\nusername = \"{USER}\"\npassword = \"{}\"\npublic_reads = {}\npublic_metrics = {}\nforce_https = {}",
            p.api, self.password, self.public_reads, self.public_metrics, self.force_https
        );
        if self.health_listen {
            let _ = writeln!(t, "health_listen = \"{}\"", p.health);
        }
        if self.metrics_listen {
            let _ = writeln!(t, "metrics_listen = \"{}\"", p.metrics);
        }
        if self.aggregator_listen {
            let _ = writeln!(t, "aggregator_listen = \"{}\"", p.aggregator);
            let uris: Vec<String> = self.proxy_uris.iter().map(|u| format!("\"{u}\"")).collect();
            let _ = writeln!(t, "proxy_uris = [{}]", uris.join(", "));
        }
        if let Some(dir) = &self.static_dir {
            let _ = writeln!(t, "static_dir = \"{}\"", dir.display());
        }
        let _ = writeln!(
            t,
            "\n[traffic_monitor]\ncluster = \"{}\"\npublish = \"{}\"\npublic = {}\n",
            self.tm_cluster, self.tm_publish, self.tm_public
        );
        for (b, h) in backends {
            let _ = writeln!(
                t,
                "[[backends]]\nname = \"{}\"\nhost = \"127.0.0.1\"\nport = {}\ncheck = {{ kind = \"galera\", url = \"{}\" }}\n",
                b.name,
                b.addr.port(),
                h.url()
            );
        }
        t
    }
}

/// A running `switchboard run`.
pub struct Sb {
    pub ports: Ports,
    pub password: String,
    pub knobs: Knobs,
    child: Child,
    stderr_path: PathBuf,
    pub http: reqwest::Client,
    pub dir: TempDir,
}

impl Sb {
    /// Starts the binary with native TOML; returns once `GET /v0/state`
    /// answers 200.
    pub async fn start(knobs: Knobs, backends: &[(&EchoBackend, &HealthEndpoint)]) -> Sb {
        let write = |ports: &Ports| ("toml", knobs.toml(backends, ports));
        Sb::launch(knobs.clone(), write).await
    }

    /// Starts the binary with the config text `write` returns for a set of
    /// ports, as `(extension, text)`; `knobs` supplies the password and the
    /// environment. Returns once `GET /v0/state` answers 200.
    pub async fn launch(knobs: Knobs, write: impl Fn(&Ports) -> (&'static str, String)) -> Sb {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let mut dir = TempDir::new("api");
        for attempt in 1..=5 {
            let ports = Ports {
                proxy: free_addr(),
                standby: free_addr(),
                api: free_addr(),
                health: free_addr(),
                metrics: free_addr(),
                aggregator: free_addr(),
            };
            let (ext, text) = write(&ports);
            let config = dir.join(&format!("switchboard-{attempt}.{ext}"));
            std::fs::write(&config, text).unwrap();
            let stderr_path = dir.join(&format!("stderr-{attempt}.log"));
            let mut cmd = Command::new(BIN);
            cmd.args(["--log-level", knobs.log_level, "run", "--config"])
                .arg(&config)
                .env_remove("RUST_LOG")
                .env_remove("SWITCHBOARD_API_PASSWORD");
            for (k, v) in &knobs.env {
                cmd.env(k, v);
            }
            let child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&stderr_path).unwrap())
                .spawn()
                .expect("spawn switchboard");
            let mut sb = Sb {
                ports,
                password: knobs.password.clone(),
                knobs: knobs.clone(),
                child,
                stderr_path,
                http: http.clone(),
                dir,
            };
            let started = Instant::now();
            loop {
                if let Some(status) = sb.child.try_wait().unwrap() {
                    let log = sb.stderr();
                    if attempt < 5 && log.contains("cannot bind") {
                        break;
                    }
                    panic!("switchboard exited during start ({status}):\n{log}");
                }
                if let Ok(r) = sb.get("/v0/state").send().await {
                    if r.status() == 200 {
                        return sb;
                    }
                }
                if started.elapsed() > Duration::from_secs(30) {
                    panic!("switchboard did not come up within 30 s:\n{}", sb.stderr());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let _ = sb.child.wait();
            dir = std::mem::replace(&mut sb.dir, TempDir::new("unused"));
        }
        unreachable!("the last attempt panics instead of retrying")
    }

    pub fn api_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.ports.api)
    }

    /// A request with no credentials and no forwarding headers.
    pub fn bare(&self, method: Method, url: &str) -> RequestBuilder {
        self.http.request(method, url)
    }

    /// A request to the API with the right credentials (and
    /// `X-Forwarded-Proto: https`, so `force_https` lets it through).
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.api_url(path))
            .basic_auth(USER, Some(&self.password))
            .header("X-Forwarded-Proto", "https")
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.req(Method::GET, path)
    }

    /// GET with credentials, returning the JSON body; panics unless 200.
    pub async fn json(&self, path: &str) -> Value {
        let r = self.get(path).send().await.expect("GET");
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    pub async fn state(&self) -> Value {
        self.json("/v0/state").await
    }

    /// Sends a request and returns (status, parsed JSON or Null).
    pub async fn call(&self, rb: RequestBuilder) -> (u16, Value) {
        let r = rb.send().await.expect("request");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Waits until `/v0/state` satisfies `pred`; returns that state.
    pub async fn wait_state(
        &self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = Instant::now();
        loop {
            let s = self.state().await;
            if pred(&s) {
                return s;
            }
            if started.elapsed() > timeout {
                panic!("timed out after {timeout:?} waiting for {what}; last state:\n{s:#}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the active backend is `name`.
    pub async fn wait_active(&self, name: Option<&str>) -> Value {
        self.wait_state(
            Duration::from_secs(10),
            &format!("active = {name:?}"),
            |s| s["active"].as_str() == name,
        )
        .await
    }

    /// Everything the binary wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGTERM, then wait (bounded) for the exit.
    pub async fn stop(&mut self) {
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let started = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(10) {
                panic!("switchboard did not exit on SIGTERM:\n{}", self.stderr());
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Sb {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            unsafe { libc::kill(self.pid(), libc::SIGKILL) };
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            let log = self.stderr();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("---- switchboard stderr (last {} lines) ----", tail.len());
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// A cluster of `n` echo backends `db-0..` with health endpoints whose
/// `wsrep_local_index` is their position.
pub struct Fleet {
    pub backends: Vec<EchoBackend>,
    pub health: Vec<HealthEndpoint>,
}

impl Fleet {
    pub async fn start(n: usize) -> Fleet {
        let mut backends = Vec::new();
        let mut health = Vec::new();
        for i in 0..n {
            backends.push(EchoBackend::start(&format!("db-{i}")).await);
            health.push(HealthEndpoint::start(i as u64).await);
        }
        Fleet { backends, health }
    }

    pub fn pairs(&self) -> Vec<(&EchoBackend, &HealthEndpoint)> {
        self.backends.iter().zip(self.health.iter()).collect()
    }

    /// Starts switchboard in front of this fleet and waits for `db-0` active.
    pub async fn switchboard(&self, knobs: Knobs) -> Sb {
        let sb = Sb::start(knobs, &self.pairs()).await;
        sb.wait_active(Some("db-0")).await;
        sb
    }
}
