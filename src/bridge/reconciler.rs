//! `RouteReconciler`: keeps the bridge's [`RouteTable`] in line with the
//! cluster's [`Truth`], and severs what the change requires.
//!
//! Bus events only wake it; what it acts on is always the latest `Truth`,
//! compared with the truth it applied last. So a reconciler that lagged on
//! the bus (`RecvError::Lagged`) simply reconciles once more and can never act
//! on a stale route. Epoch counters in the truth tell it that a failover
//! happened even when it missed an A → B → A round trip.
//!
//! It never touches a socket: severing is cancelling leases (`route.rs`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::route::{RouteTable, Routes};
use switchboard_core::bus::{AdminState, Event, EventKind, PortRole};
use switchboard_core::cluster::{Cluster, Truth};
use switchboard_core::counters::SessionCounters;

/// The part of the truth the current route table was built from.
struct Applied {
    routing_epoch: u64,
    active_epoch: u64,
    standby_epoch: u64,
    admin_epochs: Vec<u64>,
}

/// A drain whose `drain_timeout` ran out: (backend, admin epoch it began in).
type DrainExpiry = (usize, u64);

/// Runs the reconcile loop until `shutdown`.
pub(crate) struct RouteReconciler {
    cluster: Cluster,
    routes: Routes,
    counters: Arc<SessionCounters>,
    sever_on_failover: bool,
    drain_timeout: Duration,
    applied: Option<Applied>,
    drains: (
        mpsc::UnboundedSender<DrainExpiry>,
        mpsc::UnboundedReceiver<DrainExpiry>,
    ),
}

impl RouteReconciler {
    pub(crate) fn new(
        cluster: Cluster,
        routes: Routes,
        counters: Arc<SessionCounters>,
        sever_on_failover: bool,
        drain_timeout: Duration,
    ) -> RouteReconciler {
        RouteReconciler {
            cluster,
            routes,
            counters,
            sever_on_failover,
            drain_timeout,
            applied: None,
            drains: mpsc::unbounded_channel(),
        }
    }

    /// Builds the first table synchronously, so the proxy ports open with
    /// the restored operator state already in force.
    pub(crate) fn prime(&mut self) {
        self.reconcile();
    }

