//! `NetNs`: a network namespace of a test's own, for what loopback alone
//! cannot show: a peer that vanishes without a FIN (its host lost power,
//! a NAT entry was dropped). A stopped process does not do: its kernel
//! still answers TCP keep-alive probes. Inside a namespace the test drops
//! one connection's packets with `nft`, and only that namespace's own
//! loopback and rules are touched; the machine's network is never changed.
//!
//! [`NetNs::run`] runs a test body on a thread that entered the namespace
//! (`setns`), with a tokio runtime of its own: every socket, thread and
//! child process it creates (backends, the binary, clients, the API
//! client) lives in the namespace, on its `lo`. The namespace is deleted
//! when the `NetNs` is dropped, also when the test failed.
//!
//! It needs root, `ip` and `ss` (iproute2) and `nft` (nftables), which
//! `scripts/install-test-databases` installs. Without them a test fails
//! with the reason, unless `SWITCHBOARD_SKIP_NETNS=1` turns it into a
//! loud skip ([`NetNs::create_or_skip`]).

use std::future::Future;
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The environment variable that turns namespace tests into loud skips
/// on a machine that cannot run them.
pub const SKIP_NETNS_ENV: &str = "SWITCHBOARD_SKIP_NETNS";

/// A named network namespace with its loopback up; deleted on drop.
pub struct NetNs {
    name: String,
    ip: PathBuf,
    nft: PathBuf,
}

impl NetNs {
    /// Creates `sb-<pid>-<n>`, or says why this machine cannot.
    pub fn create() -> Result<NetNs, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("the test process is not root (ip netns and nft need it)".into());
        }
        let ip = find("ip").ok_or("`ip` not found (Debian package iproute2)")?;
        let nft = find("nft").ok_or("`nft` not found (Debian package nftables)")?;
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "sb-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run(Command::new(&ip).args(["netns", "add", &name]))
            .map_err(|e| format!("ip netns add {name} failed: {e}"))?;
        // From here on, Drop deletes it.
        let ns = NetNs { name, ip, nft };
        ns.try_exec(&[&ns.ip.display().to_string(), "link", "set", "lo", "up"])
            .map_err(|e| format!("cannot bring lo up in {}: {e}", ns.name))?;
        Ok(ns)
    }

    /// [`NetNs::create`], or `None` (after printing why) when it cannot and
    /// `SWITCHBOARD_SKIP_NETNS=1`; otherwise a failure names the reason.
    pub fn create_or_skip(test: &str) -> Option<NetNs> {
        match NetNs::create() {
            Ok(ns) => Some(ns),
            Err(why) if std::env::var(SKIP_NETNS_ENV).as_deref() == Ok("1") => {
                eprintln!("SKIPPED {test}: {why}, and {SKIP_NETNS_ENV}=1");
                None
            }
            Err(why) => panic!(
                "{test} needs a network namespace of its own, but {why}; run it as root \
                 after scripts/install-test-databases, or set {SKIP_NETNS_ENV}=1 to skip it"
            ),
        }
    }

    /// The namespace's name (`ip netns exec <name> ...`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs a command inside the namespace; `Err` carries its stderr.
    pub fn try_exec(&self, argv: &[&str]) -> Result<(), String> {
        run(Command::new(&self.ip)
            .args(["netns", "exec", &self.name])
            .args(argv))
    }

    /// Drops every TCP packet to or from local port `port` inside the
    /// namespace, both ways, silently (no reset): for the other end of
    /// that connection its peer has vanished.
    pub fn drop_tcp_port(&self, port: u16) {
        let rules = format!(
            "add table inet sbtest\n\
             add chain inet sbtest input {{ type filter hook input priority 0; policy accept; }}\n\
             add rule inet sbtest input tcp sport {port} drop\n\
             add rule inet sbtest input tcp dport {port} drop\n"
        );
        let mut child = Command::new(&self.ip)
            .args(["netns", "exec", &self.name])
            .arg(&self.nft)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nft");
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(rules.as_bytes()).expect("write nft rules");
        }
        let out = child.wait_with_output().expect("nft");
        assert!(
            out.status.success(),
            "nft in {} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The established TCP connections in the namespace that match the
    /// `ss` filter `filter` (`"sport = :3306 and dport = :40000"`), one
    /// line each: Recv-Q, Send-Q, local and peer address, then the timer
    /// (`timer:(keepalive,...)`).
    pub fn established(&self, filter: &str) -> Vec<String> {
        self.ss(&["-Htno", "state", "established"], filter)
    }

    /// `ss ARGS FILTER` inside the namespace, one line per socket; panics
    /// naming the filter if `ss` fails.
    pub(super) fn ss(&self, args: &[&str], filter: &str) -> Vec<String> {
        let out = Command::new(&self.ip)
            .args(["netns", "exec", &self.name, "ss"])
            .args(args)
            .args(filter.split_whitespace())
            .stdin(Stdio::null())
            .output()
            .expect("ss");
        assert!(
            out.status.success(),
            "ss {args:?} {filter}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The bytes sent but not yet acknowledged on the connection from
    /// local port `local` to port `peer` (`ss`'s Send-Q), or `None` when
    /// there is no such connection. A connection with unacknowledged data
    /// is in retransmission, not keep-alive: a test that makes a peer
    /// vanish waits for 0 first.
    pub fn send_queue(&self, local: u16, peer: u16) -> Option<u64> {
        let lines = self.established(&format!("sport = :{local} and dport = :{peer}"));
        lines.first()?.split_whitespace().nth(1)?.parse().ok()
    }

    /// Runs `body` to completion on a new thread inside the namespace,
    /// with a current-thread tokio runtime; a panic in it is re-raised
    /// here (after which this `NetNs` is dropped and deleted as usual).
    pub fn run<'a, F, Fut, T>(&'a self, body: F) -> T
    where
        F: FnOnce(&'a NetNs) -> Fut + Send + 'a,
        Fut: Future<Output = T>,
        T: Send + 'a,
    {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|scope| {
            let thread = scope.spawn(move || {
                let file = std::fs::File::open(&path)
                    .unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
                // SAFETY: setns on an open namespace file; it changes the
                // network namespace of this thread only.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns({path}): {}", std::io::Error::last_os_error());
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime in the namespace");
                runtime.block_on(body(self))
            });
            match thread.join() {
                Ok(value) => value,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(e) = run(Command::new(&self.ip).args(["netns", "del", &self.name])) {
            eprintln!("could not delete network namespace {}: {e}", self.name);
        }
    }
}

/// Runs `cmd` to completion; `Err` is its exit status and stderr.
fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A program in `PATH`, `/usr/sbin` or `/sbin` (root's tools are not
/// always in a test's `PATH`).
fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into(), "/usr/bin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
