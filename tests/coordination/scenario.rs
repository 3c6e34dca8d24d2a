//! `Scenario`: the setup every coordination test starts from, and the
//! faults it applies. One etcd; three recording backends `db-0..db-2`; for
//! each instance `proxy-N` its own health endpoints (one per backend,
//! `db-i` healthy with index i) and its own `CutRelay` in front of etcd;
//! three switchboards configured from one place (`builder`); one load
//! driver per instance. Waits are on conditions with deadlines; the
//! figures are read from the backends' records (`timeline`).
//!
//! It owns every process it starts (etcd and the switchboards are killed
//! by pid on drop) and never touches anything else.

use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_harness::{
    poll_until, Builder, CutRelay, Etcd, Health, HealthEndpoint, RecordingBackend, Switchboard,
};

use crate::load::LoadDriver;
use crate::timeline::{self, ms, Hit};
use crate::{BACKENDS, INSTANCES, INTERVAL_MS, LEASE_TTL_MS, RISE_FALL, TIMEOUT_MS};

/// How long the three instances may take to start and agree at first.
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);
/// The newest sessions of every instance that must have reached one
/// backend before the instances count as agreeing.
const TAIL: usize = 5;
/// Beyond a budget, how much longer a wait goes on, so a failure reports
/// the real figure instead of only "too slow".
const OVERTIME: Duration = Duration::from_secs(5);

/// Three instances in front of three backends, agreeing through etcd.
pub(crate) struct Scenario {
    /// The store every instance reaches through its own relay.
    pub(crate) etcd: Etcd,
    /// `db-0..db-2`, shared by every instance.
    pub(crate) backends: Vec<RecordingBackend>,
    /// `health[instance][backend]`: what that instance's probes of that
    /// backend read.
    pub(crate) health: Vec<Vec<HealthEndpoint>>,
    /// `relays[instance]`: that instance's only way to etcd.
    pub(crate) relays: Vec<CutRelay>,
    /// `sbs[instance]`, running or killed (see `alive`).
    pub(crate) sbs: Vec<Switchboard>,
    /// Whether `sbs[i]` runs.
    pub(crate) alive: Vec<bool>,
    /// `drivers[instance]`: its load, on its proxy port.
    pub(crate) drivers: Vec<LoadDriver>,
    /// This run's etcd prefix, unique per test.
    pub(crate) prefix: String,
}

/// The `[coordination]` table of `instance`.
pub(crate) fn coordination_toml(
    endpoint: &str,
    prefix: &str,
    instance: &str,
    on_lost: &str,
) -> String {
    format!(
        "kind = \"etcd\"\nendpoints = [\"{endpoint}\"]\nprefix = \"{prefix}\"\ninstance = \"{instance}\"\n\
         lease_ttl = \"{}s\"\ncombine = \"majority\"\non_coordinator_lost = \"{on_lost}\"",
        LEASE_TTL_MS / 1000
    )
}

/// A prefix no other test (or earlier run on the same etcd) uses.
pub(crate) fn unique_prefix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "/switchboard/test-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The builder of one instance: the suite's probe settings, `table` as
/// its `[coordination]`, and its own health endpoint for each backend.
pub(crate) fn instance_builder(
    table: &str,
    backends: &[RecordingBackend],
    health: &[HealthEndpoint],
) -> Builder {
    let mut b = Builder::new()
        .interval(INTERVAL_MS, TIMEOUT_MS)
        .rise_fall(RISE_FALL, RISE_FALL)
        .coordination(table);
    for (db, h) in backends.iter().zip(health) {
        b = b.backend_at(&db.name, db.addr, &h.url());
    }
    b
}

