//! `RouteReconciler`: keeps the bridge's [`RouteTable`] in line with the
//! cluster's [`Truth`], and severs what the change requires.
//!
//! Bus events only wake it; what it acts on is always the latest `Truth`,
//! compared with the truth it applied last. So a reconciler that lagged on
//! the bus (`RecvError::Lagged`) simply reconciles once more and can never act
//! on a stale route. Epoch counters in the truth tell it that a failover
//! happened even when it missed an A → B → A round trip. After a reload that
//! moved the backends (`Truth::layout`), the table is first rebased onto the
//! new positions: a kept backend keeps its leases (its sessions flow on), a
//! backend that left has its leases cancelled.
//!
//! It never touches a socket: severing is cancelling leases (`route.rs`).

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::route::{BackendAddr, PortRoute, RouteTable, Routes};
use switchboard_config::{Config, ProxyProtocol};
use switchboard_core::bus::{AdminState, Event, EventKind, PortRole};
use switchboard_core::cluster::{Cluster, Truth};
use switchboard_core::live_config::LiveConfig;
use switchboard_core::BackendHandles;

/// The part of the truth the current route table was built from.
struct Applied {
    routing_epoch: u64,
    active_epoch: u64,
    standby_epoch: u64,
    /// By position in the table's backends.
    admin_epochs: Vec<u64>,
    /// The configuration the table's backend addresses came from.
    config: Arc<Config>,
}

/// A drain whose `drain_timeout` ran out: (backend, admin epoch it began in).
type DrainExpiry = (Arc<BackendHandles>, u64);

/// One lease to cancel, with what to report about it.
struct Sever {
    port: PortRole,
    lease: CancellationToken,
    backend: Arc<BackendAddr>,
    reason: String,
}

/// Runs the reconcile loop until `shutdown`.
pub(crate) struct RouteReconciler {
    cluster: Cluster,
    routes: Routes,
    /// `sever_on_failover`, `drain_timeout` and the backends' addresses, as
    /// of now.
    config: LiveConfig,
    applied: Option<Applied>,
    drains: (
        mpsc::UnboundedSender<DrainExpiry>,
        mpsc::UnboundedReceiver<DrainExpiry>,
    ),
}

