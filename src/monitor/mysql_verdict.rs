//! The `mysql` check's decision: from the one row set a probe reads to a
//! verdict with its reason (docs/configuration.md, "The mysql check").
//!
//! Owns the probe's statement and the pure verdict table, so every rule can
//! be tested without a server: Primary component, `wsrep_ready`,
//! `wsrep_local_state` (4 Synced, or 2 Donor/Desynced with
//! `available_when_donor`; `wsrep_desync = ON` counts as Donor/Desynced),
//! `wsrep_reject_queries`, `read_only`; a server without wsrep is judged on
//! `read_only` alone. A value the server sent goes into a reason only
//! through `reason::printable`. Never touches a socket, and never sees the password.

use switchboard_config::MysqlCheck;
use switchboard_core::consistency::GaleraFacts;

use crate::reason::printable;

/// The probe's one statement on MariaDB (with or without wsrep) and MySQL
/// 5.7: name/value rows of the status and the variables it needs, in one
/// round trip. Missing rows are simply absent (a plain server has no
/// `wsrep_on`, MySQL has no wsrep at all), so it never fails for want of a
/// variable, and reading `information_schema` needs no privilege beyond
/// `USAGE`; it is allowed on a Galera node that is not Primary.
pub(crate) const PROBE_SQL: &str = "SELECT VARIABLE_NAME, VARIABLE_VALUE \
FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN \
('WSREP_CLUSTER_STATUS', 'WSREP_LOCAL_STATE', 'WSREP_LOCAL_INDEX', 'WSREP_READY', \
'WSREP_CLUSTER_CONF_ID', 'WSREP_CLUSTER_STATE_UUID') \
UNION ALL SELECT VARIABLE_NAME, VARIABLE_VALUE \
FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME IN \
('WSREP_ON', 'WSREP_DESYNC', 'WSREP_REJECT_QUERIES', 'READ_ONLY')";

/// The same rows where `information_schema` has no status tables (MySQL
/// 8.0 and later): `performance_schema`, which every user may read too.
pub(crate) const PROBE_SQL_PERFORMANCE_SCHEMA: &str = "SELECT VARIABLE_NAME, VARIABLE_VALUE \
FROM performance_schema.global_status WHERE VARIABLE_NAME IN \
('wsrep_cluster_status', 'wsrep_local_state', 'wsrep_local_index', 'wsrep_ready', \
'wsrep_cluster_conf_id', 'wsrep_cluster_state_uuid') \
UNION ALL SELECT VARIABLE_NAME, VARIABLE_VALUE \
FROM performance_schema.global_variables WHERE VARIABLE_NAME IN \
('wsrep_on', 'wsrep_desync', 'wsrep_reject_queries', 'read_only')";

/// What the server said: the name/value rows of one probe, names in
/// upper case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ServerState {
    rows: Vec<(String, String)>,
}

impl ServerState {
    /// The rows as read (any case).
    pub(crate) fn from_rows(rows: impl IntoIterator<Item = (String, String)>) -> ServerState {
        ServerState {
            rows: rows
                .into_iter()
                .map(|(name, value)| (name.to_ascii_uppercase(), value))
                .collect(),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.rows
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
    }

    fn on(&self, name: &str) -> bool {
        self.get(name).is_some_and(is_on)
    }
}

/// The verdict of one probe that read its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) ok: bool,
    /// `wsrep_local_index` of a healthy Galera node; `None` keeps the
    /// index (a plain server's is its config position).
    pub(crate) index: Option<u64>,
    pub(crate) reason: String,
    /// For the cross-node staleness rule: a Galera node's view of its
    /// cluster, healthy or not.
    pub(crate) galera: Option<GaleraFacts>,
}

/// Which states still count as available (the check's switches).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Availability {
    pub(crate) when_donor: bool,
    pub(crate) when_read_only: bool,
}

impl Availability {
    pub(crate) fn of(check: &MysqlCheck) -> Availability {
        Availability {
            when_donor: check.available_when_donor,
            when_read_only: check.available_when_read_only,
        }
    }
}

/// `ON`, `1`, `YES`, `TRUE` in any case.
fn is_on(value: &str) -> bool {
    ["ON", "1", "YES", "TRUE"]
        .iter()
        .any(|v| v.eq_ignore_ascii_case(value))
}

