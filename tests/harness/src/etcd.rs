//! `Etcd`: one real single-member etcd (Debian's `etcd-server`, installed by
//! `scripts/install-test-databases`) on loopback, with its own client and
//! peer ports and a data directory under a [`TempDir`], for the tests of
//! `[coordination] kind = "etcd"` (SPEC 13, `tests/coordination`).
//!
//! [`Etcd::start`] waits (with a deadline) until `GET /health` says
//! `{"health":"true"}`. [`Etcd::stop`] is a clean shutdown that keeps the
//! data; [`Etcd::start_again`] serves the same data on the same ports;
//! [`Etcd::kill`] is a crash. The process is killed by its own pid on drop
//! (also when the test panicked: then its log's tail is printed), and dies
//! with the thread that started it if `Drop` never runs. [`put`], [`get`]
//! and [`keys`] talk to any endpoint (a [`super::CutRelay`]'s included)
//! through etcd's JSON gateway, so a fixture test needs no gRPC client
//! (plain `http://` endpoints only). [`Etcd::start_tls`] and
//! [`Etcd::enable_auth`] (in [`secure`]) serve the client port over TLS
//! with client certificates, and turn etcd's authentication on.
//!
//! Its data directory is on tmpfs (`/dev/shm`) when there is one: etcd
//! fsyncs its log on every write, and on a disk busy with other builds a
//! single fdatasync can take seconds, longer than a lease. The tests are
//! about switchboard, not about a slow disk; its log stays in the
//! [`TempDir`]. It never touches a system etcd, port 2379/2380 or
//! `/var/lib/etcd`, and never signals a process it did not start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use super::{free_port, TempDir};

mod secure;

pub use secure::EtcdTls;

/// How long a start may take before the harness gives up.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a clean shutdown may take before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one gateway request ([`put`], [`get`], [`keys`]) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The `etcd` binary: `ETCD_BIN`, else Debian's `/usr/bin/etcd`.
fn binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("ETCD_BIN") {
        return PathBuf::from(bin);
    }
    let bin = PathBuf::from("/usr/bin/etcd");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/install-test-databases (Debian package etcd-server) or set ETCD_BIN",
        bin.display()
    );
    bin
}

/// One running (or stopped) etcd member.
pub struct Etcd {
    /// The client port on 127.0.0.1.
    client_port: u16,
    /// The peer port on 127.0.0.1 (a single member still needs one).
    peer_port: u16,
    /// The running server; `None` after [`Etcd::stop`] or [`Etcd::kill`].
    child: Option<Child>,
    /// The client of the health checks (with the CA and the client
    /// certificate when the client port speaks TLS).
    http: reqwest::Client,
    /// The certificates of a client port served over TLS; `None`: plain
    /// `http://`.
    tls: Option<EtcdTls>,
    /// The data directory (on tmpfs when there is one), removed on drop.
    data: PathBuf,
    /// Its data directory and log; declared last so the process is killed
    /// before the directory is removed.
    dir: TempDir,
}

impl Etcd {
    /// Starts a fresh member on free loopback ports (retrying with new
    /// ones when a port was taken in the meantime) and waits until it is
    /// healthy. Panics with its log when it does not come up.
    pub async fn start() -> Etcd {
        Etcd::launch(TempDir::new("etcd"), None).await
    }

    /// [`Etcd::start`] in `dir`, serving the client port over TLS when
    /// `tls` is given (its files are in `dir`).
    async fn launch(dir: TempDir, tls: Option<EtcdTls>) -> Etcd {
        let http = match &tls {
            Some(tls) => tls.http_client(Duration::from_secs(1)),
            None => reqwest::Client::builder()
                .timeout(Duration::from_secs(1))
                .build()
                .expect("an HTTP client"),
        };
        let mut etcd = Etcd {
            client_port: 0,
            peer_port: 0,
            child: None,
            http,
            tls,
            data: data_dir(&dir),
            dir,
        };
        for attempt in 1..=5 {
            etcd.client_port = free_port();
            etcd.peer_port = free_port();
            let _ = std::fs::remove_dir_all(etcd.data_dir());
            etcd.spawn();
            match etcd.wait_healthy().await {
                Ok(()) => return etcd,
                Err(e) if attempt < 5 && etcd.log().contains("address already in use") => {
                    eprintln!("etcd: a port was taken ({e}); retrying");
                }
                Err(e) => panic!("{}", etcd.failure(&e)),
            }
        }
        unreachable!("the last attempt panics instead of retrying")
    }

    /// Stops a running member cleanly (SIGTERM, SIGKILL after
    /// [`STOP_TIMEOUT`]) and keeps its data. Returns the moment it was
    /// signalled, from which the tests measure.
    pub async fn stop(&mut self) -> Instant {
        let at = Instant::now();
        let Some(pid) = self.pid() else { return at };
        // SAFETY: kill(2) on the pid of the unreaped child this value owns.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let started = Instant::now();
        while started.elapsed() < STOP_TIMEOUT {
            if let Some(child) = self.child.as_mut() {
                if !matches!(child.try_wait(), Ok(None)) {
                    self.child = None;
                    return at;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        eprintln!("etcd: no clean shutdown within {STOP_TIMEOUT:?}; killing");
        self.kill();
        at
    }

    /// SIGKILL, then reaps it: a crash. The data directory stays.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the pid of the unreaped child this value owns.
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            let _ = child.wait();
        }
    }

    /// Starts the stopped member again on the same ports with the same
    /// data and waits until it is healthy; panics when it does not come up.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "etcd is still running");
        let started = Instant::now();
        loop {
            self.spawn();
            match self.wait_healthy().await {
                Ok(()) => return,
                // The old process's ports may linger for a moment.
                Err(_)
                    if started.elapsed() < START_TIMEOUT
                        && self.log().contains("address already in use") =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("{}", self.failure(&format!("start again: {e}"))),
            }
        }
    }

