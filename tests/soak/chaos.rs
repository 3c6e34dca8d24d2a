//! The rig (four greeting backends, their health endpoints, the binary in
//! front of three of them) and the chaos driver: failovers, drains and
//! reloads, one at a time on a fixed schedule, each waiting (with a
//! deadline) until the state says it is in force.
//!
//! The backends: `b0` (index 0, the active), `b1` (1, where the active
//! goes), `b2` (5, the standby) and the spare `b3` (3), which reloads add
//! and remove; ranked between `b1` and `b2`, it becomes neither active nor
//! standby unless `b2` is down. A cycle of [`Chaos::run`] is four steps at
//! quarter periods: a failover (the health endpoint of `b0`, or every third
//! time of `b2`, answers 503 for [`HOLD`], then recovers), a reload, a drain
//! of `b0` (enabled again after 300 ms, which cancels its pending sever, or
//! every other time after `drain_timeout`, which severs what is left) and
//! another reload (alternately the probe interval toggled and the spare
//! added or removed; alternately `SIGHUP` and `POST /v0/reload`). The
//! schedule's gaps are the load's pacing, not waits for a condition.
//!
//! After every step, each backend that is neither active nor standby (nor
//! draining) must hold no connection at all by its own count within
//! [`SEVER_DEADLINE`]. Drains that expire and removed backends are recorded
//! as marks for the session checks; the moves of the ports are marked by
//! the observer, from the events.

use std::time::{Duration, Instant};

use serde_json::json;

use switchboard_harness::Switchboard;
use switchboard_harness::{backend, poll_until, Backend, Builder, Health, HealthEndpoint};

use crate::log::{Log, Port, SEVER_DEADLINE};

/// The backends' `wsrep_local_index` values: b0, b1, b2, spare b3.
const INDICES: [u64; 4] = [0, 1, 5, 3];
/// The probe interval of the base configuration and its toggled value.
const INTERVALS_MS: [u64; 2] = [100, 150];
/// `proxy.drain_timeout`.
pub(crate) const DRAIN: Duration = Duration::from_secs(2);
/// How long a failed health endpoint stays failed.
const HOLD: Duration = Duration::from_secs(1);
/// How long a change may take to show in the state.
const SETTLE: Duration = Duration::from_secs(10);

/// The backends, their endpoints and the binary.
pub(crate) struct Rig {
    pub(crate) backends: Vec<Backend>,
    pub(crate) health: Vec<HealthEndpoint>,
    pub(crate) sb: Switchboard,
}

impl Rig {
    /// Starts everything with the base configuration; waits for b0 active
    /// and b2 standby.
    pub(crate) async fn start() -> Rig {
        let mut backends = Vec::new();
        let mut health = Vec::new();
        for (i, index) in INDICES.into_iter().enumerate() {
            backends.push(Backend::greeting(&format!("b{i}")).await);
            health.push(HealthEndpoint::healthy(index).await);
        }
        let sb = config(&backends, &health, INTERVALS_MS[0], false)
            .start()
            .await;
        sb.wait_state(SETTLE, "b0 active, b2 standby", |s| {
            s["active"] == "b0" && s["standby"] == "b2"
        })
        .await;
        Rig {
            backends,
            health,
            sb,
        }
    }
}

/// The configuration: b0..b2 (and the spare), probed every `interval_ms`.
fn config(
    backends: &[Backend],
    health: &[HealthEndpoint],
    interval_ms: u64,
    spare: bool,
) -> Builder {
    let mut b = Builder::new()
        .interval(interval_ms, 1000)
        .standby()
        .shutdown(0, DRAIN.as_millis() as u64);
    let n = if spare { 4 } else { 3 };
    for i in 0..n {
        b = b.backend(&backends[i], &health[i]);
    }
    b
}

/// What the chaos driver did.
#[derive(Debug, Default)]
pub(crate) struct ChaosStats {
    pub(crate) active_failovers: u64,
    pub(crate) standby_failovers: u64,
    pub(crate) drains_cancelled: u64,
    pub(crate) drains_expired: u64,
    pub(crate) reloads_signal: u64,
    pub(crate) reloads_api: u64,
    /// The slowest failover, from the 503 to the state showing the move.
    pub(crate) slowest_failover: Duration,
}

