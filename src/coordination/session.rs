//! One connected session with etcd: a fresh lease, one read of everything
//! under the prefix, a watch from the revision after it, the campaign for
//! leadership, and the loop that keeps the lease alive and reacts to the
//! store, to this instance's truth and to operator requests.
//!
//! A session ends on the first sign that the store is gone (a failed
//! request, a broken stream, an expired lease, or no answer for
//! `lease_ttl`); the next one starts from scratch, so nothing a session
//! learned can outlive the connection it came on. Owns [`Local`], what
//! persists from one session to the next. Must never wait on the store
//! without a deadline.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use etcd_client::{Client, EventType, GetOptions, LeaderKey, WatchOptions};
use tokio::sync::mpsc;

use switchboard_core::coordination::{OperatorRequest, PeerView};

use crate::connect::{connect, within};
use crate::operator::Pending;
use crate::store_state::{StoreState, Touched};
use crate::Ctx;

/// What outlives a session.
pub(crate) struct Local {
    /// The API's operator changes.
    pub(crate) requests: mpsc::Receiver<OperatorRequest>,
    /// When the store last answered (a keep-alive, a watch message).
    pub(crate) last_ok: Instant,
    /// Since when the store is lost (`None`: not lost).
    pub(crate) lost_since: Option<SystemTime>,
    /// How often it was lost.
    pub(crate) lost_count: u64,
    /// Why the last session ended.
    pub(crate) last_error: String,
    /// The store as last known (shown while lost).
    pub(crate) store: StoreState,
    /// The view this session last put (`None`: not yet this session).
    pub(crate) published: Option<PeerView>,
    /// The newest operator change this instance has applied.
    pub(crate) acknowledged: u64,
    /// Since when each backend is healthy in the combined view (the
    /// leader's `failback_after`).
    pub(crate) healthy_since: HashMap<String, Instant>,
    /// Operator changes stored and waiting for acknowledgements.
    pub(crate) pending: Vec<Pending>,
    /// The highest decision epoch this process wrote or applied, so a
    /// decision it writes is always newer.
    pub(crate) highest_epoch: u64,
}

impl Local {
    pub(crate) fn new(requests: mpsc::Receiver<OperatorRequest>) -> Local {
        Local {
            requests,
            last_ok: Instant::now(),
            lost_since: None,
            lost_count: 0,
            last_error: String::new(),
            store: StoreState::default(),
            published: None,
            acknowledged: 0,
            healthy_since: HashMap::new(),
            pending: Vec::new(),
            highest_epoch: 0,
        }
    }

    /// A session ended with `why`: what it had is no longer current.
    pub(crate) fn failed(&mut self, why: &str) {
        self.last_error = why.to_string();
        self.published = None;
        for p in self.pending.drain(..) {
            p.answer_unconfirmed();
        }
    }
}

/// The state of one live session.
pub(crate) struct Session {
    pub(crate) client: Client,
    pub(crate) lease: i64,
    /// Our election key once we lead.
    pub(crate) leader_key: Option<LeaderKey>,
}