/// Reads the states of `live` every 10 ms until they have joined
/// ([`joined`]); the leader and those states, or, after `timeout`, a
/// message with the coordination each instance last showed.
pub(crate) async fn poll_joined(
    sbs: &[Switchboard],
    live: &[usize],
    timeout: Duration,
) -> Result<(usize, Vec<Value>), String> {
    let started = Instant::now();
    loop {
        let mut states = Vec::new();
        for &i in live {
            states.push(sbs[i].try_state().await.unwrap_or(Value::Null));
        }
        if let Some(leader) = joined(live, &states) {
            return Ok((leader, states));
        }
        if started.elapsed() > timeout {
            let shown: Vec<String> = states
                .iter()
                .map(|s| format!("{:#}", s["coordination"]))
                .collect();
            return Err(format!(
                "the instances {live:?} did not join within {timeout:?}:\n{}",
                shown.join("\n")
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `proxy-N` → N.
pub(crate) fn instance_index(name: &str) -> Option<usize> {
    INSTANCES.iter().position(|n| *n == name)
}

impl Scenario {
    /// Starts everything with `on_coordinator_lost = on_lost` and waits
    /// until every instance is connected, one leads, each lists three
    /// instances and routes to db-0; then starts the load.
    pub(crate) async fn start(on_lost: &str) -> Scenario {
        let etcd = Etcd::start().await;
        let mut backends = Vec::new();
        for name in BACKENDS {
            backends.push(RecordingBackend::start(name).await);
        }
        let mut health = Vec::new();
        let mut relays = Vec::new();
        for _ in INSTANCES {
            let mut mine = Vec::new();
            for b in 0..BACKENDS.len() {
                mine.push(HealthEndpoint::healthy(b as u64).await);
            }
            health.push(mine);
            relays.push(CutRelay::start(etcd.addr()).await);
        }
        let prefix = unique_prefix();
        let builders: Vec<Builder> = (0..INSTANCES.len())
            .map(|i| {
                let table =
                    coordination_toml(&relays[i].endpoint(), &prefix, INSTANCES[i], on_lost);
                instance_builder(&table, &backends, &health[i])
            })
            .collect();
        let sbs = futures::future::join_all(builders.into_iter().map(Builder::start)).await;
        let mut s = Scenario {
            etcd,
            backends,
            health,
            relays,
            alive: vec![true; sbs.len()],
            sbs,
            drivers: Vec::new(),
            prefix,
        };
        s.drivers = (0..INSTANCES.len())
            .map(|i| LoadDriver::start(INSTANCES[i], s.sbs[i].proxy))
            .collect();
        s.wait_joined(JOIN_TIMEOUT).await;
        s
    }

    /// The indices of the running instances.
    pub(crate) fn live(&self) -> Vec<usize> {
        (0..self.sbs.len()).filter(|&i| self.alive[i]).collect()
    }

    /// Waits until every live instance is connected, all name the same
    /// leader (a live one, which says it leads while the others say they
    /// follow), each lists every live instance, and all report the same
    /// `active`; returns the leader.
    pub(crate) async fn wait_joined(&self, timeout: Duration) -> usize {
        self.wait_joined_among(&self.live(), timeout).await
    }

    /// [`Self::wait_joined`] for the instances `live` only (the others may
    /// be cut or killed).
    pub(crate) async fn wait_joined_among(&self, live: &[usize], timeout: Duration) -> usize {
        match poll_joined(&self.sbs, live, timeout).await {
            Ok((leader, _)) => leader,
            Err(shown) => panic!("{shown}\n{}", self.summary()),
        }
    }

    /// Backend `b` fails for every instance (HTTP 503); returns the moment.
    pub(crate) fn fail_all(&self, b: usize) -> Instant {
        let at = Instant::now();
        for mine in &self.health {
            mine[b].set(Health::Status503);
        }
        at
    }

    /// Backend `b` fails for instance `i` only.
    pub(crate) fn fail_one(&self, i: usize, b: usize) -> Instant {
        self.health[i][b].set(Health::Status503)
    }

    /// Backend `b` is healthy again for every instance.
    pub(crate) fn heal_all(&self, b: usize) -> Instant {
        let at = Instant::now();
        for mine in &self.health {
            mine[b].set(Health::Healthy(b as u64));
        }
        at
    }

    /// Backend `b` is healthy again for instance `i`.
    pub(crate) fn heal_one(&self, i: usize, b: usize) -> Instant {
        self.health[i][b].set(Health::Healthy(b as u64))
    }

    /// SIGKILL to instance `i` (by its pid); returns the moment, once it
    /// has exited.
    pub(crate) async fn kill(&mut self, i: usize) -> Instant {
        let at = Instant::now();
        self.sbs[i].signal(libc::SIGKILL);
        self.sbs[i].wait_exit(Duration::from_secs(5)).await;
        self.alive[i] = false;
        at
    }

    /// Starts the killed instance `i` again (same config and ports).
    pub(crate) async fn restart(&mut self, i: usize) {
        self.sbs[i].restart().await;
        self.alive[i] = true;
    }

    /// Every session the backends recorded so far.
    pub(crate) fn hits(&self) -> Vec<Hit> {
        timeline::hits(&self.backends)
    }

    /// The sessions the backends accepted at or after `since`.
    pub(crate) fn hits_since(&self, since: Instant) -> Vec<Hit> {
        timeline::hits_since(&self.backends, Some(since))
    }

    /// Waits until every live instance's newest sessions reach `backend`,
    /// then measures from `since` the first moment from which all of
    /// them did (`timeline::agreement_after`); prints it under `label` and
    /// asserts it is within `budget`. Returns the figure.
    pub(crate) async fn wait_agreement(
        &self,
        label: &str,
        since: Instant,
        backend: usize,
        budget: Duration,
    ) -> Duration {
        let live = self.live();
        let limit = budget + OVERTIME;
        let agreed = poll_until(limit, || async {
            tokio::time::sleep(Duration::from_millis(15)).await;
            timeline::agreed(&self.hits_since(since), &live, backend, since, TAIL)
        })
        .await;
        let hits = self.hits_since(since);
        let took = agreed
            .then(|| timeline::agreement_after(&hits, &live, backend, since))
            .flatten();
        let Some(took) = took else {
            panic!(
                "{label}: the live instances {live:?} did not all route to {} within {limit:?}\n{}",
                BACKENDS[backend],
                self.summary()
            );
        };
        eprintln!(
            "COORD {label}: every live instance routes to {} {} after the fault (budget {})",
            BACKENDS[backend],
            ms(took),
            ms(budget)
        );
        assert!(
            took <= budget,
            "{label}: agreement on {} took {} (budget {})\n{}",
            BACKENDS[backend],
            ms(took),
            ms(budget),
            self.summary()
        );
        took
    }

    /// Lets `hold` pass after `since` and asserts that every live
    /// instance's sessions in that window reached `backend` only, and that
    /// each still had sessions in its last 200 ms.
    pub(crate) async fn assert_no_move(
        &self,
        label: &str,
        since: Instant,
        hold: Duration,
        backend: usize,
    ) {
        let until = since + hold;
        tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
        let hits = self.hits_since(since);
        for i in self.live() {
            let seen = timeline::reached(&hits, i, since, until);
            assert_eq!(
                seen,
                [backend],
                "{label}: {}'s sessions reached {seen:?} in the {hold:?} after the fault\n{}",
                INSTANCES[i],
                self.summary()
            );
            let recent = timeline::reached(&hits, i, until - Duration::from_millis(200), until);
            assert!(
                !recent.is_empty(),
                "{label}: {} routed no session in the last 200 ms\n{}",
                INSTANCES[i],
                self.summary()
            );
        }
        eprintln!(
            "COORD {label}: nobody moved off {} for {} after the fault",
            BACKENDS[backend],
            ms(hold)
        );
    }

    /// One line per instance: alive, newest session (backend, age), the
    /// driver's counts; for failure messages.
    pub(crate) fn summary(&self) -> String {
        let now = Instant::now();
        let hits = self.hits_since(now.checked_sub(Duration::from_secs(60)).unwrap_or(now));
        let mut out = format!(
            "prefix {}; instances (newest session: backend, age; driver ok/failed/skipped):",
            self.prefix
        );
        for (i, name) in INSTANCES.iter().enumerate() {
            let newest = hits.iter().rev().find(|h| h.instance == i);
            let newest = newest.map_or("none".to_string(), |h| {
                format!("{} {} ago", BACKENDS[h.backend], ms(now - h.at))
            });
            let d = &self.drivers.get(i);
            let (ok, failed, skipped) = d.map_or((0, 0, 0), |d| (d.ok(), d.failed(), d.skipped()));
            out.push_str(&format!(
                "\n  {name}: {} newest {newest}; {ok}/{failed}/{skipped}; relay {}",
                if self.alive[i] { "alive" } else { "killed" },
                if self.relays[i].is_cut() {
                    "cut"
                } else {
                    "open"
                }
            ));
        }
        out
    }
}

/// The leader, when `states` (of the instances `live`, in order) show every
/// one connected, listing every live instance, naming one shared live
/// leader (which says it leads, the others that they follow) and one
/// shared `active`.
pub(crate) fn joined(live: &[usize], states: &[Value]) -> Option<usize> {
    let leader = states.first()?["coordination"]["leader"]
        .as_str()?
        .to_string();
    let leader_index = instance_index(&leader)?;
    let active = states.first()?["active"].as_str()?.to_string();
    for (k, s) in states.iter().enumerate() {
        let c = &s["coordination"];
        let listed = c["instances"].as_array().map_or(0, Vec::len);
        let role_ok = if live[k] == leader_index {
            c["role"] == "leader"
        } else {
            c["role"] == "follower"
        };
        if c["connected"] != true
            || !role_ok
            || c["leader"].as_str() != Some(&leader)
            || listed != live.len()
            || s["active"].as_str() != Some(&active)
        {
            return None;
        }
    }
    live.contains(&leader_index).then_some(leader_index)
}
