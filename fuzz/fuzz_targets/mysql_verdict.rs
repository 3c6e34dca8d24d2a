//! The `mysql` check's verdict table (`mysql_verdict`) on any rows a server
//! may answer: never a panic, a healthy verdict only with an index from a
//! Galera node (or none from a plain server), and a reason that is short,
//! one line and printable. Input: the first byte holds the two switches;
//! then lines `NAME=VALUE`, where a name of one byte 0..=9 stands for one
//! of the names the probe reads (so the fuzzer reaches every rule).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_monitor::mysql_verdict;

/// The rows `PROBE_SQL` reads.
const NAMES: [&str; 10] = [
    "WSREP_ON",
    "WSREP_CLUSTER_STATUS",
    "WSREP_READY",
    "WSREP_LOCAL_STATE",
    "WSREP_LOCAL_INDEX",
    "WSREP_DESYNC",
    "WSREP_REJECT_QUERIES",
    "READ_ONLY",
    "WSREP_CLUSTER_CONF_ID",
    "WSREP_CLUSTER_STATE_UUID",
];

/// The longest reason a probe may give.
const REASON_MAX: usize = 512;

fuzz_target!(|data: &[u8]| {
    let Some((&switches, rest)) = data.split_first() else {
        return;
    };
    let rows: Vec<(String, String)> = rest
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let eq = line.iter().position(|&b| b == b'=')?;
            let (name, value) = (&line[..eq], &line[eq + 1..]);
            let name = match name {
                [i] if usize::from(*i) < NAMES.len() => NAMES[usize::from(*i)].to_string(),
                _ => String::from_utf8_lossy(name).into_owned(),
            };
            Some((name, String::from_utf8_lossy(value).into_owned()))
        })
        .collect();
    let first_wsrep_on = rows
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("WSREP_ON"))
        .map(|(_, v)| v.clone());
    let (ok, index, reason) = mysql_verdict(rows, switches & 1 != 0, switches & 2 != 0);
    assert!(!reason.is_empty(), "a verdict says why");
    assert!(
        ok || index.is_none(),
        "an unhealthy verdict keeps the index"
    );
    // The first WSREP_ON row decides whether the server is a Galera node.
    let galera = first_wsrep_on.is_some_and(|v| {
        ["ON", "1", "YES", "TRUE"]
            .iter()
            .any(|o| o.eq_ignore_ascii_case(v.trim()))
    });
    assert!(
        !ok || index.is_some() == galera,
        "a healthy Galera node has an index, a plain server none"
    );
    assert!(
        reason.len() <= REASON_MAX,
        "reason of {} bytes",
        reason.len()
    );
    assert!(
        !reason.chars().any(char::is_control),
        "control character in reason {reason:?}"
    );
});