impl RouteReconciler {
    pub(crate) fn new(cluster: Cluster, routes: Routes, config: LiveConfig) -> RouteReconciler {
        RouteReconciler {
            cluster,
            routes,
            config,
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
                Some((backend, epoch)) = self.drains.1.recv() => self.expire_drain(&backend, epoch),
            }
        }
    }

    /// Brings the route table in line with the latest truth.
    fn reconcile(&mut self) {
        let truth = self.cluster.truth();
        let config = self.config.get();
        let loaded = self.routes.load();
        let mut severs = Vec::new();
        let current = self.rebase(&loaded, &truth, &config, &mut severs);
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
            backends: current.backends.clone(),
            layout: truth.layout,
            generation: truth.route_generation(),
        };
        table.active.target = truth.active;
        table.standby.target = truth.standby;
        let mut marks: Vec<(PortRole, usize, String)> = Vec::new();

        if let Some(applied) = &self.applied {
            let routing_moved = truth.routing_epoch != applied.routing_epoch;
            if routing_moved
                && (!truth.routing.enabled || truth.routing_epoch - applied.routing_epoch > 1)
            {
                let reason = format!("routing off: {}", truth.routing.message);
                for port in [PortRole::Active, PortRole::Standby] {
                    for pos in 0..truth.backends.len() {
                        marks.push((port, pos, reason.clone()));
                    }
                }
            } else {
                if config.proxy.sever_on_failover {
                    port_severs(
                        &truth,
                        &current,
                        PortRole::Active,
                        applied.active_epoch,
                        truth.active_epoch,
                        &mut marks,
                    );
                    port_severs(
                        &truth,
                        &current,
                        PortRole::Standby,
                        applied.standby_epoch,
                        truth.standby_epoch,
                        &mut marks,
                    );
                }
                for (pos, b) in truth.backends.iter().enumerate() {
                    if b.admin_epoch == applied.admin_epochs[pos] {
                        continue;
                    }
                    match b.admin {
                        AdminState::Disabled => {
                            let reason = format!("{} disabled by operator", b.name);
                            marks.push((PortRole::Active, pos, reason.clone()));
                            marks.push((PortRole::Standby, pos, reason));
                        }
                        AdminState::Drain => {
                            self.start_drain(b.handles.clone(), b.admin_epoch, &config)
                        }
                        AdminState::Enabled => {}
                    }
                }
            }
        }
        self.sever_and_store(table, marks, severs, &truth, config);
    }

    /// The current table in `truth`'s layout, and `self.applied` with it:
    /// after a reload, every kept backend's leases and target move to its
    /// new position (found by its handles, never by name or position) and
    /// the leases of every backend that left go to `severs`. The backends'
    /// addresses are rebuilt whenever the configuration changed.
    fn rebase(
        &mut self,
        loaded: &Arc<RouteTable>,
        truth: &Truth,
        config: &Arc<Config>,
        severs: &mut Vec<Sever>,
    ) -> Arc<RouteTable> {
        let same_config = self
            .applied
            .as_ref()
            .is_some_and(|a| Arc::ptr_eq(&a.config, config));
        if loaded.layout == truth.layout && same_config {
            return loaded.clone();
        }
        let backends: Arc<[BackendAddr]> = truth
            .backends
            .iter()
            .zip(&config.backends)
            .map(|(t, c)| BackendAddr {
                name: t.name.clone(),
                host: t.host.clone(),
                port: t.port,
                resolved: t
                    .host
                    .parse::<std::net::IpAddr>()
                    .ok()
                    .map(|ip| std::net::SocketAddr::new(ip, t.port)),
                proxy_protocol: c.proxy_protocol == ProxyProtocol::V2,
                handles: t.handles.clone(),
            })
            .collect();
        if loaded.layout == truth.layout {
            return Arc::new(RouteTable {
                backends,
                ..RouteTable::clone(loaded)
            });
        }
        // Old position of each new one.
        let old: Vec<Option<usize>> = backends
            .iter()
            .map(|b| {
                loaded
                    .backends
                    .iter()
                    .position(|o| Arc::ptr_eq(&o.handles, &b.handles))
            })
            .collect();
        for (o, gone) in loaded.backends.iter().enumerate() {
            if old.contains(&Some(o)) {
                continue;
            }
            let backend = Arc::new(gone.clone());
            for port in [PortRole::Active, PortRole::Standby] {
                severs.push(Sever {
                    port,
                    lease: loaded.port(port).leases[o].clone(),
                    backend: backend.clone(),
                    reason: format!("{} removed from the configuration", gone.name),
                });
            }
        }
        let moved = |route: &PortRoute| PortRoute {
            target: route
                .target
                .and_then(|t| old.iter().position(|o| *o == Some(t))),
            leases: old
                .iter()
                .map(|o| match o {
                    Some(o) => route.leases[*o].clone(),
                    None => self.routes.new_lease(),
                })
                .collect(),
        };
        let table = RouteTable {
            active: moved(&loaded.active),
            standby: moved(&loaded.standby),
            backends,
            layout: truth.layout,
            ..RouteTable::clone(loaded)
        };
        if let Some(applied) = &mut self.applied {
            applied.admin_epochs = old
                .iter()
                .zip(&truth.backends)
                .map(|(o, b)| o.map_or(b.admin_epoch, |o| applied.admin_epochs[o]))
                .collect();
        }
        Arc::new(table)
    }

    /// Replaces the leases of `marks` in `table`, stores it, then cancels
    /// the old leases (and those of `severs`, backends that left) and tells
    /// the bus.
    fn sever_and_store(
        &mut self,
        mut table: RouteTable,
        mut marks: Vec<(PortRole, usize, String)>,
        mut severs: Vec<Sever>,
        truth: &Truth,
        config: Arc<Config>,
    ) {
        marks.sort_by_key(|(port, pos, _)| (*port as u8, *pos));
        marks.dedup_by_key(|(port, pos, _)| (*port as u8, *pos));
        for (port, pos, reason) in marks {
            let lease = std::mem::replace(
                &mut table.port_mut(port).leases[pos],
                self.routes.new_lease(),
            );
            severs.push(Sever {
                port,
                lease,
                backend: Arc::new(table.backends[pos].clone()),
                reason,
            });
        }
        let mut reports = Vec::new();
        let mut replaced = Vec::with_capacity(severs.len());
        for sever in severs {
            let sessions = sever
                .backend
                .handles
                .counts(sever.port)
                .current
                .load(std::sync::atomic::Ordering::Relaxed);
            if sessions > 0 {
                reports.push((
                    sever.port,
                    sever.backend.name.clone(),
                    sessions,
                    sever.reason,
                ));
            }
            replaced.push(sever.lease);
        }
        self.routes.store(table, replaced);
        self.applied = Some(Applied {
            routing_epoch: truth.routing_epoch,
            active_epoch: truth.active_epoch,
            standby_epoch: truth.standby_epoch,
            admin_epochs: truth.backends.iter().map(|b| b.admin_epoch).collect(),
            config,
        });
        for (port, backend, sessions, reason) in reports {
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
    fn start_drain(&self, backend: Arc<BackendHandles>, epoch: u64, config: &Config) {
        let expiries = self.drains.0.clone();
        let timeout = config.proxy.drain_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let _ = expiries.send((backend, epoch));
        });
    }

    fn expire_drain(&mut self, backend: &Arc<BackendHandles>, epoch: u64) {
        let truth = self.cluster.truth();
        let Some(pos) = truth
            .backends
            .iter()
            .position(|b| Arc::ptr_eq(&b.handles, backend))
        else {
            return;
        };
        let b = &truth.backends[pos];
        if b.admin != AdminState::Drain || b.admin_epoch != epoch {
            return;
        }
        let config = self.config.get();
        let reason = format!(
            "{} drain timeout ({:?}) expired",
            b.name, config.proxy.drain_timeout
        );
        let loaded = self.routes.load();
        let mut severs = Vec::new();
        let table = RouteTable::clone(&self.rebase(&loaded, &truth, &config, &mut severs));
        let marks = vec![
            (PortRole::Active, pos, reason.clone()),
            (PortRole::Standby, pos, reason),
        ];
        self.sever_and_store(table, marks, severs, &truth, config);
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
#[path = "reconciler_tests.rs"]
mod tests;
