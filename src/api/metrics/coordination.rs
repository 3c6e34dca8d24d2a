//! The `[coordination]` series of `/metrics`: whether etcd is reachable,
//! whether this instance leads, how many instances are live, the decision's
//! epoch and how often etcd was lost.
//!
//! Owns their names and help texts. They exist only while the snapshot's
//! truth carries a coordination status (absent, not 0, when this instance
//! decides alone, so a dashboard can tell the two apart), and come from
//! the same snapshot as every other series of the scrape.

use std::fmt;

use super::{counter, flag, gauge, Enc};
use switchboard_core::coordination::CoordinationStatus;

/// Writes the coordination families of `status`.
pub(super) fn encode(enc: &mut Enc<'_>, status: &CoordinationStatus) -> fmt::Result {
    gauge(
        enc,
        "switchboard_coordination_connected",
        "1 while etcd is reachable (this instance leads or follows)",
        flag(status.connected()),
    )?;
    let leads = status.leader.as_deref() == Some(status.instance.as_str());
    gauge(
        enc,
        "switchboard_coordination_leader",
        "1 while this instance leads the coordination",
        flag(leads),
    )?;
    gauge(
        enc,
        "switchboard_coordination_instances",
        "Live instances whose views are published, this one included",
        i64::try_from(status.views.len()).unwrap_or(i64::MAX),
    )?;
    gauge(
        enc,
        "switchboard_coordination_epoch",
        "The epoch of the decision in force (0 before the first)",
        i64::try_from(status.epoch()).unwrap_or(i64::MAX),
    )?;
    counter(
        enc,
        "switchboard_coordination_lost",
        "Times this instance lost etcd for longer than the lease",
        status.lost_count,
    )
}
