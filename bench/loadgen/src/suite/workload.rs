//! The [`Workload`]s of the suite: their ids, which systems they apply to,
//! and which of them a run picks (`--only`). Names only: running a workload
//! is `measure.rs`'s, and this file must never touch a socket.

use crate::workloads::Failure;

use super::Profile;

/// One workload of the suite.
#[derive(Debug, Clone, Copy)]
pub enum Workload {
    Bulk(u32),
    Churn(usize),
    RequestResponse,
    Idle(usize),
    SeverCommand(usize),
    SeverHealth(usize),
    Failover(Failure),
}

impl Workload {
    /// The id of the workload in samples, the report and `--only`.
    pub fn id(&self) -> String {
        match self {
            Workload::Bulk(n) => format!("bulk-{n}"),
            Workload::Churn(c) => format!("churn-{c}"),
            Workload::RequestResponse => "rr-16".into(),
            Workload::Idle(n) => format!("idle-{n}"),
            Workload::SeverCommand(n) => format!("sever-{n}"),
            Workload::SeverHealth(n) => format!("sever-health-{n}"),
            Workload::Failover(Failure::Refused) => "failover-refused".into(),
            Workload::Failover(Failure::Health) => "failover-health".into(),
        }
    }

    /// A direct connection has no memory, sever or failover to measure.
    pub fn has_direct(&self) -> bool {
        matches!(
            self,
            Workload::Bulk(_) | Workload::Churn(_) | Workload::RequestResponse
        )
    }
}

/// Every workload of `profile`, or those `only` names (ids or prefixes).
pub fn select_workloads(profile: &Profile, only: &[String]) -> Result<Vec<Workload>, String> {
    let mut all = vec![
        Workload::Bulk(1),
        Workload::Bulk(8),
        Workload::Churn(1),
        Workload::Churn(32),
        Workload::RequestResponse,
    ];
    all.extend(profile.idle.iter().map(|&n| Workload::Idle(n)));
    all.extend(profile.sever.iter().map(|&n| Workload::SeverCommand(n)));
    if let Some(&n) = profile.sever.last() {
        all.push(Workload::SeverHealth(n));
    }
    all.push(Workload::Failover(Failure::Refused));
    all.push(Workload::Failover(Failure::Health));
    if only.is_empty() {
        return Ok(all);
    }
    let picked: Vec<Workload> = all
        .into_iter()
        .filter(|w| {
            only.iter()
                .any(|o| w.id() == *o || w.id().starts_with(&format!("{o}-")))
        })
        .collect();
    if picked.is_empty() {
        return Err(format!("--only {only:?} matches no workload"));
    }
    Ok(picked)
}
