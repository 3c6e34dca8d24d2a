//! Operator changes through the store: a PATCH on any instance is one
//! transaction on the operator keys; every instance (this one too) applies
//! it from its watch and acknowledges it in its view; the PATCH answers
//! with the live instances that did within one second.
//!
//! Owns the pending changes and the rule for answering them: once this
//! instance has applied the change (its bridge routes by it) and every
//! live view acknowledged it, or when the second is up. Must never apply a
//! change to the cluster directly: the watch is the only way in, so every
//! instance applies the same changes in the same order.

use std::time::{Duration, Instant};

use etcd_client::{Txn, TxnOp};
use tokio::sync::oneshot;

use switchboard_core::cluster::CommandError;
use switchboard_core::coordination::{OperatorChange, OperatorRequest};

use crate::connect::within;
use crate::session::{Local, Session};
use crate::wire::{encode, AdminDoc, MonitoringDoc, RoutingDoc};
use crate::Ctx;

/// How long a PATCH waits for the other instances.
const ACK_WAIT: Duration = Duration::from_secs(1);

/// One stored change waiting for its answer.
pub(crate) struct Pending {
    /// The store revision that holds it.
    revision: u64,
    reply: oneshot::Sender<Result<Vec<String>, CommandError>>,
    deadline: Instant,
}

impl Pending {
    /// The session ended before the answer: the change is stored (every
    /// instance will apply it), but nobody confirmed it.
    pub(crate) fn answer_unconfirmed(self) {
        let _ = self.reply.send(Ok(Vec::new()));
    }
}

/// Writes `request` as one transaction and queues its answer.
pub(crate) async fn store(
    ctx: &Ctx,
    local: &mut Local,
    session: &mut Session,
    request: OperatorRequest,
) -> Result<(), String> {
    let keys = &ctx.keys;
    let actor = request.actor.clone();
    let ops: Vec<TxnOp> = match &request.change {
        OperatorChange::Flags {
            routing,
            monitoring,
        } => {
            let mut ops = Vec::new();
            if let Some((enabled, message)) = routing {
                let doc = RoutingDoc {
                    enabled: *enabled,
                    message: message.clone(),
                    actor: actor.clone(),
                };
                ops.push(TxnOp::put(keys.routing(), encode(&doc), None));
            }
            if let Some(enabled) = monitoring {
                let doc = MonitoringDoc {
                    enabled: *enabled,
                    actor: actor.clone(),
                };
                ops.push(TxnOp::put(keys.monitoring(), encode(&doc), None));
            }
            ops
        }
        OperatorChange::Admin {
            backend,
            state,
            message,
        } => {
            let doc = AdminDoc {
                state: *state,
                message: message.clone(),
                actor: actor.clone(),
            };
            vec![TxnOp::put(keys.admin(backend), encode(&doc), None)]
        }
    };
    let txn = Txn::new().and_then(ops);
    let answer = match within(&ctx.etcd, "store operator change", session.client.txn(txn)).await {
        Ok(answer) => answer,
        Err(e) => {
            unavailable(request, &e);
            return Err(e);
        }
    };
    let revision = answer.header().map_or(0, |h| h.revision()).max(0) as u64;
    local.pending.push(Pending {
        revision,
        reply: request.reply,
        deadline: Instant::now() + ACK_WAIT,
    });
    answer_ready(local);
    Ok(())
}

/// Answers every pending change that is acknowledged by all live views
/// (this instance included) or whose second is up.
pub(crate) fn answer_ready(local: &mut Local) {
    if local.pending.is_empty() {
        return;
    }
    let now = Instant::now();
    let views = &local.store.views;
    let mut waiting = Vec::new();
    for p in local.pending.drain(..) {
        let acked: Vec<String> = views
            .values()
            .filter(|v| v.acknowledged >= p.revision)
            .map(|v| v.instance.clone())
            .collect();
        let mine = local.acknowledged >= p.revision;
        if (mine && acked.len() == views.len()) || now >= p.deadline {
            let _ = p.reply.send(Ok(acked));
        } else {
            waiting.push(p);
        }
    }
    local.pending = waiting;
}

/// Refuses a change while the store cannot take it.
pub(crate) fn unavailable(request: OperatorRequest, why: &str) {
    let why = if why.is_empty() {
        "etcd is unreachable".to_string()
    } else {
        format!("etcd is unreachable ({why})")
    };
    let _ = request.reply.send(Err(CommandError::Unavailable(format!(
        "{why}: operator changes apply to every instance and need the coordinator"
    ))));
}
