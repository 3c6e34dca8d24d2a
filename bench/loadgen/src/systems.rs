//! The systems under test and how each is started, made ready, commanded
//! and stopped: switchboard (native TOML), HAProxy (Debian's, the usual
//! Galera active/backup setup) and a direct connection to the backend.
//! Both proxies get the same settings: backends `a` then `b` (backup),
//! galera health checks every 1 s with a 500 ms timeout, rise = fall = 1,
//! 2 s connect timeout, sessions of a backend marked down are severed.

use std::fmt;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::procs::Child;
use crate::suite::Ports;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum System {
    Direct,
    Haproxy,
    Switchboard,
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            System::Direct => "direct",
            System::Haproxy => "haproxy",
            System::Switchboard => "switchboard",
        })
    }
}

impl std::str::FromStr for System {
    type Err = String;
    fn from_str(s: &str) -> Result<System, String> {
        match s {
            "direct" => Ok(System::Direct),
            "haproxy" => Ok(System::Haproxy),
            "switchboard" | "ours" => Ok(System::Switchboard),
            _ => Err(format!(
                "unknown system {s:?} (direct, haproxy, switchboard)"
            )),
        }
    }
}

/// What backend `a`'s data port is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataPort {
    /// The echo server (every workload but bulk).
    Echo,
    /// The iperf3 server (bulk).
    Iperf,
}

/// Paths of the programs and the scratch directory.
pub struct Tools {
    pub switchboard: PathBuf,
    pub haproxy: Option<PathBuf>,
    pub iperf3: Option<PathBuf>,
    pub scratch: PathBuf,
}

/// The API credentials switchboard is configured with.
pub const API_USER: &str = "bench";
pub const API_PASSWORD: &str = "bench-password";

/// A started system: where clients connect, and its process if any.
pub struct Running {
    pub system: System,
    pub target: SocketAddr,
    child: Option<Child>,
    api: Option<SocketAddr>,
    haproxy_socket: Option<PathBuf>,
}

impl Running {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.pid())
    }

    /// Fails if the process ended on its own.
    pub fn check_alive(&mut self) -> Result<(), String> {
        if let Some(c) = self.child.as_mut() {
            if let Some(status) = c.exited() {
                return Err(format!("{} exited: {status}", self.system));
            }
        }
        Ok(())
    }

    /// Stops the process by its PID.
    pub fn stop(mut self) {
        if let Some(mut c) = self.child.take() {
            c.stop();
        }
    }

    /// The operator's "cut every session to backend a now" command:
    /// switchboard's `PATCH /v0/cluster?trafficEnabled=false`, HAProxy's
    /// `shutdown sessions server`. Returns when the command was sent.
    pub async fn sever_command(&self) -> Result<Instant, String> {
        match self.system {
            System::Switchboard => {
                let api = self.api.ok_or("no API address")?;
                patch_routing_off(api).await
            }
            System::Haproxy => {
                let path = self.haproxy_socket.clone().ok_or("no stats socket")?;
                tokio::task::spawn_blocking(move || {
                    haproxy_command(&path, "shutdown sessions server bench/a")
                })
                .await
                .map_err(|e| e.to_string())?
            }
            System::Direct => Err("a direct connection cannot be severed".into()),
        }
    }
}