/// The chaos driver; its counters run on across phases.
pub(crate) struct Chaos<'a> {
    rig: &'a Rig,
    interval: usize,
    spare: bool,
    reloads: u64,
    pub(crate) stats: ChaosStats,
}

impl<'a> Chaos<'a> {
    /// A driver for `rig`, starting from the base configuration.
    pub(crate) fn new(rig: &'a Rig) -> Chaos<'a> {
        Chaos {
            rig,
            interval: 0,
            spare: false,
            reloads: 0,
            stats: ChaosStats::default(),
        }
    }

    /// Cycles of steps every `period` until `until` (the load runs to it
    /// even when the last step ended early), or exactly one cycle when
    /// `until` is `None`; then the base configuration again.
    pub(crate) async fn run(&mut self, log: &Log, period: Duration, until: Option<Instant>) {
        let t0 = Instant::now();
        let cycles = if until.is_some() { u32::MAX } else { 1 };
        'cycles: for cycle in 0..cycles {
            for step in 0..4u32 {
                let at = t0 + period * cycle + period * step / 4;
                if until.is_some_and(|until| at >= until) {
                    break 'cycles;
                }
                tokio::time::sleep_until(at.into()).await;
                match step {
                    0 => self.fail_over(log).await,
                    2 => self.drain(log).await,
                    _ => self.reload(log).await,
                }
            }
        }
        if let Some(until) = until {
            tokio::time::sleep_until(until.into()).await;
        }
        if self.interval != 0 || self.spare {
            self.apply(log, 0, false, true).await;
        }
    }

    /// The binary under test.
    fn sb(&self) -> &Switchboard {
        &self.rig.sb
    }

    /// A failed health endpoint moves the active (or the standby) away,
    /// and back once it recovers.
    async fn fail_over(&mut self, log: &Log) {
        let standby = (self.stats.active_failovers + self.stats.standby_failovers) % 3 == 2;
        let (victim, field) = if standby {
            (2, "standby")
        } else {
            (0, "active")
        };
        let name = self.rig.backends[victim].name.clone();
        let failed = self.rig.health[victim].set(Health::Status503);
        let what = format!("{field} away from {name}");
        self.sb()
            .wait_state(SETTLE, &what, |s| {
                s[field] != name.as_str() && backend(s, &name)["healthy"] == false
            })
            .await;
        let took = failed.elapsed();
        self.stats.slowest_failover = self.stats.slowest_failover.max(took);
        self.clear_check(log, &[]).await;
        tokio::time::sleep_until((failed + HOLD).into()).await;
        self.rig.health[victim].set(Health::Healthy(INDICES[victim]));
        let what = format!("{field} back on {name}");
        self.sb()
            .wait_state(SETTLE, &what, |s| s[field] == name.as_str())
            .await;
        self.clear_check(log, &[]).await;
        if standby {
            self.stats.standby_failovers += 1;
        } else {
            self.stats.active_failovers += 1;
        }
    }

