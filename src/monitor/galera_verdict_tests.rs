//! `galera_verdict`: the `galera` check on one answer, including the
//! inputs the fuzz target `galera_body` (fuzz/) exercises.

use super::galera_verdict;

#[test]
fn a_synced_node_is_healthy_with_its_index() {
    let body = br#"{"healthy":true,"wsrep_local_index":2,"wsrep_local_state":4,"wsrep_local_state_comment":"Synced"}"#;
    assert_eq!(
        galera_verdict(200, body),
        Ok((
            Some(2),
            "galera healthy (Synced), wsrep_local_index 2".into()
        ))
    );
    assert_eq!(
        galera_verdict(
            200,
            br#"{"healthy":false,"wsrep_local_state_comment":"Donor/Desynced"}"#
        ),
        Err("healthy: false (Donor/Desynced)".into())
    );
    assert_eq!(
        galera_verdict(503, b"node is donor\nmore"),
        Err("HTTP 503: node is donor".into())
    );
    assert!(galera_verdict(200, b"").is_err());
    assert!(galera_verdict(200, br#"{"wsrep_local_index":1}"#).is_err());
}

/// The same class as the `mysql_verdict` finding: the state comment and
/// serde's message (which quotes the body) went into the reason raw.
/// Every reason is one printable line of bounded length.
#[test]
fn what_the_backend_wrote_reaches_the_reason_only_printable_and_short() {
    let long = "x".repeat(60_000);
    let bodies = [
        r#"{"healthy":true,"wsrep_local_index":0,"wsrep_local_state_comment":"Synced\n2024-01-01 INFO forged\u001b[2J"}"#.to_string(),
        r#"{"healthy":false,"wsrep_local_state_comment":"a\r\nb\u0000c"}"#.to_string(),
        format!(r#"{{"healthy":true,"wsrep_local_state_comment":"{long}"}}"#),
        format!(r#"{{"healthy":"{long}\n"}}"#),
        "{\"healthy\":\"line\\nbreak\u{7}\"}".to_string(),
        "{\"healthy\": tru\u{1b}e}".to_string(),
    ];
    for body in &bodies {
        let reason = match galera_verdict(200, body.as_bytes()) {
            Ok((_, reason)) | Err(reason) => reason,
        };
        assert!(!reason.chars().any(char::is_control), "{reason:?}");
        assert!(reason.len() <= 300, "{} bytes", reason.len());
        assert!(!reason.is_empty());
    }
    assert_eq!(
        galera_verdict(200, bodies[0].as_bytes()),
        Ok((
            Some(0),
            "galera healthy (Synced2024-01-01 INFO forged[2J), wsrep_local_index 0".into()
        ))
    );
}
