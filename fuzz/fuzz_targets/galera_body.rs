//! The `galera` check's verdict on an answer (`galera_verdict`): any status
//! and any body a health endpoint may send (at most 64 KiB, as a probe
//! reads) give a verdict whose reason is short, one line and printable
//! (it goes into logs, events and the API), never a panic. The first byte
//! picks the status: mostly 200, so the JSON parser gets the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_monitor::galera_verdict;

/// What a probe reads of a body at most.
const BODY_LIMIT: usize = 64 * 1024;

/// The longest reason a probe may give.
const REASON_MAX: usize = 512;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let status = match pick {
        0..=191 => 200,
        192..=223 => 503,
        224..=239 => 500,
        240..=247 => 404,
        _ => 100 + u16::from(pick) * 3,
    };
    let body = &body[..body.len().min(BODY_LIMIT)];
    let (ok, index, reason) = match galera_verdict(status, body) {
        Ok((index, reason)) => (true, index, reason),
        Err(reason) => (false, None, reason),
    };
    assert!(!ok || status == 200, "only a 200 is healthy");
    assert!(ok || index.is_none());
    assert!(!reason.is_empty(), "a verdict says why");
    assert!(
        reason.len() <= REASON_MAX,
        "reason of {} bytes: {:?}",
        reason.len(),
        reason.chars().take(100).collect::<String>()
    );
    assert!(
        !reason.chars().any(char::is_control),
        "control character in reason {reason:?}"
    );
});
