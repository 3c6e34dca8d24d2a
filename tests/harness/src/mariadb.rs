//! `MariaDb`: one real `mariadbd` (Debian's package, installed by
//! `scripts/install-test-databases`) that a test starts on loopback with its
//! own port, data directory, socket, pid file and `my.cnf` under a
//! [`TempDir`], and stops by its own pid: SIGKILL on drop, also when the
//! test panicked (then the error log's tail is printed), and it dies with
//! the thread that started it if `Drop` never runs.
//!
//! [`MariaDb::start`] is a standalone server with two accounts besides a
//! password-less `root`: [`MONITOR_USER`] with only USAGE (what the `mysql`
//! check of docs/configuration.md needs) and [`APP_USER`] with every right
//! on [`APP_DATABASE`]. The same type is a Galera node
//! ([`super::galera`]); its SQL helpers are in [`super::mariadb_sql`], where its programs are
//! and whom they run as in [`super::mariadb_env`].
//!
//! It never touches the system service, port 3306 or `/var/lib/mysql`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::mariadb_env::{prepare_command, BINARIES, RUN_AS};
pub use super::mariadb_env::{skip_db_tests, SKIP_ENV};
use super::{free_port, TempDir};

/// The account with only USAGE that probes use.
pub const MONITOR_USER: &str = "switchboard-monitor";
/// [`MONITOR_USER`]'s password.
pub const MONITOR_PASSWORD: &str = "monitor-pw-4f1c";
/// The account with all rights on [`APP_DATABASE`], for client traffic.
pub const APP_USER: &str = "switchboard-app";
/// [`APP_USER`]'s password.
pub const APP_PASSWORD: &str = "app-pw-93be";
/// The database [`APP_USER`] owns.
pub const APP_DATABASE: &str = "test";
/// How long a start (including a Galera join with SST) may take.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a clean shutdown may take before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// One `mariadbd`: its files, its port and its process.
pub struct MariaDb {
    /// A name for messages (`mariadb`, `galera node 1`).
    pub(crate) name: String,
    /// The SQL port on 127.0.0.1.
    pub(crate) port: u16,
    /// Whether it is a Galera node (ready means `wsrep_local_state` 4).
    pub(crate) galera: bool,
    /// The running server, `None` after kill/stop.
    child: Option<Child>,
    /// The `my.cnf` every start reads (`--defaults-file`).
    cnf: PathBuf,
    /// Its files; declared last so the process is killed before removal.
    dir: TempDir,
}

impl MariaDb {
    /// Starts a standalone server (retrying on a port taken in the
    /// meantime) and creates [`MONITOR_USER`], [`APP_USER`] and
    /// [`APP_DATABASE`]. Panics with the error log on failure.
    pub async fn start() -> MariaDb {
        let _ = &*BINARIES;
        let mut db = MariaDb::prepare("mariadb", "mariadb", false);
        db.install().await;
        for attempt in 1..=5 {
            db.write_cnf(free_port(), "");
            db.spawn(&[]);
            match db.wait_ready().await {
                Ok(()) => break,
                Err(e) if attempt < 5 && db.port_taken() => {
                    eprintln!("mariadb: port {} was taken ({e}); retrying", db.port);
                }
                Err(e) => panic!("{}", db.failure(&e)),
            }
        }
        db.create_accounts().await;
        db
    }