    /// `http://127.0.0.1:<client port>` (`https://` with TLS): what
    /// `[coordination] endpoints` lists (or what a [`super::CutRelay`]
    /// forwards to).
    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme(), self.addr())
    }

    /// `https` when the client port speaks TLS, else `http`.
    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// `127.0.0.1:<client port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.client_port))
    }

    /// The server's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether `GET /health` says `{"health":"true"}` right now.
    pub async fn healthy(&self) -> bool {
        let url = format!("{}/health", self.endpoint());
        let Ok(response) = self.http.get(url).send().await else {
            return false;
        };
        let bytes = response.bytes().await.unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        body["health"] == "true"
    }

    /// Everything the server logged so far (all starts, appended).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default()
    }

    fn data_dir(&self) -> PathBuf {
        self.data.clone()
    }

    /// Starts `etcd` for the current ports and data directory, output
    /// appended to `etcd.log`, with a clean environment (no inherited
    /// `ETCD_*` variable), dying with the thread that starts it.
    fn spawn(&mut self) {
        assert!(self.child.is_none(), "etcd is already running");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("etcd.log"))
            .expect("open etcd.log");
        let client = format!("{}://127.0.0.1:{}", self.scheme(), self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let mut cmd = Command::new(binary());
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .current_dir(self.dir.path())
            .args(["--name", "n0", "--data-dir"])
            .arg(self.data_dir())
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("n0={peer}")])
            .args(["--logger", "zap", "--log-level", "warn"])
            .args(self.tls.iter().flat_map(EtcdTls::server_args))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup etcd.log"))
            .stderr(out);
        crate::process::die_with_parent(&mut cmd);
        self.child = Some(cmd.spawn().expect("spawn etcd"));
    }

    /// Waits until the member is healthy; `Err` when it exits first or
    /// [`START_TIMEOUT`] passes.
    async fn wait_healthy(&mut self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!("etcd exited during start ({status})"));
                }
            }
            if self.healthy().await {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!("not healthy after {START_TIMEOUT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A failure message: `what`, then the tail of the log.
    fn failure(&self, what: &str) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!(
            "etcd (client {}, {}): {what}\n--- etcd.log tail ---\n{tail}",
            self.client_port,
            self.dir.path().display()
        )
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.failure("dropped while the test panicked"));
        }
        self.kill();
        // Memory, not disk: removed even when the test failed.
        if let Some(own) = self.data.parent().filter(|p| p.starts_with(SHM)) {
            let _ = std::fs::remove_dir_all(own);
        }
    }
}

/// Where tmpfs is on Linux.
const SHM: &str = "/dev/shm";

/// A fresh data directory for the etcd of `dir`: under [`SHM`] when it is
/// a writable directory, else inside `dir`.
fn data_dir(dir: &TempDir) -> PathBuf {
    let name = dir
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "etcd".into());
    let shm = PathBuf::from(SHM).join(format!("switchboard-{name}"));
    if std::fs::create_dir_all(&shm).is_ok() {
        return shm.join("data");
    }
    dir.join("data")
}

/// base64, as the JSON gateway encodes keys and values.
fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// One gateway call: `POST <endpoint>/v3/<path>` with `body`.
async fn gateway(endpoint: &str, path: &str, body: Value) -> Result<Value, String> {
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| e.to_string())?;
    let response = http
        .post(format!("{endpoint}/v3/{path}"))
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("{path} via {endpoint}: {e}"))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{path} via {endpoint}: {status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}: {text}"))
}

/// Puts `key` = `value` through the etcd (or relay) at `endpoint`.
pub async fn put(endpoint: &str, key: &str, value: &str) -> Result<(), String> {
    let body = json!({"key": b64(key), "value": b64(value)});
    gateway(endpoint, "kv/put", body).await.map(|_| ())
}

/// The value of `key`, `None` when it is absent.
pub async fn get(endpoint: &str, key: &str) -> Result<Option<String>, String> {
    let answer = gateway(endpoint, "kv/range", json!({"key": b64(key)})).await?;
    let Some(value) = answer["kvs"][0]["value"].as_str() else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|e| e.to_string())?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Every key under `prefix`, in order (what an instance wrote there).
pub async fn keys(endpoint: &str, prefix: &str) -> Result<Vec<String>, String> {
    // The range end of a prefix: its last byte plus one.
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    let body = json!({
        "key": b64(prefix),
        "range_end": base64::engine::general_purpose::STANDARD.encode(&end),
        "keys_only": true,
    });
    let answer = gateway(endpoint, "kv/range", body).await?;
    let kvs = answer["kvs"].as_array().cloned().unwrap_or_default();
    kvs.iter()
        .map(|kv| {
            let key = kv["key"].as_str().unwrap_or_default();
            base64::engine::general_purpose::STANDARD
                .decode(key)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|e| e.to_string())
        })
        .collect()
}
