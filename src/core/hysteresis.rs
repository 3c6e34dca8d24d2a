//! `Hysteresis`: turns a stream of probe results into health edges with
//! HAProxy-style `rise`/`fall` counts.
//!
//! A backend starts unknown; its first probe decides at once (waiting `rise`
//! probes at startup would only delay the first route). After that it takes
//! exactly `fall` consecutive bad probes to go down and exactly `rise`
//! consecutive good ones to come back; an opposite result resets the count.

/// Counts consecutive opposite results for one backend.
#[derive(Debug, Clone)]
pub struct Hysteresis {
    rise: u32,
    fall: u32,
    state: Option<bool>,
    streak: u32,
}

impl Hysteresis {
    pub fn new(rise: u32, fall: u32) -> Hysteresis {
        Hysteresis {
            rise: rise.max(1),
            fall: fall.max(1),
            state: None,
            streak: 0,
        }
    }

    /// The same state and streak under new thresholds (a reload that
    /// changed `rise`/`fall`): a streak already past the new threshold
    /// crosses on the next probe that continues it.
    pub fn with_thresholds(&self, rise: u32, fall: u32) -> Hysteresis {
        Hysteresis {
            rise: rise.max(1),
            fall: fall.max(1),
            ..self.clone()
        }
    }

    /// Sets the state without counting (a verdict that overrides the
    /// probes, such as a stale Galera node): the streak restarts, so coming
    /// back takes the full `rise` (or `fall`). Returns the new state when it
    /// changed.
    pub fn force(&mut self, state: bool) -> Option<bool> {
        let changed = self.state != Some(state);
        self.state = Some(state);
        self.streak = 0;
        changed.then_some(state)
    }

    /// Records one probe; returns the new state when this probe crossed an edge.
    pub fn observe(&mut self, ok: bool) -> Option<bool> {
        match self.state {
            None => {
                self.state = Some(ok);
                self.streak = 0;
                Some(ok)
            }
            Some(current) if current == ok => {
                self.streak = 0;
                None
            }
            Some(_) => {
                self.streak += 1;
                let needed = if ok { self.rise } else { self.fall };
                if self.streak >= needed {
                    self.state = Some(ok);
                    self.streak = 0;
                    Some(ok)
                } else {
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_probe_decides_then_counts_exactly() {
        let mut h = Hysteresis::new(3, 2);
        assert_eq!(h.observe(true), Some(true));
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(true), None, "an opposite result resets the count");
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(false), Some(false), "fall = 2");
        assert_eq!(h.observe(true), None);
        assert_eq!(h.observe(true), None);
        assert_eq!(h.observe(true), Some(true), "rise = 3");
    }

    #[test]
    fn rise_and_fall_of_one_flip_on_every_change() {
        let mut h = Hysteresis::new(1, 1);
        assert_eq!(h.observe(false), Some(false));
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(true), Some(true));
    }

    #[test]
    fn force_overrides_and_the_way_back_takes_a_full_rise() {
        let mut h = Hysteresis::new(2, 3);
        assert_eq!(h.observe(true), Some(true));
        assert_eq!(h.force(false), Some(false), "no fall count");
        assert_eq!(h.force(false), None, "already down");
        assert_eq!(h.observe(true), None);
        assert_eq!(h.observe(true), Some(true), "rise = 2 from the force");
    }
}
