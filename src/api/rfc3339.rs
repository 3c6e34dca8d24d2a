//! RFC 3339 formatting of `SystemTime` for JSON, in UTC.
//!
//! One place decides how times look on the wire: UTC with `Z` and
//! nanoseconds, as Traffic Monitor writes `lastPoll` and Go's `time.Time`
//! marshals.

use std::time::SystemTime;

use serde::Serializer;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `2026-11-23T12:50:03.123456789Z` (nanoseconds, as Traffic Monitor writes).
pub(crate) fn format(t: SystemTime) -> String {
    OffsetDateTime::from(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "0001-01-01T00:00:00Z".to_string())
}

/// Serde adapter: `#[serde(with = "rfc3339")]`.
pub(crate) fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*t))
}

/// Serde adapter for `Option<SystemTime>` (`null` when absent).
pub(crate) mod option {
    use std::time::SystemTime;

    use serde::Serializer;

    pub(crate) fn serialize<S: Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::format(*t)),
            None => s.serialize_none(),
        }
    }
}
