//! `Switchboard`: the real binary under test, started from a config file in
//! a temp dir, read through its API, signalled and killed by its own pid.
//!
//! [`Switchboard::launch`] starts the binary with any arguments (`run
//! --config` with a TOML file from [`super::Builder`] or a Go YAML file,
//! `demo ...`) and
//! waits until `GET /v0/state` answers, which the runner only serves after
//! the proxy ports are bound. Ports are picked free beforehand; a start that
//! fails because a port was taken in the meantime is retried with new ones.
//! Every API request carries basic auth (`admin:<password>`) and
//! `X-Forwarded-Proto: https`, so tests keep working when auth and
//! `force_https` are enforced. Dropping a `Switchboard` SIGKILLs its child
//! (and the child dies with the test thread even if `Drop` never runs);
//! when the test panicked, the tail of the binary's stderr is printed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use super::builder::Ports;
use super::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
pub const USER: &str = "admin";

/// A running `switchboard run`.
pub struct Switchboard {
    pub proxy: SocketAddr,
    /// Set when the config has a standby port.
    pub standby: Option<SocketAddr>,
    pub api: SocketAddr,
    pub ports: Ports,
    pub password: String,
    child: Child,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    http: reqwest::Client,
    dir: TempDir,
}

impl Switchboard {
    /// Starts the binary with the arguments `args` returns for a set of
    /// ports (writing a config file into the temp dir if it needs one).
    /// Retries with fresh ports when one was taken between picking and
    /// binding.
    pub async fn launch(
        mut dir: TempDir,
        password: &str,
        env: &[(String, String)],
        standby: bool,
        args: impl Fn(&Path, &Ports) -> Vec<String>,
    ) -> Switchboard {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        for attempt in 1..=5 {
            let ports = Ports::fresh();
            let args = args(dir.path(), &ports);
            let stdout_path = dir.join(&format!("stdout-{attempt}.log"));
            let stderr_path = dir.join(&format!("stderr-{attempt}.log"));
            let mut cmd = Command::new(BIN);
            cmd.args(&args);
            die_with_parent(&mut cmd);
            cmd.env_remove("RUST_LOG")
                .env_remove("SWITCHBOARD_API_PASSWORD");
            // `SB_TEST_LOG=switchboard=debug cargo test ...` for more detail.
            if let Ok(filter) = std::env::var("SB_TEST_LOG") {
                cmd.env("RUST_LOG", filter);
            }
            for (k, v) in env {
                cmd.env(k, v);
            }
            cmd.stdin(Stdio::null())
                .stdout(std::fs::File::create(&stdout_path).unwrap())
                .stderr(std::fs::File::create(&stderr_path).unwrap());
            let child = cmd.spawn().expect("spawn switchboard");
            let mut sb = Switchboard {
                proxy: ports.proxy,
                standby: standby.then_some(ports.standby),
                api: ports.api,
                ports,
                password: password.to_string(),
                child,
                stdout_path,
                stderr_path,
                http: http.clone(),
                dir,
            };
            let started = Instant::now();
            loop {
                if let Some(status) = sb.child.try_wait().unwrap() {
                    let log = sb.stderr();
                    if attempt < 5 && (log.contains("cannot bind") || log.contains("in use")) {
                        break; // a port was taken: retry with new ones
                    }
                    panic!("switchboard exited during start ({status}):\n{log}");
                }
                if sb.try_state().await.is_some() {
                    return sb;
                }
                if started.elapsed() > Duration::from_secs(30) {
                    panic!(
                        "switchboard did not answer /v0/state within 30 s:\n{}",
                        sb.stderr()
                    );
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            dir = std::mem::replace(&mut sb.dir, TempDir::new("unused"));
        }
        unreachable!("the last attempt panics instead of retrying")
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// A request to the API with the harness's credentials.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("http://{}{path}", self.api))
            .basic_auth(USER, Some(&self.password))
            .header("X-Forwarded-Proto", "https")
    }

    /// `GET /v0/state`, or `None` when the API does not answer 200.
    pub async fn try_state(&self) -> Option<Value> {
        let response = self
            .request(reqwest::Method::GET, "/v0/state")
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        serde_json::from_slice(&response.bytes().await.ok()?).ok()
    }

    /// `GET /v0/state`; panics when the API does not answer.
    pub async fn state(&self) -> Value {
        match self.try_state().await {
            Some(v) => v,
            None => panic!("GET /v0/state failed; stderr:\n{}", self.stderr()),
        }
    }

    /// The active backend's name.
    pub async fn active(&self) -> Option<String> {
        self.state().await["active"].as_str().map(str::to_string)
    }

    /// Waits until the state satisfies `pred`; returns that state.
    pub async fn wait_state(
        &self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = Instant::now();
        loop {
            if let Some(state) = self.try_state().await {
                if pred(&state) {
                    return state;
                }
                if started.elapsed() > timeout {
                    panic!(
                        "timed out after {timeout:?} waiting for: {what}\nlast state: {state:#}"
                    );
                }
            } else if started.elapsed() > timeout {
                panic!("timed out after {timeout:?} waiting for: {what} (API not answering)");
            }
            tokio::time::sleep(super::POLL).await;
        }
    }

    /// Waits until `active` is `name` (None: no active).
    pub async fn wait_active(&self, name: Option<&str>, timeout: Duration) -> Value {
        self.wait_state(timeout, &format!("active = {name:?}"), |s| {
            s["active"].as_str() == name
        })
        .await
    }

    /// `PATCH` with a JSON body (or none); returns status and parsed body.
    pub async fn patch(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.request(reqwest::Method::PATCH, path);
        if let Some(body) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = req.send().await.expect("PATCH request");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Sends a signal to the child (by its pid; only ours).
    pub fn signal(&self, signal: i32) {
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal}) failed", self.pid());
    }

    /// Waits for the child to exit; panics after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > timeout {
                panic!(
                    "switchboard still running {timeout:?} later:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(super::POLL).await;
        }
    }

    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Everything the binary wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Everything the binary wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Log lines containing `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        self.stderr()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Switchboard {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            unsafe { libc::kill(self.pid(), libc::SIGKILL) };
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            let log = self.stderr();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            eprintln!("---- switchboard stderr (last {} lines) ----", tail.len());
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// Makes the child die with the thread that started it (Linux), so a test
/// process that aborts (and never runs `Drop`) leaves no switchboard behind.
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; nothing else runs in the child.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// `run --config <path>`.
pub fn run_args(path: &Path) -> Vec<String> {
    vec!["run".into(), "--config".into(), path.display().to_string()]
}

/// The backend named `name` in a `/v0/state` value.
pub fn backend<'a>(state: &'a Value, name: &str) -> &'a Value {
    state["backends"]
        .as_array()
        .and_then(|bs| bs.iter().find(|b| b["name"] == name))
        .unwrap_or_else(|| panic!("no backend {name} in state {state:#}"))
}

/// The proxy's open-session count of one backend (both ports).
pub fn sessions(state: &Value, name: &str) -> u64 {
    backend(state, name)["sessions"]["total"]
        .as_u64()
        .expect("sessions.total")
}

/// Runs the binary with `args` to completion (killed after `timeout`);
/// returns (exit code, stdout, stderr).
pub fn run_cli(args: &[&str], timeout: Duration) -> (Option<i32>, String, String) {
    let dir = TempDir::new("cli");
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut cmd = Command::new(BIN);
    die_with_parent(&mut cmd);
    let mut child = cmd
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("SWITCHBOARD_API_PASSWORD")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("spawn switchboard");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > timeout {
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (status.and_then(|s| s.code()), read(&out), read(&err))
}
