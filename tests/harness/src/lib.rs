//! The black-box test harness of every test under `tests/`: real loopback
//! backends, real health endpoints, the real `switchboard` binary, and
//! clients that talk to it through TCP and HTTP.
//!
//! Parts:
//! - [`ports`] (free loopback ports, the [`Ports`] of one start, a listener
//!   with a deep accept queue) and [`temp_dir`] (a test's files);
//! - [`backend`] (echo servers that count their own connections),
//!   [`health`] (galera-style status endpoints switchable at runtime,
//!   counting the probes they serve) and [`fleet`] (`n` of each, `db-0..`);
//! - [`builder`] (the native TOML config of a run, every knob),
//!   [`go_config`] (the Go switchboard's YAML/JSON file);
//! - [`switchboard`] (starts, restarts, signals the binary and kills it on
//!   drop), [`api`] (its HTTP API with credentials, `/v0/state` waits),
//!   [`process`] (spawning the binary, running it to completion);
//! - [`client`] (connect / read / expect EOF with deadlines), [`data`]
//!   (seeded random byte streams hashed with sha2), [`storm`] (the failover
//!   storm of the sever-race and bus-lag tests);
//! - [`prom`] (a strict Prometheus text parser) and [`sse`] (a
//!   Server-Sent Events reader);
//! - [`tls`] (a throw-away CA and an `https://` front for health
//!   endpoints) and [`proxy_protocol`] (a backend that parses the PROXY
//!   protocol v2 header it is sent);
//! - [`mariadb`] (a real `mariadbd` on loopback, killed by pid on drop),
//!   [`mariadb_sql`] (SQL against it with `mysql_async`, re-exported),
//!   [`mariadb_env`] (its programs, the user it runs as, the skip switch) and
//!   [`galera`] (a three-node Galera cluster of them), with
//!   [`galera_sidecar`] (a galera-healthcheck-like status endpoint per node);
//! - for the coordination suite (`tests/coordination`, SPEC 13): [`etcd`]
//!   (a real single-member etcd on loopback, stopped, started again and
//!   killed by pid), [`cut_relay`] (a TCP relay in front of it that a test
//!   cuts with resets and heals) and [`recording_backend`] (a backend that
//!   records which tagged session reached it and when), the last two on
//!   [`runtime_thread`]s of their own;
//! - [`netns`] (a network namespace of a test's own, where a client can
//!   vanish without a FIN), with [`netns_sockets`] (its sockets in any TCP
//!   state);
//! - for the fault-injection suite (`tests/faults`): [`bad_health`] (a
//!   status endpoint that hangs, drips, sends 100 MiB, loops redirects...),
//!   [`faulty_backend`] (a backend that never reads, or is killed with a
//!   FIN or a reset), [`fds`] (descriptor counts and limits, memory of a
//!   process) and [`mounts`] (a tiny tmpfs to fill, a read-only bind mount).
//!
//! Rules every test follows: only 127.0.0.1 and ephemeral ports; waits poll a
//! condition with a deadline instead of sleeping; every loop is bounded in
//! count and time; only processes this harness started are signalled, by pid.
//!
//! A library of its own, compiled once and linked into the few test
//! binaries (`tests/router`, `tests/api`, `tests/data_path`).

pub mod api;
pub mod backend;
pub mod bad_health;
pub mod builder;
pub mod client;
pub mod cut_relay;
pub mod data;
pub mod etcd;
pub mod faulty_backend;
pub mod fds;
#[cfg(test)]
mod fixture_tests;
pub mod fleet;
pub mod galera;
pub mod galera_sidecar;
pub mod go_config;
pub mod health;
pub mod mariadb;
pub mod mariadb_env;
pub mod mariadb_sql;
pub mod mounts;
pub mod netns;
mod netns_sockets;
pub mod ports;
pub mod process;
pub mod prom;
pub mod proxy_protocol;
pub mod recording_backend;
mod runtime_thread;
pub mod sse;
pub mod storm;
pub mod switchboard;
pub mod temp_dir;
pub mod tls;

use std::future::Future;
use std::time::{Duration, Instant};

pub use {
    api::{backend, keys, sessions},
    backend::Backend,
    builder::Builder,
    client::*,
    cut_relay::CutRelay,
    etcd::{Etcd, EtcdTls},
    fleet::{Fleet, Greeters},
    galera::{GaleraCluster, WsrepStatus},
    galera_sidecar::GaleraSidecar,
    go_config::GoConfig,
    health::{Health, HealthEndpoint},
    mariadb::{skip_db_tests, MariaDb},
    mysql_async,
    netns::NetNs,
    ports::{free_addr, free_port, listen, Ports},
    process::{run_cli, BIN, USER},
    proxy_protocol::{ProxyHeader, ProxyProtocolBackend},
    recording_backend::{Record, RecordingBackend},
    switchboard::Switchboard,
    temp_dir::TempDir,
    tls::{peer_certificate, TestCa, TlsFront},
};

/// How often `wait_until` polls.
pub const POLL: Duration = Duration::from_millis(5);

/// Polls `cond` every few ms until it is true; panics with `what` after
/// `timeout`. Returns how long it took.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, cond: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    if !poll_until(timeout, cond).await {
        panic!("timed out after {timeout:?} waiting for: {what}");
    }
    started.elapsed()
}

/// Like [`wait_until`], for a condition that yields a value: polls `f`
/// every [`POLL`] until it returns `Some`, and returns that; panics with
/// `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if started.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Like [`wait_until`], but returns `false` instead of panicking.
pub async fn poll_until<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if cond().await {
            return true;
        }
        if started.elapsed() > timeout {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Milliseconds with one decimal, for the figures tests print.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