    /// A server whose files exist but that is not started yet.
    pub(crate) fn prepare(tag: &str, name: &str, galera: bool) -> MariaDb {
        let dir = TempDir::new(tag);
        for sub in ["data", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).expect("create the server's folders");
        }
        if let Some((uid, gid)) = *RUN_AS {
            for p in [dir.path().to_path_buf(), dir.join("data"), dir.join("tmp")] {
                std::os::unix::fs::chown(&p, Some(uid), Some(gid)).expect("chown to mysql");
            }
        }
        MariaDb {
            name: name.to_string(),
            port: 0,
            galera,
            child: None,
            cnf: dir.join("my.cnf"),
            dir,
        }
    }

    /// Writes `my.cnf` for `port` with `extra` lines appended to the
    /// `[mariadbd]` group: loopback only, its own socket and pid file, and
    /// buffers small enough for five servers beside the tests.
    pub(crate) fn write_cnf(&mut self, port: u16, extra: &str) {
        self.port = port;
        let d = self.dir.path().display();
        let cnf = format!(
            "# Written by switchboard-harness (tests/harness/src/mariadb.rs).\n\
             [mariadbd]\n\
             datadir={d}/data\ntmpdir={d}/tmp\nsocket={d}/mysqld.sock\n\
             pid-file={d}/mysqld.pid\nlog-error={d}/error.log\n\
             port={port}\nbind-address=127.0.0.1\nskip-name-resolve\n\
             innodb_buffer_pool_size=16M\ninnodb_log_file_size=8M\n\
             innodb_log_buffer_size=2M\ninnodb_flush_log_at_trx_commit=2\n\
             key_buffer_size=1M\nmax_connections=200\nperformance_schema=OFF\n\
             {extra}"
        );
        std::fs::write(&self.cnf, cnf).expect("write my.cnf");
    }

    /// Creates the data directory (`mariadb-install-db`, root without a
    /// password over loopback, no `test` database yet).
    pub(crate) async fn install(&mut self) {
        self.write_cnf(0, "");
        let log = self.dir.join("install.log");
        let out = std::fs::File::create(&log).expect("create install.log");
        let mut cmd = Command::new(&BINARIES.install_db);
        cmd.arg(format!("--defaults-file={}", self.cnf.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup install.log"))
            .stderr(out);
        prepare_command(&mut cmd, self.dir.path());
        let status = tokio::process::Command::from(cmd)
            .status()
            .await
            .expect("run mariadb-install-db");
        if !status.success() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("mariadb-install-db failed ({status}):\n{text}");
        }
    }

    /// Starts `mariadbd` with `extra` arguments (`--wsrep-new-cluster`).
    pub(crate) fn spawn(&mut self, extra: &[&str]) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("stdout.log"))
            .expect("open stdout.log");
        let mut cmd = Command::new(&BINARIES.mariadbd);
        cmd.arg(format!("--defaults-file={}", self.cnf.display()))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup stdout.log"))
            .stderr(out);
        prepare_command(&mut cmd, self.dir.path());
        self.child = Some(cmd.spawn().expect("spawn mariadbd"));
    }

    /// Waits until the server accepts root's login (a Galera node: and is
    /// Synced), or fails when it exits or [`START_TIMEOUT`] passes.
    pub(crate) async fn wait_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!("mariadbd exited during start ({status})"));
                }
            } else {
                return Err("mariadbd is not running".into());
            }
            let ready = if self.galera {
                matches!(self.wsrep().await, Ok(s) if s.local_state == 4 && s.ready)
            } else if let Ok(conn) = self.try_root().await {
                let _ = tokio::time::timeout(Duration::from_secs(2), conn.disconnect()).await;
                true
            } else {
                false
            };
            if ready {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!("not ready after {START_TIMEOUT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the last start failed because a port was taken.
    pub(crate) fn port_taken(&self) -> bool {
        let log = self.error_log();
        log.contains("Address already in use") || log.contains("Can't start server: Bind")
    }

    /// Creates the monitor and app accounts and the app database.
    pub(crate) async fn create_accounts(&self) {
        for q in [
            format!("CREATE USER '{MONITOR_USER}'@'%' IDENTIFIED BY '{MONITOR_PASSWORD}'"),
            format!("CREATE DATABASE IF NOT EXISTS `{APP_DATABASE}`"),
            format!("CREATE USER '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}'"),
            format!("GRANT ALL PRIVILEGES ON `{APP_DATABASE}`.* TO '{APP_USER}'@'%'"),
        ] {
            self.exec(&q).await;
        }
    }

    /// 127.0.0.1.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The SQL port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The server's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The folder of its files (`my.cnf`, `data/`, `error.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Sends `sig` to the server's pid; panics when it is not running.
    fn signal(&self, sig: i32) {
        let pid = self
            .pid()
            .unwrap_or_else(|| panic!("{} is not running", self.name));
        // SAFETY: kill(2) on the pid of a child this harness spawned and has
        // not reaped (it is still in `self.child`).
        unsafe { libc::kill(pid as i32, sig) };
    }

    /// SIGSTOP: the server hangs, connections stay open, nothing answers.
    /// Returns once the kernel reports it stopped.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
        self.await_stopped(true);
    }

    /// SIGCONT after [`MariaDb::pause`]; returns once it runs again.
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
        self.await_stopped(false);
    }

    /// Waits (at most a second) until `/proc/<pid>/stat` says the process
    /// is stopped (`T`) or not: a signal is delivered asynchronously.
    fn await_stopped(&self, stopped: bool) {
        let Some(pid) = self.pid() else { return };
        let stat = format!("/proc/{pid}/stat");
        for _ in 0..1000 {
            let text = std::fs::read_to_string(&stat).unwrap_or_default();
            // The state follows the parenthesised command name.
            let state = text
                .rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next());
            if state.is_none() || (state == Some('T')) == stopped {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        eprintln!(
            "{}: still {} after SIGSTOP/SIGCONT",
            self.name,
            if stopped { "running" } else { "stopped" }
        );
    }

    /// SIGKILL to the server and its SST helpers (its process group), then
    /// reaps it: a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the process group this harness created for
            // its child (group id = the unreaped child's pid).
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
        }
    }

    /// A clean shutdown (SIGTERM, SIGKILL after a minute).
    pub async fn stop(&mut self) {
        let Some(pid) = self.pid() else { return };
        // SAFETY: kill(2) on our unreaped child: a paused server must be
        // continued to see the SIGTERM.
        unsafe {
            libc::kill(pid as i32, libc::SIGCONT);
            libc::kill(pid as i32, libc::SIGTERM);
        }
        let started = Instant::now();
        while started.elapsed() < STOP_TIMEOUT {
            if let Some(child) = self.child.as_mut() {
                if !matches!(child.try_wait(), Ok(None)) {
                    self.child = None;
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!(
            "{}: no clean shutdown within {STOP_TIMEOUT:?}; killing",
            self.name
        );
        self.kill();
    }

    /// Stops the server if it runs and starts it again on the same port and
    /// data; waits until it is ready (a Galera node: rejoined and Synced).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn(&[]);
        if let Err(e) = self.wait_ready().await {
            panic!("{}", self.failure(&format!("restart: {e}")));
        }
    }

    /// The error log (empty when there is none yet).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// A failure message: `what`, then the tail of the error log.
    pub(crate) fn failure(&self, what: &str) -> String {
        let log = self.error_log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(60)..].join("\n");
        format!(
            "{} (port {}, {}): {what}\n--- error.log tail ---\n{tail}",
            self.name,
            self.port,
            self.dir.path().display()
        )
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        if std::thread::panicking() && self.child.is_some() {
            eprintln!("{}", self.failure("dropped while the test panicked"));
        }
        self.kill();
    }
}
