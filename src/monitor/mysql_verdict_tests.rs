//! The verdict table of the `mysql` check, row by row.

use super::*;

/// A Synced, writable Primary node with index 1, as MariaDB 10.11 reports
/// it, with `changes` applied (a value of `None` removes the row).
fn galera(changes: &[(&str, Option<&str>)]) -> ServerState {
    let mut rows: Vec<(String, String)> = [
        ("WSREP_LOCAL_STATE", "4"),
        ("WSREP_CLUSTER_CONF_ID", "7"),
        (
            "WSREP_CLUSTER_STATE_UUID",
            "c974ade5-edcc-11f1-b84d-d2acf1db1ba4",
        ),
        ("WSREP_CLUSTER_STATUS", "Primary"),
        ("WSREP_LOCAL_INDEX", "1"),
        ("WSREP_READY", "ON"),
        ("WSREP_REJECT_QUERIES", "NONE"),
        ("WSREP_ON", "ON"),
        ("READ_ONLY", "OFF"),
        ("WSREP_DESYNC", "OFF"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    for (name, value) in changes {
        rows.retain(|(n, _)| n != name);
        if let Some(value) = value {
            rows.push((name.to_string(), value.to_string()));
        }
    }
    ServerState::from_rows(rows)
}

/// A plain MariaDB built with wsrep but not running it (Debian's): its
/// wsrep status says Disconnected, `wsrep_on` is OFF.
fn plain(read_only: &str) -> ServerState {
    ServerState::from_rows(
        [
            ("WSREP_CLUSTER_STATUS", "Disconnected"),
            ("WSREP_READY", "OFF"),
            ("WSREP_LOCAL_INDEX", "18446744073709551615"),
            ("WSREP_ON", "OFF"),
            ("READ_ONLY", read_only),
            ("WSREP_DESYNC", "OFF"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string())),
    )
}

const STRICT: Availability = Availability {
    when_donor: false,
    when_read_only: false,
};
const DONOR_OK: Availability = Availability {
    when_donor: true,
    when_read_only: false,
};
const READ_ONLY_OK: Availability = Availability {
    when_donor: false,
    when_read_only: true,
};

#[test]
fn the_galera_table() {
    #[allow(clippy::type_complexity)]
    let cases: Vec<(
        &str,
        Vec<(&str, Option<&str>)>,
        Availability,
        bool,
        Option<u64>,
        &str,
    )> = vec![
        (
            "synced",
            vec![],
            STRICT,
            true,
            Some(1),
            "Synced, wsrep_local_index 1",
        ),
        (
            "non-Primary",
            vec![("WSREP_CLUSTER_STATUS", Some("non-Primary"))],
            STRICT,
            false,
            None,
            "non-Primary component (wsrep_cluster_status=non-Primary)",
        ),
        (
            "disconnected",
            vec![("WSREP_CLUSTER_STATUS", Some("Disconnected"))],
            DONOR_OK,
            false,
            None,
            "non-Primary component (wsrep_cluster_status=Disconnected)",
        ),
        (
            "not ready",
            vec![("WSREP_READY", Some("OFF"))],
            STRICT,
            false,
            None,
            "wsrep_ready=OFF",
        ),
        (
            "donor",
            vec![("WSREP_LOCAL_STATE", Some("2"))],
            STRICT,
            false,
            None,
            "Donor/Desynced",
        ),
        (
            "donor, allowed",
            vec![("WSREP_LOCAL_STATE", Some("2"))],
            DONOR_OK,
            true,
            Some(1),
            "Donor/Desynced (available_when_donor), wsrep_local_index 1",
        ),
        (
            "desync=ON counts as Donor/Desynced",
            vec![("WSREP_DESYNC", Some("ON"))],
            STRICT,
            false,
            None,
            "Donor/Desynced",
        ),
        (
            "desync=ON, allowed",
            vec![("WSREP_DESYNC", Some("ON"))],
            DONOR_OK,
            true,
            Some(1),
            "Donor/Desynced (available_when_donor), wsrep_local_index 1",
        ),
        (
            "joined",
            vec![("WSREP_LOCAL_STATE", Some("3"))],
            DONOR_OK,
            false,
            None,
            "wsrep_local_state 3 (Joined)",
        ),
        (
            "joining",
            vec![("WSREP_LOCAL_STATE", Some("1"))],
            STRICT,
            false,
            None,
            "wsrep_local_state 1 (Joining)",
        ),
        (
            "no state",
            vec![("WSREP_LOCAL_STATE", None)],
            STRICT,
            false,
            None,
            "wsrep_local_state unknown",
        ),
        (
            "rejecting queries",
            vec![("WSREP_REJECT_QUERIES", Some("ALL"))],
            DONOR_OK,
            false,
            None,
            "rejecting queries (wsrep_reject_queries=ALL)",
        ),
        (
            "read_only",
            vec![("READ_ONLY", Some("ON"))],
            STRICT,
            false,
            None,
            "read_only=ON",
        ),
        (
            "read_only, allowed",
            vec![("READ_ONLY", Some("ON"))],
            READ_ONLY_OK,
            true,
            Some(1),
            "Synced, wsrep_local_index 1, read_only=ON (available_when_read_only)",
        ),
        (
            "MariaDB 11 read_only=NO_LOCK is read-only",
            vec![("READ_ONLY", Some("NO_LOCK"))],
            STRICT,
            false,
            None,
            "read_only=ON",
        ),
        (
            "an unusable index",
            vec![("WSREP_LOCAL_INDEX", Some("x"))],
            STRICT,
            false,
            None,
            "no usable wsrep_local_index",
        ),
    ];
    for (name, changes, available, ok, index, reason) in cases {
        let v = verdict(&galera(&changes), available);
        assert_eq!(
            (v.ok, v.index, v.reason.as_str()),
            (ok, index, reason),
            "{name}"
        );
    }
}

#[test]
fn a_galera_verdict_carries_the_cluster_view_healthy_or_not() {
    let facts = Some(GaleraFacts {
        primary: true,
        conf_id: 7,
        state_uuid: "c974ade5-edcc-11f1-b84d-d2acf1db1ba4".into(),
    });
    assert_eq!(verdict(&galera(&[]), STRICT).galera, facts);
    assert_eq!(
        verdict(&galera(&[("WSREP_LOCAL_STATE", Some("2"))]), STRICT).galera,
        facts,
        "a donor still reports its view"
    );
    let np = verdict(
        &galera(&[("WSREP_CLUSTER_STATUS", Some("non-Primary"))]),
        STRICT,
    );
    assert_eq!(np.galera.map(|f| f.primary), Some(false));
    let no_uuid = verdict(&galera(&[("WSREP_CLUSTER_STATE_UUID", Some(""))]), STRICT);
    assert_eq!(no_uuid.galera, None);
    let big = verdict(
        &galera(&[("WSREP_CLUSTER_CONF_ID", Some("18446744073709551614"))]),
        STRICT,
    );
    assert_eq!(big.galera.map(|f| f.conf_id), Some(u64::MAX - 1), "u64");
}

#[test]
fn a_plain_server_is_healthy_when_writable() {
    let v = verdict(&plain("OFF"), STRICT);
    assert_eq!(
        (v.ok, v.index, v.reason.as_str(), v.galera),
        (true, None, "answers, writable", None)
    );
    let v = verdict(&plain("ON"), STRICT);
    assert_eq!((v.ok, v.reason.as_str()), (false, "read_only=ON"));
    let v = verdict(&plain("ON"), READ_ONLY_OK);
    assert_eq!(
        (v.ok, v.index, v.reason.as_str()),
        (true, None, "read_only=ON (available_when_read_only)")
    );
    // MySQL without wsrep at all: only read_only comes back, lower case.
    let mysql = ServerState::from_rows([("read_only".to_string(), "OFF".to_string())]);
    assert!(verdict(&mysql, STRICT).ok);
    // Nothing at all (an odd server): it answered and is not read-only.
    assert!(verdict(&ServerState::default(), STRICT).ok);
}

#[test]
fn the_probe_statement_is_one_statement_naming_every_variable() {
    for sql in [PROBE_SQL, PROBE_SQL_PERFORMANCE_SCHEMA] {
        assert!(!sql.contains(';'), "one statement");
        for name in [
            "wsrep_cluster_status",
            "wsrep_local_state",
            "wsrep_local_index",
            "wsrep_ready",
            "wsrep_cluster_conf_id",
            "wsrep_cluster_state_uuid",
            "wsrep_on",
            "wsrep_desync",
            "wsrep_reject_queries",
            "read_only",
        ] {
            assert!(
                sql.to_ascii_lowercase().contains(&format!("'{name}'")),
                "{name} in {sql}"
            );
        }
    }
}

/// Fuzzing found it (fuzz target `mysql_verdict`, its crash input inlined
/// below): a server's value went into the reason raw, so a control
/// character (or a newline forging a log line) reached the logs, events and
/// the API. Values are now one printable line of at most 200 bytes.
#[test]
fn server_values_reach_the_reason_only_printable_and_short() {
    // The input the fuzzer found: WSREP_ON=ON, WSREP_CLUSTER_STATUS=n\x02=OFF.
    let (ok, index, reason) = mysql_verdict(
        [
            ("WSREP_ON".to_string(), "ON".to_string()),
            ("WSREP_CLUSTER_STATUS".to_string(), "n\u{2}=OFF".to_string()),
        ],
        false,
        false,
    );
    assert_eq!(
        (ok, index, reason.as_str()),
        (
            false,
            None,
            "non-Primary component (wsrep_cluster_status=n=OFF)"
        )
    );
    let long = "x".repeat(5000);
    for (name, value) in [
        ("WSREP_CLUSTER_STATUS", "non\nPrimary\u{1b}[2J"),
        ("WSREP_READY", "OFF\r\nforged line"),
        ("WSREP_REJECT_QUERIES", "ALL\u{0}\u{7}"),
        ("WSREP_CLUSTER_STATUS", long.as_str()),
        ("WSREP_REJECT_QUERIES", long.as_str()),
    ] {
        let v = verdict(&galera(&[(name, Some(value))]), STRICT);
        assert!(!v.ok, "{name}");
        assert!(
            !v.reason.chars().any(char::is_control),
            "{name}: {:?}",
            v.reason
        );
        assert!(v.reason.len() <= 300, "{name}: {} bytes", v.reason.len());
    }
}
