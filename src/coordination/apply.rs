//! The store applied to this instance: operator state and the decision to
//! the `Cluster`, this instance's view back to the store, the status to
//! the read model, and the rules while the store is lost (`hold`,
//! `refuse`).
//!
//! Order matters and is kept here: operator state before the decision
//! (a leader deciding in the same batch sees the admin states it is asked
//! to honour), the view after both (so it acknowledges what this instance
//! actually routes by). Must never route by this instance's own election.

use std::time::{Duration, Instant, SystemTime};

use etcd_client::PutOptions;

use switchboard_config::OnCoordinatorLost;
use switchboard_core::bus::AdminState;
use switchboard_core::coordination::{CoordinationRole, CoordinationStatus, PeerBackend, PeerView};

use crate::connect::within;
use crate::session::{Local, Session};
use crate::store_state::Touched;
use crate::wire::{encode, ViewDoc};
use crate::Ctx;

/// A session has read the store: apply everything, publish, and say so.
pub(crate) async fn joined(
    ctx: &Ctx,
    local: &mut Local,
    session: &mut Session,
) -> Result<(), String> {
    let reason = if local.lost_since.is_some() {
        format!(
            "etcd answers again; routing by decision {}",
            local.store.decision.as_ref().map_or(0, |d| d.epoch)
        )
    } else {
        String::new()
    };
    apply_operator_state(ctx, local).await;
    apply_decision(ctx, local);
    local.lost_since = None;
    publish_view(ctx, local, session).await?;
    status(ctx, local, session, &reason);
    Ok(())
}

/// A watch batch touched the store.
pub(crate) async fn changed(
    ctx: &Ctx,
    local: &mut Local,
    session: &mut Session,
    touched: Touched,
) -> Result<(), String> {
    if touched.operator {
        apply_operator_state(ctx, local).await;
    }
    if touched.decision {
        apply_decision(ctx, local);
    }
    publish_view(ctx, local, session).await?;
    status(ctx, local, session, "");
    crate::operator::answer_ready(local);
    if session.leader_key.is_some() && (touched.views || touched.operator || touched.election) {
        crate::leader::decide(ctx, local, session).await?;
    }
    Ok(())
}

/// Applies the operator state in the store (a change made on any
/// instance), then waits (bounded) until this instance's bridge routes by
/// it, and only then acknowledges it.
async fn apply_operator_state(ctx: &Ctx, local: &mut Local) {
    let cluster = &ctx.cluster;
    let store = &local.store;
    let routing = store
        .routing
        .as_ref()
        .map(|(d, _)| (d.enabled, d.message.as_str(), d.actor.as_str()));
    let monitoring = store
        .monitoring
        .as_ref()
        .map(|(d, _)| (d.enabled, d.actor.as_str()));
    // Each flag with the actor that set it (a flag that did not change is
    // no change and no event).
    let results = [
        routing.map(|(enabled, message, actor)| {
            cluster.set_flags(Some((enabled, message)), None, actor)
        }),
        monitoring.map(|(enabled, actor)| cluster.set_flags(None, Some(enabled), actor)),
    ];
    for e in results.into_iter().flatten().filter_map(Result::err) {
        tracing::warn!(error = ?e, "could not apply the shared routing/monitoring state");
    }
    let names: Vec<String> = cluster
        .truth()
        .backends
        .iter()
        .map(|b| b.name.clone())
        .collect();
    for name in names {
        let (state, message, actor) = match store.admin.get(&name) {
            Some((d, _)) => (d.state, d.message.as_str(), d.actor.as_str()),
            None => (AdminState::Enabled, "", "etcd"),
        };
        let truth = cluster.truth();
        let unchanged = truth
            .backends
            .iter()
            .any(|b| b.name == name && b.admin == state && b.admin_message == message);
        if !unchanged {
            if let Err(e) = cluster.set_admin(&name, state, message, actor) {
                tracing::warn!(backend = %name, error = ?e, "could not apply a shared admin state");
            }
        }
    }
    if let Some(progress) = ctx.progress.get() {
        let generation = cluster.truth().route_generation();
        progress
            .wait_applied(generation, Duration::from_secs(1))
            .await;
    }
    local.acknowledged = store.operator_revision().max(0) as u64;
}

/// Routes by the decision in the store.
pub(crate) fn apply_decision(ctx: &Ctx, local: &mut Local) {
    if let Some(d) = &local.store.decision {
        local.highest_epoch = local.highest_epoch.max(d.epoch);
        let reason = format!("decision {} by {}: {}", d.epoch, d.leader, d.reason);
        ctx.cluster
            .apply_decision(d.active.as_deref(), d.standby.as_deref(), &reason);
    }
}

/// This instance's view, as the truth says now.
fn own_view(ctx: &Ctx, local: &Local) -> PeerView {
    let truth = ctx.cluster.truth();
    let name = |p: Option<usize>| {
        p.and_then(|p| truth.backends.get(p))
            .map(|b| b.name.clone())
    };
    PeerView {
        instance: ctx.etcd.instance.clone(),
        backends: truth
            .backends
            .iter()
            .map(|b| PeerBackend {
                name: b.name.clone(),
                healthy: b.healthy,
                index: b.index,
                reason: b.reason.clone(),
            })
            .collect(),
        active: name(truth.active),
        standby: name(truth.standby),
        epoch: local.store.decision.as_ref().map_or(0, |d| d.epoch),
        acknowledged: local.acknowledged,
    }
}