    /// Follows the bus until `shutdown` is cancelled.
    pub(crate) async fn run(
        mut self,
        mut events: broadcast::Receiver<Arc<Event>>,
        shutdown: CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                received = events.recv() => match received {
                    Ok(event) if event.kind.affects_routes() => self.reconcile(),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        warn!(missed, "route reconciler lagged on the bus; resyncing from the cluster state");
                        self.reconcile();
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                Some((pos, epoch)) = self.drains.1.recv() => self.expire_drain(pos, epoch),
            }
        }
    }

    /// Brings the route table in line with the latest truth.
    fn reconcile(&mut self) {
        let truth = self.cluster.truth();
        let current = self.routes.load();
        // The message is shared by every table until it changes.
        let routing_message = if *current.routing_message == *truth.routing.message {
            current.routing_message.clone()
        } else {
            Arc::from(truth.routing.message.as_str())
        };
        let mut table = RouteTable {
            routing: truth.routing.enabled,
            routing_message,
            active: current.active.clone(),
            standby: current.standby.clone(),
            generation: truth.route_generation(),
        };
        table.active.target = truth.active;
        table.standby.target = truth.standby;
        let mut severs: Vec<(PortRole, usize, String)> = Vec::new();

        if let Some(applied) = &self.applied {
            let routing_moved = truth.routing_epoch != applied.routing_epoch;
            if routing_moved
                && (!truth.routing.enabled || truth.routing_epoch - applied.routing_epoch > 1)
            {
                let reason = format!("routing off: {}", truth.routing.message);
                for port in [PortRole::Active, PortRole::Standby] {
                    for pos in 0..truth.backends.len() {
                        severs.push((port, pos, reason.clone()));
                    }
                }
            } else {
                if self.sever_on_failover {
                    port_severs(
                        &truth,
                        &current,
                        PortRole::Active,
                        applied.active_epoch,
                        truth.active_epoch,
                        &mut severs,
                    );
                    port_severs(
                        &truth,
                        &current,
                        PortRole::Standby,
                        applied.standby_epoch,
                        truth.standby_epoch,
                        &mut severs,
                    );
                }
                for (pos, b) in truth.backends.iter().enumerate() {
                    if b.admin_epoch == applied.admin_epochs[pos] {
                        continue;
                    }
                    match b.admin {
                        AdminState::Disabled => {
                            let reason = format!("{} disabled by operator", b.name);
                            severs.push((PortRole::Active, pos, reason.clone()));
                            severs.push((PortRole::Standby, pos, reason));
                        }
                        AdminState::Drain => self.start_drain(pos, b.admin_epoch),
                        AdminState::Enabled => {}
                    }
                }
            }
        }
        self.sever_and_store(table, severs, &truth);
    }

    /// Replaces the leases of `severs` in `table`, stores it, then cancels
    /// the old leases and tells the bus.
    fn sever_and_store(
        &mut self,
        mut table: RouteTable,
        mut severs: Vec<(PortRole, usize, String)>,
        truth: &Truth,
    ) {
        severs.sort_by_key(|(port, pos, _)| (*port as u8, *pos));
        severs.dedup_by_key(|(port, pos, _)| (*port as u8, *pos));
        let mut replaced = Vec::with_capacity(severs.len());
        let mut reports = Vec::new();
        for (port, pos, reason) in severs {
            let lease = std::mem::replace(
                &mut table.port_mut(port).leases[pos],
                self.routes.new_lease(),
            );
            replaced.push(lease);
            let sessions = self
                .counters
                .of(port, pos)
                .current
                .load(std::sync::atomic::Ordering::Relaxed);
            if sessions > 0 {
                reports.push((port, pos, sessions, reason));
            }
        }
        self.routes.store(table, replaced);
        self.applied = Some(Applied {
            routing_epoch: truth.routing_epoch,
            active_epoch: truth.active_epoch,
            standby_epoch: truth.standby_epoch,
            admin_epochs: truth.backends.iter().map(|b| b.admin_epoch).collect(),
        });
        for (port, pos, sessions, reason) in reports {
            let backend = truth.backends[pos].name.clone();
            info!(backend = %backend, port = port.as_str(), sessions, reason = %reason, "severed sessions");
            self.cluster.bus().publish(EventKind::SessionsSevered {
                backend,
                port,
                sessions,
                reason,
            });
        }
    }

    /// Severs a drained backend once `drain_timeout` has passed, unless an
    /// operator changed its state in the meantime.
    fn start_drain(&self, pos: usize, epoch: u64) {
        let expiries = self.drains.0.clone();
        let timeout = self.drain_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let _ = expiries.send((pos, epoch));
        });
    }

    fn expire_drain(&mut self, pos: usize, epoch: u64) {
        let truth = self.cluster.truth();
        let Some(b) = truth.backends.get(pos) else {
            return;
        };
        if b.admin != AdminState::Drain || b.admin_epoch != epoch {
            return;
        }
        let reason = format!(
            "{} drain timeout ({:?}) expired",
            b.name, self.drain_timeout
        );
        let table = RouteTable::clone(&self.routes.load());
        let severs = vec![
            (PortRole::Active, pos, reason.clone()),
            (PortRole::Standby, pos, reason),
        ];
        self.sever_and_store(table, severs, &truth);
    }
}

