//! `Secure`: the setup of the TLS and authentication tests
//! (`secure_etcd`): one etcd (TLS on its client port, maybe auth), the
//! recording backends `db-0..db-2`, and instances `proxy-0..` added one
//! by one with their own `[coordination]` lines (certificates, user,
//! password) and environment; the waits for them to join and the check
//! that their sessions reach db-0, read from the backends' records.
//!
//! Owns what it starts (killed by pid on drop); reads only.

use std::time::{Duration, Instant};

use switchboard_harness::{
    poll_until, Etcd, HealthEndpoint, RecordingBackend, Switchboard, TempDir,
};

use crate::load::LoadDriver;
use crate::scenario::{coordination_toml, instance_builder, poll_joined, unique_prefix};
use crate::timeline::{self, ms};
use crate::{AGREEMENT, BACKENDS, INSTANCES};

/// How long the instances may take to start and agree at first.
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);

/// The backends and the instances of one test against one etcd.
pub(crate) struct Secure {
    /// The store (TLS on its client port).
    pub(crate) etcd: Etcd,
    /// `db-0..db-2`, shared by every instance.
    pub(crate) backends: Vec<RecordingBackend>,
    /// Each instance's health endpoints (kept alive with it).
    pub(crate) health: Vec<Vec<HealthEndpoint>>,
    /// `sbs[i]` is `proxy-i`.
    pub(crate) sbs: Vec<Switchboard>,
    /// This test's prefix.
    pub(crate) prefix: String,
}

impl Secure {
    /// Recording backends, no instance yet.
    pub(crate) async fn new(etcd: Etcd) -> Secure {
        let mut backends = Vec::new();
        for name in BACKENDS {
            backends.push(RecordingBackend::start(name).await);
        }
        Secure {
            etcd,
            backends,
            health: Vec::new(),
            sbs: Vec::new(),
            prefix: unique_prefix(),
        }
    }

    /// Starts the next instance (`proxy-<n>`) with the shared
    /// `[coordination]` lines plus `extra` (TLS files, user, password)
    /// and environment `env`; returns its index.
    pub(crate) async fn add(&mut self, extra: &str, env: &[(&str, &str)]) -> usize {
        let i = self.sbs.len();
        let mut mine = Vec::new();
        for b in 0..BACKENDS.len() {
            mine.push(HealthEndpoint::healthy(b as u64).await);
        }
        let table = coordination_toml(&self.etcd.endpoint(), &self.prefix, INSTANCES[i], "hold");
        let mut builder = instance_builder(&format!("{table}\n{extra}"), &self.backends, &mine);
        for (k, v) in env {
            builder = builder.env(k, v);
        }
        self.health.push(mine);
        self.sbs.push(builder.start().await);
        i
    }

    /// Waits until the instances `live` are connected, agree on one of
    /// them as leader, list exactly each other and route to db-0; returns
    /// the leader.
    pub(crate) async fn wait_joined(&self, live: &[usize]) -> usize {
        let started = Instant::now();
        let (leader, states) = poll_joined(&self.sbs, live, JOIN_TIMEOUT)
            .await
            .unwrap_or_else(|shown| panic!("{shown}"));
        assert_eq!(states[0]["active"], "db-0", "{:#}", states[0]);
        eprintln!(
            "COORD secure: {live:?} joined, {} leads, {} after the wait began",
            INSTANCES[leader],
            ms(started.elapsed())
        );
        leader
    }

    /// Drives sessions through each of `live`'s proxy ports until each
    /// one's newest five reached db-0 (within [`AGREEMENT`]) and asserts
    /// none reached another backend; returns how many reached db-0.
    pub(crate) async fn assert_routes_to_db0(&self, live: &[usize]) -> usize {
        let since = Instant::now();
        let drivers: Vec<LoadDriver> = live
            .iter()
            .map(|&i| LoadDriver::start(INSTANCES[i], self.sbs[i].proxy))
            .collect();
        let routed = poll_until(AGREEMENT, || async {
            tokio::time::sleep(Duration::from_millis(15)).await;
            let hits = timeline::hits_since(&self.backends, Some(since));
            timeline::agreed(&hits, live, 0, since, 5)
        })
        .await;
        drop(drivers);
        let hits = timeline::hits_since(&self.backends, Some(since));
        for &i in live {
            let reached = timeline::reached(&hits, i, since, Instant::now());
            assert!(
                routed && reached == [0],
                "{}'s sessions reached {reached:?} (wanted only db-0 within {AGREEMENT:?})",
                INSTANCES[i]
            );
        }
        hits.len()
    }
}

/// A password file (trailing newline: removed by switchboard) in `dir`.
pub(crate) fn password_file(dir: &TempDir, password: &str) -> String {
    let path = dir.join("etcd-password");
    std::fs::write(&path, format!("{password}\n")).expect("write the password file");
    path.display().to_string()
}
