//! `Switchboard`: the real binary under test, started from a config file in
//! a temp dir, signalled, restarted and killed by its own pid. Its HTTP API
//! is in [`super::api`].
//!
//! [`Switchboard::launch`] starts the binary with any arguments (`run
//! --config` with a TOML file from [`super::Builder`] or a Go file from
//! [`super::GoConfig`], `demo ...`) and waits until `GET /v0/state`
//! answers, which the runner only serves after the proxy ports are bound.
//! Ports are picked free beforehand; a start that fails because a port was
//! taken in the meantime is retried with new ones. [`Switchboard::restart`]
//! starts an exited binary again with the very same arguments (same config
//! file, same ports). Dropping a `Switchboard` SIGKILLs its child (and the
//! child dies with the test thread even if `Drop` never runs); when the test
//! panicked, the tail of the binary's stderr is printed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use super::process::spawn;
use super::{Builder, Ports, TempDir};

/// How long a start may take before the harness gives up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `switchboard run` (or `demo`).
pub struct Switchboard {
    pub proxy: SocketAddr,
    /// Set when the config has a standby port.
    pub standby: Option<SocketAddr>,
    pub api: SocketAddr,
    pub ports: Ports,
    pub password: String,
    /// The config it was started from, when [`Builder::start`] started it.
    pub(super) builder: Option<Builder>,
    pub(super) http: reqwest::Client,
    /// `http`, or `https` when the API is served over TLS.
    pub(super) scheme: &'static str,
    args: Vec<String>,
    env: Vec<(String, String)>,
    child: Child,
    /// Starts so far (the first launch attempt is 1), for log file names.
    starts: u32,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    dir: TempDir,
}

impl Switchboard {
    /// Starts the binary with the arguments `args` returns for a set of
    /// ports (writing a config file into the temp dir if it needs one).
    /// Retries with fresh ports when one was taken between picking and
    /// binding.
    pub async fn launch(
        dir: TempDir,
        password: &str,
        env: &[(String, String)],
        standby: bool,
        args: impl Fn(&Path, &Ports) -> Vec<String>,
    ) -> Switchboard {
        Switchboard::launch_with_tls(dir, password, env, standby, None, args).await
    }

    /// [`Self::launch`] for a binary whose API is served over TLS with a
    /// certificate signed by `api_ca` (PEM), when given: the harness's
    /// client speaks `https://` and trusts that CA.
    pub async fn launch_with_tls(
        mut dir: TempDir,
        password: &str,
        env: &[(String, String)],
        standby: bool,
        api_ca: Option<String>,
        args: impl Fn(&Path, &Ports) -> Vec<String>,
    ) -> Switchboard {
        let mut http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(0);
        if let Some(pem) = &api_ca {
            let ca = reqwest::Certificate::from_pem(pem.as_bytes()).expect("the API's CA");
            http = http.add_root_certificate(ca);
        }
        let http = http.build().unwrap();
        let scheme = if api_ca.is_some() { "https" } else { "http" };
        let mut env = env.to_vec();
        // `SB_TEST_LOG=switchboard=debug cargo test ...` for more detail.
        if let Ok(filter) = std::env::var("SB_TEST_LOG") {
            env.push(("RUST_LOG".into(), filter));
        }
        for attempt in 1..=5 {
            let ports = Ports::fresh();
            let args = args(dir.path(), &ports);
            let stdout_path = dir.join(&format!("stdout-{attempt}.log"));
            let stderr_path = dir.join(&format!("stderr-{attempt}.log"));
            let child = spawn(&args, &env, &stdout_path, &stderr_path);
            let mut sb = Switchboard {
                proxy: ports.proxy,
                standby: standby.then_some(ports.standby),
                api: ports.api,
                ports,
                password: password.to_string(),
                builder: None,
                http: http.clone(),
                scheme,
                args,
                env: env.clone(),
                child,
                starts: attempt,
                stdout_path,
                stderr_path,
                dir,
            };
            match sb.wait_started().await {
                Ok(()) => return sb,
                Err(log)
                    if attempt < 5 && (log.contains("cannot bind") || log.contains("in use")) =>
                {
                    // A port was taken: retry with new ones.
                    dir = std::mem::replace(&mut sb.dir, TempDir::new("unused"));
                }
                Err(log) => panic!("switchboard exited during start:\n{log}"),
            }
        }
        unreachable!("the last attempt panics instead of retrying")
    }

    /// `switchboard demo` (with `--backends n` when given) on free ports,
    /// standby port included; the demo's API password is `switchboard`.
    pub async fn demo(backends: Option<u16>) -> Switchboard {
        Switchboard::launch(TempDir::new("demo"), "switchboard", &[], true, |_, p| {
            let mut args = vec!["demo".to_string()];
            if let Some(n) = backends {
                args.extend(["--backends".to_string(), n.to_string()]);
            }
            for (flag, addr) in [
                ("--listen", p.proxy),
                ("--standby-listen", p.standby),
                ("--api-listen", p.api),
            ] {
                args.extend([flag.to_string(), addr.to_string()]);
            }
            args
        })
        .await
    }

    /// Starts the binary again, after it exited, with the same arguments:
    /// the same config file and the same ports. Panics if it does not come
    /// up. Output goes to new log files; [`Self::stderr`] reads the new one.
    pub async fn restart(&mut self) {
        assert!(self.exited(), "restart: switchboard is still running");
        self.starts += 1;
        self.stdout_path = self.dir.join(&format!("stdout-{}.log", self.starts));
        self.stderr_path = self.dir.join(&format!("stderr-{}.log", self.starts));
        self.child = spawn(&self.args, &self.env, &self.stdout_path, &self.stderr_path);
        if let Err(log) = self.wait_started().await {
            panic!("switchboard exited during restart:\n{log}");
        }
    }

    /// Waits until `/v0/state` answers; `Err(stderr)` if the child exits
    /// first. Panics after [`START_TIMEOUT`].
    async fn wait_started(&mut self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("({status})\n{}", self.stderr()));
            }
            if self.try_state().await.is_some() {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                panic!(
                    "switchboard did not answer /v0/state within {START_TIMEOUT:?}:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The config this run was started from by [`Builder::start`].
    pub fn builder(&self) -> &Builder {
        self.builder
            .as_ref()
            .expect("this switchboard was not started by Builder::start")
    }

    /// The config file [`Builder::start`] wrote (reloads re-read it).
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("switchboard.toml")
    }

    /// Rewrites the config file from `builder` with these `ports` (the
    /// running ones unless a test moves one); nothing reloads it yet.
    pub fn write_config(&self, builder: &Builder, ports: &Ports) {
        std::fs::write(self.config_path(), builder.toml(ports)).expect("write the config file");
    }

    /// `POST /v0/reload`: the status and the JSON answer.
    pub async fn reload(&self) -> (u16, serde_json::Value) {
        self.call(self.request(reqwest::Method::POST, "/v0/reload"))
            .await
    }

    /// Sends a signal to the child (by its pid; only ours).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on the pid of the child this value owns.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal}) failed", self.pid());
    }

    /// SIGTERM, then waits (at most 10 s) for the exit.
    pub async fn stop(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit(Duration::from_secs(10)).await
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

    /// Everything the binary wrote to stdout so far (this start).
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Everything the binary wrote to stderr so far (this start).
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
            // SAFETY: kill(2) on the pid of the child this value owns.
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