/// Starts `system` with backend `a`'s data port being `data`, and waits
/// until its proxy port listens.
pub async fn start(
    system: System,
    data: DataPort,
    ports: &Ports,
    tools: &Tools,
) -> Result<Running, String> {
    let a_data = match data {
        DataPort::Echo => ports.echo_a,
        DataPort::Iperf => ports.iperf,
    };
    let lo = std::net::Ipv4Addr::LOCALHOST;
    let running = match system {
        System::Direct => Running {
            system,
            target: SocketAddr::from((lo, a_data)),
            child: None,
            api: None,
            haproxy_socket: None,
        },
        System::Switchboard => {
            let config = tools.scratch.join("switchboard.toml");
            write(&config, &switchboard_config(ports, a_data))?;
            let mut cmd = Command::new(&tools.switchboard);
            cmd.args(["--log-level", "warn", "run", "--config"])
                .arg(&config);
            let child = Child::spawn("switchboard", cmd, &tools.scratch.join("switchboard.log"))?;
            Running {
                system,
                target: SocketAddr::from((lo, ports.switchboard)),
                child: Some(child),
                api: Some(SocketAddr::from((lo, ports.api))),
                haproxy_socket: None,
            }
        }
        System::Haproxy => {
            let haproxy = tools.haproxy.as_ref().ok_or("haproxy is not installed")?;
            let config = tools.scratch.join("haproxy.cfg");
            let socket = tools.scratch.join("haproxy.sock");
            let _ = std::fs::remove_file(&socket);
            write(&config, &haproxy_config(ports, a_data, &socket))?;
            let mut cmd = Command::new(haproxy);
            cmd.arg("-db").arg("-f").arg(&config);
            let child = Child::spawn("haproxy", cmd, &tools.scratch.join("haproxy.log"))?;
            Running {
                system,
                target: SocketAddr::from((lo, ports.haproxy)),
                child: Some(child),
                api: None,
                haproxy_socket: Some(socket),
            }
        }
    };
    let mut running = running;
    if system != System::Direct {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !is_listening(running.target.port()) {
            running.check_alive()?;
            if Instant::now() > deadline {
                return Err(format!(
                    "{system} did not open port {} within 15 s",
                    running.target.port()
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(running)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// switchboard's native configuration for the benchmark.
pub fn switchboard_config(ports: &Ports, a_data: u16) -> String {
    format!(
        r#"# Written by loadgen for the benchmark.
[proxy]
listen = "127.0.0.1:{listen}"
connect_timeout = "2s"
sever_on_failover = true
# The same session limit as HAProxy's maxconn: its derived default keeps
# descriptors for the API, a few hundred sessions fewer.
max_sessions = {max_sessions}

[monitor]
interval = "1s"
timeout = "500ms"
rise = 1
fall = 1
failback = true

[api]
listen = "127.0.0.1:{api}"
username = "{API_USER}"
password = "{API_PASSWORD}"

[[backends]]
name = "a"
host = "127.0.0.1"
port = {a_data}
check = {{ kind = "galera", url = "http://127.0.0.1:{ha}/api/v1/status" }}

[[backends]]
name = "b"
host = "127.0.0.1"
port = {b_data}
check = {{ kind = "galera", url = "http://127.0.0.1:{hb}/api/v1/status" }}
"#,
        listen = ports.switchboard,
        max_sessions = haproxy_maxconn(),
        api = ports.api,
        b_data = ports.echo_b,
        ha = ports.health_a,
        hb = ports.health_b,
    )
}

/// HAProxy's configuration: the usual Galera active/backup `listen`.
pub fn haproxy_config(ports: &Ports, a_data: u16, socket: &Path) -> String {
    format!(
        r#"# Written by loadgen for the benchmark.
global
    maxconn {maxconn}
    nbthread 2
    stats socket {socket} mode 600 level admin

defaults
    mode tcp
    maxconn {maxconn}
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout check 500ms

listen bench
    bind 127.0.0.1:{listen}
    mode tcp
    option httpchk GET /api/v1/status
    default-server inter 1s rise 1 fall 1 on-marked-down shutdown-sessions
    server a 127.0.0.1:{a_data} check port {ha}
    server b 127.0.0.1:{b_data} check port {hb} backup
"#,
        socket = socket.display(),
        maxconn = haproxy_maxconn(),
        listen = ports.haproxy,
        b_data = ports.echo_b,
        ha = ports.health_a,
        hb = ports.health_b,
    )
}

/// HAProxy's `maxconn`: 40,000, or as many sessions as the open-file limit
/// allows (HAProxy needs two descriptors per session and cannot raise the
/// hard limit here either).
pub fn haproxy_maxconn() -> u64 {
    let (soft, _) = crate::fd_limits();
    (soft.saturating_sub(100) / 2).min(40_000)
}

/// True if something listens on 127.0.0.1:`port` or 0.0.0.0:`port`
/// (read from /proc/net/tcp, so no connection is made: the iperf3 server
/// behind the proxy must not see a stray one).
pub fn is_listening(port: u16) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    table.lines().skip(1).any(|line| {
        let mut f = line.split_whitespace();
        let local = f.nth(1).unwrap_or("");
        let state = f.nth(1).unwrap_or("");
        state == "0A"
            && local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                .is_some_and(|p| p == port)
    })
}

/// `PATCH /v0/cluster?trafficEnabled=false&message=bench` with basic auth.
async fn patch_routing_off(api: SocketAddr) -> Result<Instant, String> {
    use base64::Engine;
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{API_USER}:{API_PASSWORD}"));
    let request = format!(
        "PATCH /v0/cluster?trafficEnabled=false&message=bench HTTP/1.1\r\nHost: {api}\r\nAuthorization: Basic {auth}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let mut s = tokio::net::TcpStream::connect(api)
        .await
        .map_err(|e| format!("API {api}: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    s.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer))
        .await
        .map_err(|_| "API did not answer within 5 s".to_string())?
        .map_err(|e| e.to_string())?;
    let status = String::from_utf8_lossy(&answer);
    let line = status.lines().next().unwrap_or("");
    if line.split_whitespace().nth(1) != Some("200") {
        return Err(format!("PATCH /v0/cluster answered {line:?}"));
    }
    Ok(t0)
}

/// HAProxy's view of its servers, for debugging (`LOADGEN_DEBUG`).
pub fn haproxy_servers(running: &Running) -> String {
    let Some(path) = &running.haproxy_socket else {
        return String::new();
    };
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(path) else {
        return "no socket".into();
    };
    let _ = s.write_all(b"show servers state bench\n");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            format!(
                "{}: op={} admin={}",
                f.get(3).unwrap_or(&""),
                f.get(5).unwrap_or(&""),
                f.get(6).unwrap_or(&"")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One command on HAProxy's admin socket.
fn haproxy_command(socket: &Path, command: &str) -> Result<Instant, String> {
    let mut s = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| format!("{}: {e}", socket.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    s.write_all(format!("{command}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    if !answer.trim().is_empty() {
        return Err(format!("haproxy: {command}: {}", answer.trim()));
    }
    Ok(t0)
}