/// Runs one session; `Ok` only when stopped.
pub(crate) async fn run(ctx: &Ctx, local: &mut Local) -> Result<(), String> {
    let etcd = &ctx.etcd;
    let mut client = connect(etcd).await?;
    let ttl = etcd.lease_ttl.as_secs() as i64;
    let lease = within(etcd, "lease grant", client.lease_grant(ttl, None))
        .await?
        .id();
    let (mut keeper, mut keepalives) =
        within(etcd, "lease keep-alive", client.lease_keep_alive(lease)).await?;
    let all = ctx.keys.all();
    let snapshot = within(
        etcd,
        "read",
        client.get(all.clone(), Some(GetOptions::new().with_prefix())),
    )
    .await?;
    let revision = snapshot.header().map_or(0, |h| h.revision());
    let mut store = StoreState::default();
    let mut touched = Touched::default();
    for kv in snapshot.kvs() {
        store.put(
            &ctx.keys,
            kv.key(),
            kv.value(),
            kv.create_revision(),
            kv.mod_revision(),
            &mut touched,
        );
    }
    local.store = store;
    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(revision + 1);
    let mut watch = within(etcd, "watch", client.watch(all, Some(options))).await?;
    local.last_ok = Instant::now();
    let mut session = Session {
        client: client.clone(),
        lease,
        leader_key: None,
    };
    crate::apply::joined(ctx, local, &mut session).await?;

    let mut campaign = Box::pin(campaign(client.clone(), ctx, lease));
    let mut keepalive = tokio::time::interval(etcd.lease_ttl / 3);
    let mut housekeeping = tokio::time::interval(Duration::from_millis(50));
    let mut truth = ctx.cluster.watch();
    loop {
        let silent_until = tokio::time::Instant::from_std(local.last_ok + etcd.lease_ttl);
        tokio::select! {
            biased;
            _ = ctx.stop.cancelled() => {
                leave(ctx, &mut session).await;
                return Ok(());
            }
            _ = tokio::time::sleep_until(silent_until) => {
                return Err(format!("no answer from etcd for {} s", etcd.lease_ttl.as_secs()));
            }
            _ = keepalive.tick() => {
                within(etcd, "lease keep-alive", keeper.keep_alive()).await?;
            }
            answer = keepalives.message() => match answer {
                Ok(Some(a)) if a.ttl() > 0 => local.last_ok = Instant::now(),
                Ok(Some(_)) => return Err("the lease expired".into()),
                Ok(None) => return Err("the keep-alive stream ended".into()),
                Err(e) => return Err(format!("etcd lease keep-alive: {e}")),
            },
            message = watch.message() => {
                let response = match message {
                    Ok(Some(r)) => r,
                    Ok(None) => return Err("the watch ended".into()),
                    Err(e) => return Err(format!("etcd watch: {e}")),
                };
                if response.canceled() {
                    return Err(format!("etcd cancelled the watch: {}", response.cancel_reason()));
                }
                local.last_ok = Instant::now();
                let mut touched = Touched::default();
                for event in response.events() {
                    let Some(kv) = event.kv() else { continue };
                    match event.event_type() {
                        EventType::Put => local.store.put(
                            &ctx.keys, kv.key(), kv.value(), kv.create_revision(), kv.mod_revision(), &mut touched,
                        ),
                        EventType::Delete => local.store.delete(&ctx.keys, kv.key(), &mut touched),
                    }
                }
                if touched.any() {
                    crate::apply::changed(ctx, local, &mut session, touched).await?;
                }
            }
            won = &mut campaign, if session.leader_key.is_none() => {
                session.leader_key = Some(won?);
                tracing::info!(instance = %etcd.instance, "this instance leads the coordination");
                crate::apply::status(ctx, local, &session, "");
                crate::leader::decide(ctx, local, &mut session).await?;
            }
            Ok(()) = truth.changed() => {
                crate::apply::publish_view(ctx, local, &mut session).await?;
            }
            request = local.requests.recv() => {
                if let Some(request) = request {
                    crate::operator::store(ctx, local, &mut session, request).await?;
                }
            }
            _ = housekeeping.tick() => {
                crate::operator::answer_ready(local);
                if session.leader_key.is_some() {
                    crate::leader::decide(ctx, local, &mut session).await?;
                }
            }
        }
    }
}

/// Campaigns until this instance leads; returns its election key. etcd
/// answers a campaign only when it is won; a campaign that fails (a
/// request error) is tried again while the session lives, keeping the
/// same candidate key (the lease's).
async fn campaign(mut client: Client, ctx: &Ctx, lease: i64) -> Result<LeaderKey, String> {
    let mut failures: u64 = 0;
    loop {
        match client
            .campaign(ctx.keys.election(), ctx.etcd.instance.clone(), lease)
            .await
        {
            Ok(mut won) => {
                if let Some(key) = won.take_leader() {
                    return Ok(key);
                }
                return Err("etcd answered a campaign without a leader key".into());
            }
            Err(e) => {
                // Visible at once and then every 10 s, not every 200 ms: an
                // instance that cannot campaign can never take over.
                if failures % 50 == 0 {
                    tracing::warn!(error = %e, failures = failures + 1, "campaign failed; trying again every 200 ms");
                }
                failures += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Leaves at shutdown: resigns (so another instance leads at once) and
/// revokes the lease (so this view disappears at once). Bounded; a store
/// that does not answer lets the lease expire by itself.
async fn leave(ctx: &Ctx, session: &mut Session) {
    if let Some(key) = session.leader_key.take() {
        let resign = etcd_client::ResignOptions::new().with_leader(key);
        let _ = within(&ctx.etcd, "resign", session.client.resign(Some(resign))).await;
    }
    let _ = within(
        &ctx.etcd,
        "lease revoke",
        session.client.lease_revoke(session.lease),
    )
    .await;
}
