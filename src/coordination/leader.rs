//! The leader's work: combine the live views, run the election on the
//! combined health, and write the decision in a transaction that succeeds
//! only while this instance still holds its election key.
//!
//! The transaction is the fence: a leader that lost its lease (cut from
//! the store, paused, slow) can no longer write, whatever it believes.
//! A decision is written only when it differs from the one in force
//! (routes or combined health), so a quiet cluster writes nothing. The
//! leader routes by its decision once the store has committed it, exactly
//! as its watch's echo would (the echo, and any older put still in flight,
//! is then skipped: `StoreState::decision_revision`). Must never route by
//! a decision the store has not committed.

use std::time::{Duration, Instant};

use etcd_client::{Compare, CompareOp, Txn, TxnOp};

use switchboard_core::coordination::{combine, decide as elect, CombinedHealth, Decision};
use switchboard_core::election::ActiveElection;

use crate::connect::within;
use crate::session::{Local, Session};
use crate::wire::{encode, DecisionDoc};
use crate::Ctx;

/// Decides and writes when the decision changes; an `Err` (the fence
/// failed, the store did not answer) ends the session.
pub(crate) async fn decide(
    ctx: &Ctx,
    local: &mut Local,
    session: &mut Session,
) -> Result<(), String> {
    let Some(key) = session.leader_key.clone() else {
        return Ok(());
    };
    let truth = ctx.cluster.truth();
    let names: Vec<&str> = truth.backends.iter().map(|b| b.name.as_str()).collect();
    let views: Vec<_> = local.store.views.values().cloned().collect();
    if views.is_empty() {
        // Not even our own view is back yet: nothing to decide on.
        return Ok(());
    }
    let combined = combine(ctx.etcd.combine, &names, &views);
    let healthy_for = healthy_for(local, &combined, &names);
    let monitor = &ctx.live.get().monitor;
    let election = ActiveElection {
        failback: monitor.failback,
        failback_after: monitor.failback_after,
    };
    let current = local.store.decision.as_ref();
    let Some((active, standby)) = elect(&election, &truth, &combined, current, &healthy_for) else {
        return Ok(());
    };
    let name = |p: Option<usize>| p.map(|p| truth.backends[p].name.clone());
    let (active, standby) = (name(active), name(standby));
    if let Some(d) = current {
        if d.active == active && d.standby == standby && d.combined == combined {
            return Ok(());
        }
    }
    let decision = Decision {
        reason: reason(current, &active, &combined),
        active,
        standby,
        // Never below one this process wrote or saw: epochs only grow,
        // across sessions and leaders, even if the key was lost.
        epoch: current.map_or(0, |d| d.epoch).max(local.highest_epoch) + 1,
        leader: ctx.etcd.instance.clone(),
        combined,
    };
    let fence = Compare::create_revision(key.key(), CompareOp::Equal, key.rev());
    let write = TxnOp::put(
        ctx.keys.decision(),
        encode(&DecisionDoc::from(&decision)),
        None,
    );
    let txn = Txn::new().when([fence]).and_then([write]);
    let answer = within(&ctx.etcd, "write decision", session.client.txn(txn)).await?;
    if !answer.succeeded() {
        session.leader_key = None;
        return Err("the decision was not written: this instance no longer leads".into());
    }
    tracing::info!(
        epoch = decision.epoch,
        active = decision.active.as_deref().unwrap_or("none"),
        reason = %decision.reason,
        "decision written"
    );
    // The store has it now: the next round compares with it rather than
    // with the one the watch has not replaced yet (which would write the
    // same decision twice), and this instance routes by it.
    local.highest_epoch = local.highest_epoch.max(decision.epoch);
    local.store.decision_revision = answer.header().map_or(0, |h| h.revision());
    local.store.decision = Some(decision);
    crate::apply::apply_decision(ctx, local);
    crate::apply::publish_view(ctx, local, session).await?;
    crate::apply::status(ctx, local, session, "");
    Ok(())
}

/// How long each backend has been healthy in the combined view, as far as
/// this leader has watched (a new leader counts from its own start: it
/// waits `failback_after` again rather than guess).
fn healthy_for(
    local: &mut Local,
    combined: &[CombinedHealth],
    names: &[&str],
) -> Vec<Option<Duration>> {
    let now = Instant::now();
    for c in combined {
        if c.healthy == Some(true) {
            local.healthy_since.entry(c.name.clone()).or_insert(now);
        } else {
            local.healthy_since.remove(&c.name);
        }
    }
    names
        .iter()
        .map(|n| local.healthy_since.get(*n).map(|since| now - *since))
        .collect()
}

/// Why, in words an operator reads in every instance's event log.
fn reason(
    current: Option<&Decision>,
    active: &Option<String>,
    combined: &[CombinedHealth],
) -> String {
    let healthy = combined.iter().filter(|c| c.healthy == Some(true)).count();
    let views = combined.first().map_or(0, |c| c.views);
    let Some(current) = current else {
        return format!(
            "first decision: {healthy} of {} backends healthy in {views} live views",
            combined.len()
        );
    };
    if &current.active == active {
        return format!(
            "combined health changed: {healthy} of {} backends healthy",
            combined.len()
        );
    }
    match current
        .active
        .as_ref()
        .and_then(|old| combined.iter().find(|c| &c.name == old))
    {
        Some(old) if old.healthy != Some(true) => format!(
            "{} healthy in {} of {} live views",
            old.name, old.healthy_views, old.views
        ),
        Some(old) => format!(
            "{} is not electable or a better backend is healthy",
            old.name
        ),
        None => "the previous active left the configuration".to_string(),
    }
}
