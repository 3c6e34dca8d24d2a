//! RFC 3339 formatting of `SystemTime` for JSON, in UTC.
//!
//! One place decides how times look on the wire: seconds precision with `Z`
//! for the switchboard API, nanoseconds for Traffic Monitor's `lastPoll`.

use std::time::SystemTime;

use serde::Serializer;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `2026-11-23T12:50:03.123456789Z` (nanoseconds, as Traffic Monitor writes).
pub fn format(t: SystemTime) -> String {
    OffsetDateTime::from(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "0001-01-01T00:00:00Z".to_string())
}

/// `2026-11-23T12:50:03Z` (whole seconds, as Go's `time.Time` marshals a
/// truncated time and as the switchboard API shows `lastUpdated`).
pub fn format_seconds(t: SystemTime) -> String {
    let dt = OffsetDateTime::from(t);
    dt.replace_nanosecond(0)
        .unwrap_or(dt)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "0001-01-01T00:00:00Z".to_string())
}

/// Serde adapter: `#[serde(with = "crate::bus::rfc3339")]`.
pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*t))
}

/// Serde adapter for `Option<SystemTime>` (`null` when absent).
pub mod option {
    use std::time::SystemTime;

    use serde::Serializer;

    pub fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::format(*t)),
            None => s.serialize_none(),
        }
    }
}
