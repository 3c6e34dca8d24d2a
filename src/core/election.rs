//! `ActiveElection`: who gets the active port and who the standby port.
//!
//! Pure functions over the backends' verdicts, so every rule of SPEC 5 can be
//! tested without a clock or a socket. Ties are broken by config position,
//! which makes the result a function of the inputs: equal indices can never
//! flap the way the Go switchboard's random tie-break did.

use crate::cluster::BackendTruth;

/// The election rules in force.
#[derive(Debug, Clone, Copy)]
pub struct ActiveElection {
    /// `false` keeps the current active while it stays healthy and enabled.
    pub failback: bool,
}

impl ActiveElection {
    /// The active port's backend: lowest `(index, position)` among electable
    /// backends, unless sticky mode keeps `current`.
    pub fn elect_active(&self, backends: &[BackendTruth], current: Option<usize>) -> Option<usize> {
        if !self.failback {
            if let Some(cur) = current {
                if backends.get(cur).is_some_and(BackendTruth::electable) {
                    return Some(cur);
                }
            }
        }
        electable(backends)
            .min_by_key(|&(pos, b)| (b.index, pos))
            .map(|(pos, _)| pos)
    }

    /// The standby port's backend: highest `(index, position)` among
    /// electable backends.
    pub fn elect_standby(&self, backends: &[BackendTruth]) -> Option<usize> {
        electable(backends)
            .max_by_key(|&(pos, b)| (b.index, pos))
            .map(|(pos, _)| pos)
    }
}

fn electable(backends: &[BackendTruth]) -> impl Iterator<Item = (usize, &BackendTruth)> {
    backends.iter().enumerate().filter(|(_, b)| b.electable())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::AdminState;

    fn backend(healthy: bool, index: u64, admin: AdminState) -> BackendTruth {
        BackendTruth {
            name: format!("b{index}"),
            healthy: Some(healthy),
            index,
            reason: String::new(),
            health_changed_at: None,
            last_check: None,
            history: Default::default(),
            admin,
            admin_message: String::new(),
            admin_epoch: 0,
        }
    }

    const FAILBACK: ActiveElection = ActiveElection { failback: true };
    const STICKY: ActiveElection = ActiveElection { failback: false };

    #[test]
    fn lowest_index_wins_and_ties_go_to_config_order() {
        let e = AdminState::Enabled;
        let bs = vec![
            backend(true, 2, e),
            backend(true, 1, e),
            backend(true, 1, e),
        ];
        assert_eq!(FAILBACK.elect_active(&bs, None), Some(1));
        // The same inputs give the same answer whatever the current active is.
        assert_eq!(FAILBACK.elect_active(&bs, Some(2)), Some(1));
        assert_eq!(FAILBACK.elect_standby(&bs), Some(0));
    }

    #[test]
    fn unhealthy_unknown_drained_and_disabled_are_not_electable() {
        let mut bs = vec![
            backend(false, 0, AdminState::Enabled),
            backend(true, 1, AdminState::Drain),
            backend(true, 2, AdminState::Disabled),
            backend(true, 3, AdminState::Enabled),
        ];
        bs[3].healthy = None;
        assert_eq!(FAILBACK.elect_active(&bs, None), None);
        assert_eq!(FAILBACK.elect_standby(&bs), None);
        bs[3].healthy = Some(true);
        assert_eq!(FAILBACK.elect_active(&bs, None), Some(3));
    }

    #[test]
    fn sticky_keeps_a_healthy_active_and_moves_off_a_failed_one() {
        let e = AdminState::Enabled;
        let mut bs = vec![backend(true, 0, e), backend(true, 1, e)];
        assert_eq!(STICKY.elect_active(&bs, Some(1)), Some(1));
        bs[1].healthy = Some(false);
        assert_eq!(STICKY.elect_active(&bs, Some(1)), Some(0));
        assert_eq!(STICKY.elect_active(&bs, None), Some(0));
    }
}
