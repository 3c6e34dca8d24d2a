//! The machine information of a report: [`Meta`] collects where and how the
//! run happened (CPU, memory, OS, versions, commit, load, the commands and
//! configurations of the systems). It reads the machine and must never
//! render a table or write a file.

use std::time::Duration;

use crate::procs::version_of;
use crate::suite::{Ports, Profile, SuiteArgs};
use crate::systems::{self, Tools};

/// Where and how the run happened.
pub struct Meta {
    /// When the run started, UTC to the minute.
    pub(super) date: String,
    /// (name, value) rows of the machine table.
    pub(super) machine: Vec<(String, String)>,
    /// The load average when the run started.
    pub(super) load_start: String,
    /// The load average when the run ended.
    pub(super) load_end: String,
    /// How long the run took.
    pub(super) elapsed: Duration,
    /// The command line that reproduces the run.
    pub(super) command: String,
    /// How each system was started.
    pub(super) commands: Vec<String>,
    /// (file name, contents) of each system's configuration.
    pub(super) configs: Vec<(String, String)>,
    /// Why the run is incomplete, if it stopped early.
    pub truncated: Option<String>,
}

impl Meta {
    /// Reads the machine and notes how the systems are started.
    pub fn collect(args: &SuiteArgs, profile: &Profile, tools: &Tools, ports: &Ports) -> Meta {
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .unwrap_or("unknown")
            .trim()
            .to_string();
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let mem = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or("unknown".into(), |kb| {
                format!("{:.1} GiB", kb / 1024.0 / 1024.0)
            });
        let os = read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .unwrap_or("unknown")
            .trim_matches('"')
            .to_string();
        let commit = {
            let rev = version_of("git", &["rev-parse", "--short", "HEAD"]);
            let dirty = std::process::Command::new("git")
                .args(["status", "--porcelain", "--untracked-files=no"])
                .output()
                .map(|o| !o.stdout.is_empty())
                .unwrap_or(false);
            if dirty {
                format!("{rev} + uncommitted changes")
            } else {
                rev
            }
        };
        let mut machine = vec![
            ("CPU".to_string(), format!("{cpu}, {cores} cores")),
            ("memory".to_string(), mem),
            ("OS".to_string(), os),
            ("kernel".to_string(), version_of("uname", &["-r"])),
            ("rustc".to_string(), version_of("rustc", &["--version"])),
            (
                "switchboard".to_string(),
                format!("commit {commit}, `cargo build --release`"),
            ),
        ];
        if let Some(h) = &tools.haproxy {
            machine.push(("HAProxy".into(), version_of(&h.to_string_lossy(), &["-v"])));
        }
        if let Some(i) = &tools.iperf3 {
            machine.push((
                "iperf3".into(),
                version_of(&i.to_string_lossy(), &["--version"]),
            ));
        }
        let dir = format!("target/bench/{}", profile.name);
        let mut commands = vec![format!(
            "{} --log-level warn run --config {dir}/switchboard.toml",
            tools.switchboard.display()
        )];
        if let Some(h) = &tools.haproxy {
            commands.push(format!("{} -db -f {dir}/haproxy.cfg", h.display()));
        }
        if let Some(i) = &tools.iperf3 {
            commands.push(format!(
                "{} -s -B 127.0.0.1 -p {}",
                i.display(),
                ports.iperf
            ));
            commands.push(format!(
                "{} -c 127.0.0.1 -p <proxy port> -P <1|8> -t {} -J --connect-timeout 3000",
                i.display(),
                profile.seconds.ceil()
            ));
        }
        // The report names the socket relative to the repository: an
        // absolute path would be this machine's, not the reader's.
        let socket = match std::env::current_dir() {
            Ok(cwd) => tools
                .scratch
                .strip_prefix(&cwd)
                .unwrap_or(&tools.scratch)
                .join("haproxy.sock"),
            Err(_) => tools.scratch.join("haproxy.sock"),
        };
        let configs = vec![
            (
                "switchboard.toml".to_string(),
                systems::switchboard_config(ports, ports.echo_a),
            ),
            (
                "haproxy.cfg".to_string(),
                systems::haproxy_config(ports, ports.echo_a, &socket),
            ),
        ];
        Meta {
            date: now_utc(),
            machine,
            load_start: loadavg(),
            load_end: String::new(),
            elapsed: Duration::ZERO,
            command: args.command.clone(),
            commands,
            configs,
            truncated: None,
        }
    }

    /// Notes the end of the run: the load average and how long it took.
    pub fn finish(&mut self, elapsed: Duration) {
        self.load_end = loadavg();
        self.elapsed = elapsed;
    }
}

/// The contents of `path`, or nothing.
fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The 1, 5 and 15 minute load averages.
fn loadavg() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Now, as `YYYY-MM-DD HH:MM UTC`.
fn now_utc() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    now.format(&fmt).unwrap_or_else(|_| "unknown".into())
}
