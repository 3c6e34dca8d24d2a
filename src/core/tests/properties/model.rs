//! The reference model the properties compare the real `Cluster` with: the
//! rules of docs/operations.md written the plainest way, by backend name,
//! with no knowledge of how `Cluster` schedules its elections.
//!
//! - Hysteresis: a backend's first verdict decides; after that it takes
//!   exactly `fall` consecutive failures to go down and exactly `rise`
//!   consecutive successes to come back; an opposite result resets the
//!   count; a reload keeps the count and applies the new thresholds.
//! - Electable: healthy and enabled.
//! - Startup: nothing is elected until every backend has had a verdict
//!   once while one of them was electable (the first election).
//! - Active: none when none is electable; otherwise, with failback and no
//!   `failback_after`, the lowest `(index, position)` among the electable
//!   (a function of the inputs: equal indices cannot flap); in sticky
//!   mode, or with a `failback_after` no backend has waited yet, the
//!   current active while it stays electable, else that lowest one.
//! - Standby: the highest `(index, position)` among the electable.
//! - Index: the config position; a successful probe with an index sets
//!   it; a reload puts a tcp backend's back to its new position and keeps
//!   a galera backend's.

use switchboard_core::bus::AdminState;

/// One backend as the model knows it.
#[derive(Debug, Clone)]
pub(crate) struct ModelBackend {
    pub(crate) name: String,
    /// Galera check (keeps a probe-given index across reloads) or tcp.
    pub(crate) galera: bool,
    pub(crate) healthy: Option<bool>,
    /// Consecutive results opposite to `healthy`.
    pub(crate) streak: u32,
    pub(crate) index: u64,
    pub(crate) admin: AdminState,
}

impl ModelBackend {
    /// A backend new to the cluster at `pos`.
    pub(crate) fn fresh(name: &str, galera: bool, pos: usize) -> ModelBackend {
        ModelBackend {
            name: name.to_string(),
            galera,
            healthy: None,
            streak: 0,
            index: pos as u64,
            admin: AdminState::Enabled,
        }
    }

    pub(crate) fn electable(&self) -> bool {
        self.healthy == Some(true) && self.admin == AdminState::Enabled
    }
}

/// The election settings of one configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) rise: u32,
    pub(crate) fall: u32,
    pub(crate) failback: bool,
    /// `failback_after` of an hour: no backend waits it out within a test.
    pub(crate) failback_after_hour: bool,
}

/// The whole model.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub(crate) backends: Vec<ModelBackend>,
    pub(crate) settings: Settings,
    pub(crate) monitoring: bool,
    pub(crate) routing: bool,
    /// The first election has happened.
    pub(crate) started: bool,
    pub(crate) active: Option<String>,
}

impl Model {
    pub(crate) fn new(backends: Vec<ModelBackend>, settings: Settings) -> Model {
        Model {
            backends,
            settings,
            monitoring: true,
            routing: true,
            started: false,
            active: None,
        }
    }

    /// One probe of `pos`; dropped while monitoring is off.
    pub(crate) fn probe(&mut self, pos: usize, ok: bool, index: Option<u64>) {
        if !self.monitoring {
            return;
        }
        let (rise, fall) = (self.settings.rise.max(1), self.settings.fall.max(1));
        let b = &mut self.backends[pos];
        match b.healthy {
            None => {
                b.healthy = Some(ok);
                b.streak = 0;
            }
            Some(h) if h == ok => b.streak = 0,
            Some(_) => {
                b.streak += 1;
                if b.streak >= if ok { rise } else { fall } {
                    b.healthy = Some(ok);
                    b.streak = 0;
                }
            }
        }
        if ok {
            if let Some(index) = index {
                b.index = index;
            }
        }
        self.elect();
    }

    /// An operator's admin change.
    pub(crate) fn admin(&mut self, pos: usize, state: AdminState) {
        self.backends[pos].admin = state;
        self.elect();
    }

    /// A reload to `names` (with their checks) and `settings`.
    pub(crate) fn reload(&mut self, names: &[(String, bool)], settings: Settings) {
        let old = std::mem::take(&mut self.backends);
        self.backends = names
            .iter()
            .enumerate()
            .map(|(pos, (name, galera))| {
                let mut b = old
                    .iter()
                    .find(|o| &o.name == name)
                    .cloned()
                    .unwrap_or_else(|| ModelBackend::fresh(name, *galera, pos));
                if !b.galera {
                    b.index = pos as u64;
                }
                b
            })
            .collect();
        self.settings = settings;
        if self
            .active
            .as_ref()
            .is_some_and(|a| !self.backends.iter().any(|b| &b.name == a))
        {
            self.active = None;
        }
        self.elect();
    }

    /// The lowest `(index, position)` among the electable.
    fn best(&self) -> Option<usize> {
        self.backends
            .iter()
            .enumerate()
            .filter(|(_, b)| b.electable())
            .min_by_key(|&(pos, b)| (b.index, pos))
            .map(|(pos, _)| pos)
    }

    /// The standby: the highest `(index, position)` among the electable,
    /// once started.
    pub(crate) fn standby(&self) -> Option<String> {
        if !self.started {
            return None;
        }
        self.backends
            .iter()
            .enumerate()
            .filter(|(_, b)| b.electable())
            .max_by_key(|&(pos, b)| (b.index, pos))
            .map(|(_, b)| b.name.clone())
    }

    fn elect(&mut self) {
        let all_known = self.backends.iter().all(|b| b.healthy.is_some());
        if !self.started {
            if !(all_known && self.backends.iter().any(ModelBackend::electable)) {
                return;
            }
            self.started = true;
        }
        let current = self
            .active
            .as_ref()
            .and_then(|a| self.backends.iter().find(|b| &b.name == a))
            .filter(|b| b.electable())
            .map(|b| b.name.clone());
        let keeps = !self.settings.failback || self.settings.failback_after_hour;
        self.active = match current {
            Some(current) if keeps => Some(current),
            _ => self.best().map(|p| self.backends[p].name.clone()),
        };
    }
}
