//! `Builder`: the native TOML configuration (SPEC 4.1) of a switchboard
//! under test, from the knobs tests turn (backends with galera checks,
//! probe interval and timeout, rise/fall, failback, standby port, shutdown
//! delay and drain, connect timeout, API password, extra environment), and
//! the [`Ports`] one start attempt binds. `Builder::start` hands the file to
//! [`Switchboard::launch`].

use std::fmt::Write as _;
use std::net::SocketAddr;

use super::switchboard::{run_args, USER};
use super::{free_addr, Backend, HealthEndpoint, Switchboard, TempDir};

/// The ports of one start attempt.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub proxy: SocketAddr,
    pub standby: SocketAddr,
    pub api: SocketAddr,
    pub health: SocketAddr,
    pub aggregator: SocketAddr,
}

impl Ports {
    pub fn fresh() -> Ports {
        Ports {
            proxy: free_addr(),
            standby: free_addr(),
            api: free_addr(),
            health: free_addr(),
            aggregator: free_addr(),
        }
    }
}

/// Native TOML config knobs (durations in ms).
#[derive(Clone)]
pub struct Builder {
    backends: Vec<(String, SocketAddr, String)>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub rise: u32,
    pub fall: u32,
    pub failback: bool,
    pub sever_on_failover: bool,
    pub standby: bool,
    pub shutdown_delay_ms: u64,
    pub drain_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub password: String,
    pub env: Vec<(String, String)>,
}

impl Builder {
    /// Defaults: probe every 200 ms with a generous 1 s timeout (a busy
    /// debug build must not fail probes in tests that are not about the
    /// monitor), rise = fall = 1, failback, sever on failover, no standby
    /// port, no shutdown delay or drain, 1 s connect timeout.
    pub fn new() -> Builder {
        Builder {
            backends: Vec::new(),
            interval_ms: 200,
            timeout_ms: 1000,
            rise: 1,
            fall: 1,
            failback: true,
            sever_on_failover: true,
            standby: false,
            shutdown_delay_ms: 0,
            drain_timeout_ms: 0,
            connect_timeout_ms: 1000,
            password: "test-secret-pw".into(),
            env: Vec::new(),
        }
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

    pub fn standby(mut self) -> Builder {
        self.standby = true;
        self
    }

    pub fn shutdown(mut self, delay_ms: u64, drain_ms: u64) -> Builder {
        self.shutdown_delay_ms = delay_ms;
        self.drain_timeout_ms = drain_ms;
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Builder {
        self.env.push((key.into(), value.into()));
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
        let _ = writeln!(
            t,
            "[monitor]\ninterval = \"{}ms\"\ntimeout = \"{}ms\"\nrise = {}\nfall = {}\nfailback = {}\n",
            self.interval_ms, self.timeout_ms, self.rise, self.fall, self.failback
        );
        let _ = writeln!(
            t,
            "[api]\nlisten = \"{}\"\nusername = \"{USER}\"\npassword = \"{}\"\n",
            ports.api, self.password
        );
        for (name, addr, url) in &self.backends {
            let _ = writeln!(
                t,
                "[[backends]]\nname = \"{name}\"\nhost = \"{}\"\nport = {}\ncheck = {{ kind = \"galera\", url = \"{url}\" }}\n",
                addr.ip(),
                addr.port()
            );
        }
        t
    }

    /// Starts the binary with this config; panics if it does not come up.
    pub async fn start(self) -> Switchboard {
        let dir = TempDir::new("sb");
        let password = self.password.clone();
        let env = self.env.clone();
        let standby = self.standby;
        Switchboard::launch(dir, &password, &env, standby, |dir, ports| {
            let path = dir.join("switchboard.toml");
            std::fs::write(&path, self.toml(ports)).unwrap();
            run_args(&path)
        })
        .await
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}
