//! `Fleet`: a cluster of `n` echo backends `db-0..db-(n-1)`, each with a
//! healthy galera endpoint whose `wsrep_local_index` is its position, so
//! `db-0` is the active once switchboard has probed them all; and
//! [`Greeters`]: `b0..` greeting backends with healthy endpoints of given
//! indices. It must never wait for more than it says.

use std::time::Duration;

use super::{Backend, Builder, HealthEndpoint, Switchboard};

pub struct Fleet {
    pub backends: Vec<Backend>,
    pub health: Vec<HealthEndpoint>,
}

impl Fleet {
    pub async fn start(n: usize) -> Fleet {
        let mut backends = Vec::new();
        let mut health = Vec::new();
        for i in 0..n {
            backends.push(Backend::echo(&format!("db-{i}")).await);
            health.push(HealthEndpoint::healthy(i as u64).await);
        }
        Fleet { backends, health }
    }

    /// (backend, its health endpoint), in config order.
    pub fn pairs(&self) -> Vec<(&Backend, &HealthEndpoint)> {
        self.backends.iter().zip(self.health.iter()).collect()
    }

    /// `builder` with this fleet's backends added.
    pub fn config(&self, builder: Builder) -> Builder {
        self.pairs()
            .into_iter()
            .fold(builder, |b, (backend, health)| b.backend(backend, health))
    }

    /// Starts switchboard in front of this fleet with `builder`'s knobs and
    /// waits (at most 10 s) for `db-0` to be active.
    pub async fn switchboard(&self, builder: Builder) -> Switchboard {
        let sb = self.config(builder).start().await;
        sb.wait_active(Some("db-0"), Duration::from_secs(10)).await;
        sb
    }
}

/// `N` greeting backends `b0..b(N-1)` (each says `hello from bI` first),
/// each with a healthy galera endpoint, in config order: the setup of the
/// routing, election, failover, standby and admin tests.
pub struct Greeters<const N: usize> {
    /// `b0..`, in config order.
    pub backends: [Backend; N],
    /// Their health endpoints, `health[i]` belonging to `backends[i]`.
    pub health: [HealthEndpoint; N],
}

impl<const N: usize> Greeters<N> {
    /// Starts `b0..` with healthy endpoints whose `wsrep_local_index`
    /// values are `indices`, in order.
    pub async fn start(indices: [u64; N]) -> Greeters<N> {
        let mut backends = Vec::new();
        for i in 0..N {
            backends.push(Backend::greeting(&format!("b{i}")).await);
        }
        let mut health = Vec::new();
        for index in indices {
            health.push(HealthEndpoint::healthy(index).await);
        }
        Greeters {
            backends: backends.try_into().unwrap_or_else(|_| unreachable!()),
            health: health.try_into().unwrap_or_else(|_| unreachable!()),
        }
    }

    /// Starts switchboard with `builder`'s knobs in front of `b0..` (in
    /// order, without waiting for an election) and hands everything back.
    pub async fn switchboard(
        self,
        builder: Builder,
    ) -> (Switchboard, [Backend; N], [HealthEndpoint; N]) {
        let sb = self
            .backends
            .iter()
            .zip(&self.health)
            .fold(builder, |b, (backend, health)| b.backend(backend, health))
            .start()
            .await;
        (sb, self.backends, self.health)
    }
}
