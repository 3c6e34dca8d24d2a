//! The operators' commands on the [`Cluster`]: routing and monitoring on or
//! off, a backend's admin state, and the startup freeze of monitoring.
//!
//! Owns the rule that an operator change is saved before it takes effect:
//! if the state file cannot be written, the writer goes back to the truth
//! it had and nothing is published, so memory and disk never disagree
//! half-way. Must never publish an event for a change it did not make.

use std::time::SystemTime;

use super::{Cluster, CommandError, Monitoring, OperatorState, Routing, Truth, Writer};
use crate::bus::{AdminState, EventKind};

impl Cluster {
    /// Routing on or off (with the operator's message) and/or monitoring
    /// on or off, as one change: both are saved and applied, or neither.
    /// While monitoring is off, probe results are dropped and the active
    /// stays where it is.
    pub fn set_flags(
        &self,
        routing: Option<(bool, &str)>,
        monitoring: Option<bool>,
        actor: &str,
    ) -> Result<(), CommandError> {
        let mut w = self.lock();
        let now = SystemTime::now();
        let before = w.truth.clone();
        if let Some((enabled, message)) = routing {
            let current = &w.truth.routing;
            if current.enabled != enabled || current.message != message {
                if current.enabled != enabled {
                    w.truth.routing_epoch += 1;
                }
                w.truth.routing = Routing {
                    enabled,
                    message: message.to_string(),
                    changed_at: now,
                };
                w.pending.push(EventKind::RoutingChanged {
                    enabled,
                    message: message.to_string(),
                    actor: actor.to_string(),
                });
            }
        }
        if let Some(enabled) = monitoring {
            if w.truth.monitoring.enabled != enabled {
                w.truth.monitoring = Monitoring {
                    enabled,
                    changed_at: now,
                };
                w.pending.push(EventKind::MonitoringChanged {
                    enabled,
                    actor: actor.to_string(),
                });
            }
        }
        self.save_then_commit(&mut w, before)
    }

    /// Monitoring off at startup, once the first verdicts are in, when the
    /// state file or `[monitor] enabled = false` says so. Not saved: it
    /// comes from the file or the config already.
    pub fn freeze_monitoring_at_startup(&self, actor: &str) {
        let mut w = self.lock();
        if !w.truth.monitoring.enabled {
            return;
        }
        w.truth.monitoring = Monitoring {
            enabled: false,
            changed_at: SystemTime::now(),
        };
        w.pending.push(EventKind::MonitoringChanged {
            enabled: false,
            actor: actor.to_string(),
        });
        self.commit(&mut w);
    }

    /// Routing on or off with the operator's message.
    pub fn set_routing(
        &self,
        enabled: bool,
        message: &str,
        actor: &str,
    ) -> Result<(), CommandError> {
        self.set_flags(Some((enabled, message)), None, actor)
    }

    /// Monitoring on or off.
    pub fn set_monitoring(&self, enabled: bool, actor: &str) -> Result<(), CommandError> {
        self.set_flags(None, Some(enabled), actor)
    }

    /// Sets one backend's admin state and re-runs the election; saved and
    /// applied, or neither.
    pub fn set_admin(
        &self,
        name: &str,
        state: AdminState,
        message: &str,
        actor: &str,
    ) -> Result<(), CommandError> {
        let mut w = self.lock();
        let pos = w
            .truth
            .backends
            .iter()
            .position(|b| b.name == name)
            .ok_or(CommandError::UnknownBackend)?;
        let b = &w.truth.backends[pos];
        if b.admin == state && b.admin_message == message {
            return Ok(());
        }
        let before = w.truth.clone();
        let b = &mut w.truth.backends[pos];
        b.admin = state;
        b.admin_message = message.to_string();
        b.admin_epoch += 1;
        w.pending.push(EventKind::BackendStateChanged {
            backend: name.to_string(),
            state,
            message: message.to_string(),
            actor: actor.to_string(),
        });
        let cause = format!("{name} set {} by {actor}", state.as_str());
        self.reelect(&mut w, &cause);
        self.save_then_commit(&mut w, before)
    }

    /// An operator change is saved before it takes effect: if the state
    /// file cannot be written, the writer goes back to `before` and nothing
    /// is published, so memory and disk never disagree half-way.
    fn save_then_commit(&self, w: &mut Writer, before: Truth) -> Result<(), CommandError> {
        if w.pending.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.persist(w) {
            w.truth = before;
            w.pending.clear();
            return Err(e);
        }
        self.commit(w);
        Ok(())
    }

    /// Saves the operator decisions, under the writer lock so that saves
    /// happen in the order of the changes.
    fn persist(&self, w: &Writer) -> Result<(), CommandError> {
        let Some(path) = &self.inner.state_file else {
            return Ok(());
        };
        OperatorState::from_truth(&w.truth).save(path).map_err(|e| {
            tracing::error!(path = %path.display(), error = %e, "could not save operator state");
            CommandError::NotPersisted(format!(
                "could not save operator state to {}: {e}",
                path.display()
            ))
        })
    }
}
