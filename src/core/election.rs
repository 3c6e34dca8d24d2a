//! `ActiveElection`: who gets the active port and who the standby port.
//!
//! Pure functions over the backends' verdicts, so every rule of docs/operations.md can be
//! tested without a clock or a socket. Ties are broken by config position,
//! which makes the result a function of the inputs: equal indices can never
//! flap the way the Go switchboard's random tie-break did.
//!
//! `failback_after` (docs/configuration.md, `monitor.failback_after`) is a
//! rule of the same pure kind: the caller says how long each backend has
//! been healthy, this module decides; it never reads a clock.

use std::time::Duration;

use crate::cluster::BackendTruth;

/// The election rules in force.
#[derive(Debug, Clone, Copy)]
pub struct ActiveElection {
    /// `false` keeps the current active while it stays healthy and enabled.
    pub failback: bool,
    /// With `failback`: a backend takes the active role from a healthy,
    /// enabled active only once it has been healthy this long without a
    /// break. Zero: at once. Never delays a move off an active that is not
    /// electable, and never affects the standby.
    pub failback_after: Duration,
}

impl ActiveElection {
    /// The active port's backend: lowest `(index, position)` among electable
    /// backends, unless sticky mode keeps `current`.
    pub fn elect_active(&self, backends: &[BackendTruth], current: Option<usize>) -> Option<usize> {
        self.elect_active_after(backends, current, &[])
    }

    /// [`Self::elect_active`] with `failback_after` applied: `healthy_for[pos]`
    /// is how long backend `pos` has been healthy without a break (`None`
    /// or missing: not known to be). While the current active is electable,
    /// only it and the backends that have waited `failback_after` compete.
    pub fn elect_active_after(
        &self,
        backends: &[BackendTruth],
        current: Option<usize>,
        healthy_for: &[Option<Duration>],
    ) -> Option<usize> {
        let current = current.filter(|&cur| backends.get(cur).is_some_and(BackendTruth::electable));
        if !self.failback {
            if let Some(cur) = current {
                return Some(cur);
            }
        }
        let waited = |pos: usize| {
            self.failback_after.is_zero()
                || Some(pos) == current
                || current.is_none()
                || healthy_for
                    .get(pos)
                    .copied()
                    .flatten()
                    .is_some_and(|d| d >= self.failback_after)
        };
        electable(backends)
            .filter(|&(pos, _)| waited(pos))
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
            host: "127.0.0.1".into(),
            port: 1,
            handles: Default::default(),
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

    const FAILBACK: ActiveElection = ActiveElection {
        failback: true,
        failback_after: Duration::ZERO,
    };
    const STICKY: ActiveElection = ActiveElection {
        failback: false,
        failback_after: Duration::ZERO,
    };

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

    /// `failback_after = 30s` as a table: (healthy, index) of two backends,
    /// how long each has been healthy, the current active, the winner.
    #[test]
    fn failback_after_delays_only_a_takeover_from_a_healthy_active() {
        let e = AdminState::Enabled;
        let wait = ActiveElection {
            failback: true,
            failback_after: Duration::from_secs(30),
        };
        let s = |secs: u64| Some(Duration::from_secs(secs));
        #[allow(clippy::type_complexity)]
        let cases: [(
            &str,
            [bool; 2],
            [Option<Duration>; 2],
            Option<usize>,
            Option<usize>,
        ); 8] = [
            (
                "rejoined 10s ago: keep the healthy active",
                [true, true],
                [s(10), s(500)],
                Some(1),
                Some(1),
            ),
            (
                "29s is not yet 30s",
                [true, true],
                [s(29), s(500)],
                Some(1),
                Some(1),
            ),
            (
                "30s: takes the role back",
                [true, true],
                [s(30), s(500)],
                Some(1),
                Some(0),
            ),
            (
                "healthy for long",
                [true, true],
                [s(900), s(500)],
                Some(1),
                Some(0),
            ),
            (
                "an unhealthy active is left at once",
                [true, false],
                [s(1), None],
                Some(1),
                Some(0),
            ),
            (
                "no active yet (startup): no wait",
                [true, true],
                [s(0), s(0)],
                None,
                Some(0),
            ),
            (
                "the best is already active",
                [true, true],
                [s(1), s(500)],
                Some(0),
                Some(0),
            ),
            (
                "unknown duration counts as not waited",
                [true, true],
                [None, s(500)],
                Some(1),
                Some(1),
            ),
        ];
        for (name, healthy, healthy_for, current, want) in cases {
            let bs = vec![backend(healthy[0], 0, e), backend(healthy[1], 1, e)];
            assert_eq!(
                wait.elect_active_after(&bs, current, &healthy_for),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn failback_after_skips_a_waiting_best_for_a_waited_better_one() {
        let e = AdminState::Enabled;
        let wait = ActiveElection {
            failback: true,
            failback_after: Duration::from_secs(30),
        };
        let s = |secs: u64| Some(Duration::from_secs(secs));
        let bs = vec![
            backend(true, 0, e),
            backend(true, 1, e),
            backend(true, 2, e),
        ];
        // b0 just rejoined, b1 has waited: b1 takes over from b2 now, b0 later.
        assert_eq!(
            wait.elect_active_after(&bs, Some(2), &[s(5), s(60), s(600)]),
            Some(1)
        );
        assert_eq!(
            wait.elect_active_after(&bs, Some(1), &[s(35), s(90), s(630)]),
            Some(0)
        );
        // A drained active is left at once, to the best electable backend.
        let mut drained = bs.clone();
        drained[2].admin = AdminState::Drain;
        assert_eq!(
            wait.elect_active_after(&drained, Some(2), &[s(5), s(6), None]),
            Some(0)
        );
        // Sticky mode ignores failback_after; the standby never waits.
        let sticky = ActiveElection {
            failback: false,
            ..wait
        };
        assert_eq!(
            sticky.elect_active_after(&bs, Some(2), &[s(900), s(900), s(1)]),
            Some(2)
        );
        assert_eq!(wait.elect_standby(&bs), Some(2));
    }
}
