//! The sockets of a [`NetNs`] in any TCP state, for the black-hole fault
//! (`tests/faults/backends.rs`): the proxy's connects to a backend whose
//! packets are dropped sit in `SYN-SENT`, which
//! [`NetNs::established`] does not list. Reads only (`ss`), inside the
//! namespace; never changes anything.

use super::NetNs;

impl NetNs {
    /// The TCP sockets in `state` (an `ss` state: `syn-sent`,
    /// `established`, `connected`, `all`...) matching the `ss` filter
    /// `filter` (`"dport = :3306"`), one line each.
    pub fn sockets(&self, state: &str, filter: &str) -> Vec<String> {
        self.ss(&["-Htn", "state", state], filter)
    }
}
