//! The PATCH parameter parser (`parse_control_params`: query string, form,
//! JSON) on any request: typed values or the message of a 400, never a
//! panic. Input: the first byte picks the `Content-Type` (none, the
//! supported ones, an unsupported one, or the first line of the input);
//! then the query string up to the first newline (only when it is ASCII
//! without spaces, as in a real request line), then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_api::parse_control_params;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (raw_type, rest) = split_line(rest);
    let content_type = match pick % 8 {
        0 => None,
        1 => Some("application/json"),
        2 => Some("application/x-www-form-urlencoded"),
        3 => Some("text/plain; charset=utf-8"),
        4 => Some("application/merge-patch+json"),
        5 => Some("application/xml"),
        _ => std::str::from_utf8(raw_type).ok(),
    };
    let (query, body) = split_line(rest);
    let query = std::str::from_utf8(query)
        .ok()
        .filter(|q| q.bytes().all(|b| b.is_ascii_graphic()));
    match parse_control_params(query, content_type, body) {
        Ok(found) => {
            for (name, value) in found {
                if name.ends_with("Enabled") {
                    assert!(value == "true" || value == "false", "{name}={value:?}");
                }
                if name == "state" {
                    assert!(
                        ["enabled", "drain", "disabled"].contains(&value.as_str()),
                        "state={value:?}"
                    );
                }
            }
        }
        Err(message) => assert!(!message.is_empty(), "a 400 says why"),
    }
});

/// The bytes before the first newline, and those after it.
fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}