    /// Drains b0 (the active moves to b1), then enables it again: soon,
    /// or once the drain timeout severed what was left.
    async fn drain(&mut self, log: &Log) {
        let expire = (self.stats.drains_cancelled + self.stats.drains_expired) % 2 == 0;
        let sent = Instant::now();
        let (status, body) = self
            .sb()
            .patch(
                "/v0/backends/b0",
                Some(json!({"state": "drain", "message": "soak"})),
            )
            .await;
        assert_eq!(status, 200, "PATCH drain: {body}");
        let answered = Instant::now();
        self.sb()
            .wait_state(SETTLE, "b0 drained, b1 active", |s| {
                s["active"] == "b1" && backend(s, "b0")["adminState"] == "drain"
            })
            .await;
        if expire {
            for port in [Port::Active, Port::Standby] {
                log.mark(
                    "b0",
                    port,
                    sent + DRAIN,
                    answered + DRAIN,
                    "b0 drain timeout",
                );
            }
            tokio::time::sleep_until((answered + DRAIN).into()).await;
            self.clear_check(log, &[]).await;
        } else {
            tokio::time::sleep_until((answered + Duration::from_millis(300)).into()).await;
            self.clear_check(log, &["b0"]).await;
        }
        let (status, body) = self
            .sb()
            .patch("/v0/backends/b0", Some(json!({"state": "enabled"})))
            .await;
        assert_eq!(status, 200, "PATCH enabled: {body}");
        if !expire && sent.elapsed() >= DRAIN {
            // Enabled too late to cancel (a slow machine): the drain may
            // have expired after all.
            for port in [Port::Active, Port::Standby] {
                log.mark(
                    "b0",
                    port,
                    sent + DRAIN,
                    Instant::now(),
                    "b0 drain timeout (late)",
                );
            }
        }
        self.sb()
            .wait_state(SETTLE, "b0 enabled and active", |s| s["active"] == "b0")
            .await;
        self.clear_check(log, &[]).await;
        if expire {
            self.stats.drains_expired += 1;
        } else {
            self.stats.drains_cancelled += 1;
        }
    }

    /// Toggles the interval or the spare backend, by SIGHUP or the API.
    async fn reload(&mut self, log: &Log) {
        let k = self.reloads;
        let signal = (k + k / 4) % 2 == 0;
        if k % 2 == 0 {
            self.apply(log, 1 - self.interval, self.spare, signal).await;
        } else {
            self.apply(log, self.interval, !self.spare, signal).await;
        }
    }

    /// Writes the configuration and reloads it; waits until it is in force.
    async fn apply(&mut self, log: &Log, interval: usize, spare: bool, signal: bool) {
        let sb = self.sb();
        let builder = config(
            &self.rig.backends,
            &self.rig.health,
            INTERVALS_MS[interval],
            spare,
        );
        sb.write_config(&builder, &sb.ports);
        let sent = Instant::now();
        let expected = self.reloads + 1;
        if signal {
            sb.signal(libc::SIGHUP);
        } else {
            let (status, body) = sb.reload().await;
            assert_eq!(status, 200, "POST /v0/reload: {body}");
            assert_eq!(body["status"], "reloaded", "{body}");
        }
        let names: &[&str] = if spare {
            &["b0", "b1", "b2", "b3"]
        } else {
            &["b0", "b1", "b2"]
        };
        sb.wait_state(SETTLE, "the reload in force", |s| {
            let listed: Vec<&str> = s["backends"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| b["name"].as_str())
                .collect();
            s["config"]["reloads"] == expected
                && s["config"]["reloadsRefused"] == 0
                && listed == names
                && (!spare || backend(s, "b3")["healthy"] == true)
                && s["active"] == "b0"
                && s["standby"] == "b2"
        })
        .await;
        if self.spare && !spare {
            for port in [Port::Active, Port::Standby] {
                log.mark("b3", port, sent, Instant::now(), "b3 removed by a reload");
            }
        }
        self.reloads = expected;
        (self.interval, self.spare) = (interval, spare);
        if signal {
            self.stats.reloads_signal += 1;
        } else {
            self.stats.reloads_api += 1;
        }
        self.clear_check(log, &[]).await;
    }

    /// Every backend that is neither active nor standby nor in `draining`
    /// holds no connection, by its own count, within [`SEVER_DEADLINE`].
    async fn clear_check(&self, log: &Log, draining: &[&str]) {
        let state = self.sb().state().await;
        let (active, standby) = (state["active"].as_str(), state["standby"].as_str());
        for b in &self.rig.backends {
            let name = Some(b.name.as_str());
            if name == active || name == standby || draining.contains(&b.name.as_str()) {
                continue;
            }
            if !poll_until(SEVER_DEADLINE, || async { b.open() == 0 }).await {
                log.violation(format!(
                    "{} still holds {} connections {SEVER_DEADLINE:?} after it stopped \
                     being active or standby (active {active:?}, standby {standby:?})",
                    b.name,
                    b.open()
                ));
            }
        }
    }
}