/// `read_only` is on unless it says off (MariaDB 11 also knows `NO_LOCK`
/// and `NO_LOCK_NO_ADMIN`, both read-only).
fn read_only(state: &ServerState) -> bool {
    state.get("READ_ONLY").is_some_and(|v| {
        !["OFF", "0", "NO", "FALSE", ""]
            .iter()
            .any(|o| o.eq_ignore_ascii_case(v))
    })
}

/// `wsrep_local_state` as Galera names it.
fn state_name(state: u64) -> &'static str {
    match state {
        1 => "Joining",
        2 => "Donor/Desynced",
        3 => "Joined",
        4 => "Synced",
        _ => "unknown",
    }
}

/// The verdict table on the rows as a server sent them, as `(ok, index,
/// reason)`. Public so that the fuzz targets (`fuzz/`) run the very table
/// a probe runs on whatever a server answers; the Galera facts it also
/// derives stay inside the crate.
pub fn mysql_verdict(
    rows: impl IntoIterator<Item = (String, String)>,
    available_when_donor: bool,
    available_when_read_only: bool,
) -> (bool, Option<u64>, String) {
    let available = Availability {
        when_donor: available_when_donor,
        when_read_only: available_when_read_only,
    };
    let v = verdict(&ServerState::from_rows(rows), available);
    (v.ok, v.index, v.reason)
}

/// The verdict table.
pub(crate) fn verdict(state: &ServerState, available: Availability) -> Verdict {
    let fail = |reason: String, galera: Option<GaleraFacts>| Verdict {
        ok: false,
        index: None,
        reason,
        galera,
    };
    let read_only = read_only(state);
    if !state.on("WSREP_ON") {
        // A plain server: it answered; only read_only matters.
        if read_only && !available.when_read_only {
            return fail("read_only=ON".into(), None);
        }
        let reason = if read_only {
            "read_only=ON (available_when_read_only)"
        } else {
            "answers, writable"
        };
        return Verdict {
            ok: true,
            index: None,
            reason: reason.into(),
            galera: None,
        };
    }
    let status = state.get("WSREP_CLUSTER_STATUS").unwrap_or("unknown");
    let primary = status.eq_ignore_ascii_case("Primary");
    let facts = match (
        state
            .get("WSREP_CLUSTER_CONF_ID")
            .and_then(|v| v.parse::<u64>().ok()),
        state
            .get("WSREP_CLUSTER_STATE_UUID")
            .filter(|u| !u.is_empty()),
    ) {
        (Some(conf_id), Some(uuid)) => Some(GaleraFacts {
            primary,
            conf_id,
            state_uuid: uuid.to_string(),
        }),
        _ => None,
    };
    if !primary {
        return fail(
            format!(
                "non-Primary component (wsrep_cluster_status={})",
                printable(status)
            ),
            facts,
        );
    }
    if !state.on("WSREP_READY") {
        let ready = state.get("WSREP_READY").unwrap_or("unknown");
        return fail(format!("wsrep_ready={}", printable(ready)), facts);
    }
    let local_state = state
        .get("WSREP_LOCAL_STATE")
        .and_then(|v| v.parse::<u64>().ok());
    let donor = local_state == Some(2) || state.on("WSREP_DESYNC");
    if donor && !available.when_donor {
        return fail("Donor/Desynced".into(), facts);
    }
    if !donor && local_state != Some(4) {
        let reason = match local_state {
            Some(s) => format!("wsrep_local_state {s} ({})", state_name(s)),
            None => "wsrep_local_state unknown".into(),
        };
        return fail(reason, facts);
    }
    if let Some(reject) = state
        .get("WSREP_REJECT_QUERIES")
        .filter(|v| !v.eq_ignore_ascii_case("NONE"))
    {
        return fail(
            format!(
                "rejecting queries (wsrep_reject_queries={})",
                printable(reject)
            ),
            facts,
        );
    }
    if read_only && !available.when_read_only {
        return fail("read_only=ON".into(), facts);
    }
    let Some(index) = state
        .get("WSREP_LOCAL_INDEX")
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return fail("no usable wsrep_local_index".into(), facts);
    };
    let mut reason = if donor {
        "Donor/Desynced (available_when_donor)".to_string()
    } else {
        "Synced".to_string()
    };
    reason.push_str(&format!(", wsrep_local_index {index}"));
    if read_only {
        reason.push_str(", read_only=ON (available_when_read_only)");
    }
    Verdict {
        ok: true,
        index: Some(index),
        reason,
        galera: facts,
    }
}

#[cfg(test)]
#[path = "mysql_verdict_tests.rs"]
mod tests;
