//! `Fleet`: a cluster of `n` echo backends `db-0..db-(n-1)`, each with a
//! healthy galera endpoint whose `wsrep_local_index` is its position, so
//! `db-0` is the active once switchboard has probed them all.

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