/// Puts this instance's view under its lease when anything but a reason
/// changed (a probe's fresh reason alone is not worth a write).
pub(crate) async fn publish_view(
    ctx: &Ctx,
    local: &mut Local,
    session: &mut Session,
) -> Result<(), String> {
    let view = own_view(ctx, local);
    let same = |a: &PeerView, b: &PeerView| {
        a.active == b.active
            && a.standby == b.standby
            && a.epoch == b.epoch
            && a.acknowledged == b.acknowledged
            && a.backends.len() == b.backends.len()
            && a.backends
                .iter()
                .zip(&b.backends)
                .all(|(x, y)| x.name == y.name && x.healthy == y.healthy && x.index == y.index)
    };
    if local.published.as_ref().is_some_and(|p| same(p, &view)) {
        return Ok(());
    }
    let key = ctx.keys.view(&ctx.etcd.instance);
    let value = encode(&ViewDoc::from(&view));
    let options = PutOptions::new().with_lease(session.lease);
    within(
        &ctx.etcd,
        "put view",
        session.client.put(key, value, Some(options)),
    )
    .await?;
    local.published = Some(view);
    Ok(())
}

/// Stores the status for the read model (with `reason` for a rejoin).
pub(crate) fn status(ctx: &Ctx, local: &Local, session: &Session, reason: &str) {
    let role = if session.leader_key.is_some() {
        CoordinationRole::Leader
    } else {
        CoordinationRole::Follower
    };
    ctx.cluster
        .set_coordination(build(ctx, local, role), reason);
}

fn build(ctx: &Ctx, local: &Local, role: CoordinationRole) -> CoordinationStatus {
    let store = &local.store;
    CoordinationStatus {
        instance: ctx.etcd.instance.clone(),
        role,
        leader: if role == CoordinationRole::Lost {
            None
        } else {
            store.leader()
        },
        decision: store.decision.clone(),
        views: store.views.values().cloned().collect(),
        lost_since: local.lost_since,
        combine: ctx.etcd.combine,
        on_lost: ctx.etcd.on_coordinator_lost,
        lost_count: local.lost_count,
    }
}

/// Between sessions: waits `backoff` (answering operator requests with
/// 503), declares the store lost once it has been silent for `lease_ttl`,
/// and keeps the lost rule applied as local health changes. `false` when
/// stopped.
pub(crate) async fn wait_to_retry(ctx: &Ctx, local: &mut Local, backoff: Duration) -> bool {
    let until = tokio::time::Instant::now() + backoff;
    let mut truth = ctx.cluster.watch();
    loop {
        let lost_at = local.last_ok + ctx.etcd.lease_ttl;
        if local.lost_since.is_none() && Instant::now() >= lost_at {
            enter_lost(ctx, local);
        }
        let lost_at = tokio::time::Instant::from_std(lost_at);
        tokio::select! {
            biased;
            _ = ctx.stop.cancelled() => return false,
            _ = tokio::time::sleep_until(until) => return true,
            _ = tokio::time::sleep_until(lost_at), if local.lost_since.is_none() => {}
            Ok(()) = truth.changed() => {
                if local.lost_since.is_some() {
                    apply_lost_rule(ctx);
                }
            }
            request = local.requests.recv() => {
                if let Some(request) = request {
                    crate::operator::unavailable(request, &local.last_error);
                }
            }
        }
    }
}

/// The store has been silent for `lease_ttl`.
fn enter_lost(ctx: &Ctx, local: &mut Local) {
    local.lost_since = Some(SystemTime::now());
    local.lost_count += 1;
    let what = match ctx.etcd.on_coordinator_lost {
        OnCoordinatorLost::Hold => {
            "holding the last decision while its backend stays healthy here (on_coordinator_lost = hold)"
        }
        OnCoordinatorLost::Refuse => "routing stopped (on_coordinator_lost = refuse)",
    };
    let reason = format!(
        "no answer from etcd for {} s ({}); {what}",
        ctx.etcd.lease_ttl.as_secs(),
        local.last_error
    );
    tracing::error!(%reason, "coordinator lost");
    ctx.cluster
        .set_coordination(build(ctx, local, CoordinationRole::Lost), &reason);
    apply_lost_rule(ctx);
}

/// `refuse`: route nowhere. `hold`: keep each port's backend while it is
/// healthy in this instance's own view, and move it nowhere else.
fn apply_lost_rule(ctx: &Ctx) {
    let truth = ctx.cluster.truth();
    let (active, standby, reason) = match ctx.etcd.on_coordinator_lost {
        OnCoordinatorLost::Refuse => (None, None, "coordinator lost: on_coordinator_lost = refuse"),
        OnCoordinatorLost::Hold => {
            let keep = |p: Option<usize>| p.filter(|&p| truth.backends[p].healthy == Some(true));
            (
                keep(truth.active),
                keep(truth.standby),
                "coordinator lost: the held backend is down in this instance's own view; failing over nowhere",
            )
        }
    };
    if (active, standby) != (truth.active, truth.standby) {
        let name = |p: Option<usize>| p.map(|p| truth.backends[p].name.as_str());
        ctx.cluster
            .apply_decision(name(active), name(standby), reason);
    }
}
