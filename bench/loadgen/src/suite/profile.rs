//! The knobs of one kind of run: the loopback ports the benchmark uses and
//! the [`Profile`] (rounds, durations, counts) of `suite` or `smoke`. Plain
//! data: this file must never start a process or open a socket.

use serde::Serialize;

use crate::systems::System;

/// The benchmark uses the 20 ports from here, on 127.0.0.1 only: below the
/// ephemeral range (32768–60999), so no outgoing connection holds them.
pub const DEFAULT_BASE_PORT: u16 = 29100;
/// `bench/smoke` uses its own block, so it can run beside `bench/run`.
pub const SMOKE_BASE_PORT: u16 = 29150;

/// Every port of the benchmark, on 127.0.0.1.
#[derive(Debug, Clone)]
pub struct Ports {
    pub switchboard: u16,
    pub haproxy: u16,
    pub api: u16,
    pub echo_a: u16,
    pub echo_b: u16,
    pub health_a: u16,
    pub health_b: u16,
    pub iperf: u16,
}

impl Ports {
    /// The ports of the block that starts at `base`.
    pub fn new(base: u16) -> Ports {
        Ports {
            switchboard: base,
            haproxy: base + 1,
            api: base + 2,
            echo_a: base + 10,
            echo_b: base + 11,
            health_a: base + 12,
            health_b: base + 13,
            iperf: base + 14,
        }
    }
}

/// Counts and durations of one kind of run.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub name: &'static str,
    pub rounds: usize,
    pub seconds: f64,
    pub warmup_seconds: f64,
    pub churn_max: u64,
    pub idle: Vec<usize>,
    /// Sever by command at each of these counts; on a health failure at the last.
    pub sever: Vec<usize>,
    pub base_port: u16,
    pub trials: usize,
    pub builtin_bulk_mib: u64,
    pub systems: Vec<System>,
    pub max_minutes: f64,
}

/// The most proxied sessions that fit, at most 10,000: a proxy holds two
/// sockets per session, and the open-file limit is per process (20,000 on
/// the project's machines, where even root may not raise it).
pub fn max_sessions() -> usize {
    let (soft, _) = crate::fd_limits();
    (soft.saturating_sub(300) as usize / 2).clamp(100, 10_000)
}

impl Profile {
    /// `loadgen suite` (`bench/run`): three systems, three rounds, full counts.
    pub fn full() -> Profile {
        Profile {
            name: "full",
            rounds: 3,
            seconds: 3.0,
            warmup_seconds: 0.5,
            churn_max: 2_000_000,
            idle: vec![1_000, max_sessions()],
            sever: vec![2_000, max_sessions()],
            base_port: DEFAULT_BASE_PORT,
            trials: 3,
            builtin_bulk_mib: 1024,
            systems: vec![System::Direct, System::Haproxy, System::Switchboard],
            max_minutes: 30.0,
        }
    }

    /// `loadgen smoke` (`bench/smoke`): switchboard vs direct, tiny counts.
    pub fn smoke() -> Profile {
        Profile {
            name: "smoke",
            rounds: 1,
            seconds: 0.3,
            warmup_seconds: 0.1,
            churn_max: 5_000,
            idle: vec![100],
            sever: vec![200],
            base_port: SMOKE_BASE_PORT,
            trials: 1,
            builtin_bulk_mib: 16,
            systems: vec![System::Direct, System::Switchboard],
            max_minutes: 1.0,
        }
    }
}
