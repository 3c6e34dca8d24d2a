//! The sockets of a [`NetNs`] in any TCP state, for the black-hole fault
//! (`tests/faults/backends.rs`): the proxy's connects to a backend whose
//! packets are dropped sit in `SYN-SENT`, which
//! [`NetNs::established`] does not list. Reads only (`ss`), inside the
//! namespace; never changes anything.

use std::process::{Command, Stdio};

use super::NetNs;

impl NetNs {
    /// The TCP sockets in `state` (an `ss` state: `syn-sent`,
    /// `established`, `connected`, `all`...) matching the `ss` filter
    /// `filter` (`"dport = :3306"`), one line each.
    pub fn sockets(&self, state: &str, filter: &str) -> Vec<String> {
        let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file())
            .unwrap_or("ip");
        let out = Command::new(ip)
            .args(["netns", "exec", self.name(), "ss", "-Htn", "state", state])
            .args(filter.split_whitespace())
            .stdin(Stdio::null())
            .output()
            .expect("ss");
        assert!(
            out.status.success(),
            "ss state {state} {filter}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}