/// The severs a target change on one port requires: the old target, unless
/// it is draining; every backend if more than one change was missed.
fn port_severs(
    truth: &Truth,
    current: &RouteTable,
    port: PortRole,
    applied_epoch: u64,
    epoch: u64,
    severs: &mut Vec<(PortRole, usize, String)>,
) {
    if epoch == applied_epoch {
        return;
    }
    let draining = |pos: usize| truth.backends[pos].admin == AdminState::Drain;
    let reason = |pos: usize| {
        let to = truth
            .backends
            .iter()
            .enumerate()
            .find(|(p, _)| Some(*p) == current_target(truth, port));
        format!(
            "{} port moved from {} to {}",
            port.as_str(),
            truth.backends[pos].name,
            to.map_or("none", |(_, b)| b.name.as_str())
        )
    };
    if epoch - applied_epoch == 1 {
        if let Some(old) = current.port(port).target {
            if !draining(old) {
                severs.push((port, old, reason(old)));
            }
        }
    } else {
        for pos in (0..truth.backends.len()).filter(|&p| !draining(p)) {
            severs.push((port, pos, reason(pos)));
        }
    }
}

fn current_target(truth: &Truth, port: PortRole) -> Option<usize> {
    match port {
        PortRole::Active => truth.active,
        PortRole::Standby => truth.standby,
    }
}

#[cfg(test)]
mod tests {
    //! A lagging reconciler must resync from the truth, never act on a stale
    //! route: driven on a current-thread runtime so the reconciler provably
    //! cannot run while a whole failover storm is published at capacity 1.

    use super::*;
    use switchboard_config::{Config, Format};
    use switchboard_core::cluster::{OperatorState, ProbeResult};

    fn config() -> Config {
        let mut text = String::from(
            "[proxy]\nlisten = \"127.0.0.1:1\"\n[api]\npassword = \"x\"\n[monitor]\ninterval = \"1s\"\n",
        );
        for i in 0..3 {
            text.push_str(&format!(
                "[[backends]]\nname = \"b{i}\"\nhost = \"127.0.0.1\"\nport = {}\ncheck = {{ kind = \"tcp\" }}\n",
                10 + i
            ));
        }
        Config::parse(&text, Format::Toml).expect("test config is valid")
    }

    fn probe(ok: bool) -> ProbeResult {
        ProbeResult {
            ok,
            index: None,
            reason: if ok { "up" } else { "down" }.into(),
            latency: Duration::from_millis(1),
            galera: None,
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn lagging_reconciler_resyncs_and_severs_every_stale_lease() {
        let config = config();
        let cluster = Cluster::new(
            &config,
            &OperatorState::default(),
            switchboard_core::bus::Bus::new(1, 64),
        );
        for pos in 0..3 {
            cluster.apply_probe(pos, probe(true));
        }
        let routes = Routes::new(3);
        let counters = Arc::new(SessionCounters::new(3));
        let mut reconciler = RouteReconciler::new(
            cluster.clone(),
            routes.clone(),
            counters,
            true,
            Duration::ZERO,
        );
        let events = cluster.bus().subscribe();
        reconciler.prime();
        let first = routes.load();
        assert_eq!(first.active.target, Some(0));
        let stale_lease = first.active.leases[0].clone();

        // A → B → A: the reconciler, not yet polled, misses all of it.
        cluster.apply_probe(0, probe(false));
        cluster.apply_probe(0, probe(true));
        assert_eq!(cluster.truth().active, Some(0));
        assert!(cluster.truth().active_epoch >= 3);

        let stop = CancellationToken::new();
        let task = tokio::spawn(reconciler.run(events, stop.clone()));
        assert!(
            routes
                .wait_applied(cluster.truth().route_generation(), Duration::from_secs(5))
                .await,
            "the reconciler resyncs after lagging"
        );

        let table = routes.load();
        assert_eq!(table.active.target, cluster.truth().active);
        assert_eq!(table.standby.target, cluster.truth().standby);
        assert!(
            stale_lease.is_cancelled(),
            "a session routed before the missed failovers must be severed"
        );
        assert!(
            !table.active.leases[0].is_cancelled(),
            "new sessions get a live lease"
        );
        stop.cancel();
        task.await.expect("reconciler task ends cleanly");
    }
}
