//! The limits of the native format: `[proxy] max_sessions` and `[api]
//! max_connections`, `header_timeout`, `request_timeout`,
//! `max_header_bytes` (docs/configuration.md, docs/api.md "Limits").
//!
//! Owns their defaults and the rules that make them values the binary can
//! honour: a limit of zero would refuse everything, a zero timeout would
//! cut every client, and a header limit below what any browser sends (or
//! above what anyone needs) is a typo. It must never open a socket or read
//! the open-file limit: the bridge derives the default session limit from
//! it when `max_sessions` is absent (`None`).

use std::time::Duration;

use super::tree::Reader;
use super::{parse_duration, Problems};

/// `[api]`'s limits on each of its listeners (API, health, metrics,
/// springboard), so that no client can hold the control plane: each
/// listener counts its own connections, so a flood on the API port never
/// takes the health port's places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// Connections open at once on one listener (TLS handshakes and SSE
    /// streams included); one more is answered 503 (plain HTTP) or closed
    /// (TLS) at once, never queued.
    pub max_connections: usize,
    /// How long a client may take to send a request's head (request line
    /// and headers), counted from the connect or from the end of the
    /// previous answer on a kept-alive connection: a slowloris client, or
    /// an idle kept-alive one, is closed after it.
    pub header_timeout: Duration,
    /// How long a request may take from its head to its answer's head
    /// (reading the body included), for every route but the SSE stream:
    /// 408 after it.
    pub request_timeout: Duration,
    /// The largest request head (request line and headers) in bytes: 431
    /// beyond it.
    pub max_header_bytes: usize,
}

/// `api.max_connections` by default: tens of connections are what an API
/// serves (operators' tools, a few dashboards, each one SSE stream and a
/// request or two, Prometheus, load balancers' health checks), so 256 is
/// an order of magnitude of headroom while bounding what one abusive
/// client holds (256 descriptors, and 256 × 16 KiB of header buffers).
pub const DEFAULT_API_MAX_CONNECTIONS: usize = 256;

/// `api.header_timeout` by default: the value Go's `net/http` servers
/// are usually given (`ReadHeaderTimeout`), far above what a client on any
/// network needs to send a few hundred bytes.
pub const DEFAULT_API_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// `api.request_timeout` by default: a handler answers in milliseconds
/// (a PATCH waits at most one second for the data path), so 30 s only ever
/// cuts a client that sends its body slowly on purpose.
pub const DEFAULT_API_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `api.max_header_bytes` by default: Node.js's default; a browser's
/// request head is 1-2 KiB, and a proxy in front adds a few headers.
pub const DEFAULT_API_MAX_HEADER_BYTES: usize = 16 * 1024;

/// The smallest `api.max_header_bytes`: below it, ordinary browsers'
/// requests would be refused.
const MIN_HEADER_BYTES: u64 = 1024;

/// The largest `api.max_header_bytes` (1 MiB, Go's default): more only
/// lets a client make the API buffer more.
const MAX_HEADER_BYTES: u64 = 1024 * 1024;

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            max_connections: DEFAULT_API_MAX_CONNECTIONS,
            header_timeout: DEFAULT_API_HEADER_TIMEOUT,
            request_timeout: DEFAULT_API_REQUEST_TIMEOUT,
            max_header_bytes: DEFAULT_API_MAX_HEADER_BYTES,
        }
    }
}

/// `proxy.max_sessions`: a whole number, at least 1; `None` when absent
/// (the bridge derives the limit from the open-file limit).
pub(super) fn read_max_sessions(r: &Reader<'_>, p: &mut Problems) -> Option<u64> {
    r.uint("max_sessions", p)
        .check(&r.path("max_sessions"), p, |n| match n {
            0 => Err(
                "must be at least 1 (leave it out for the limit the open-file limit allows)".into(),
            ),
            n => Ok(n),
        })
        .opt()
}

/// The `[api]` limits, each defaulted when absent or bad.
pub(super) fn read_api_limits(r: &Reader<'_>, p: &mut Problems) -> ApiLimits {
    let d = ApiLimits::default();
    let max_connections = r
        .uint("max_connections", p)
        .check(&r.path("max_connections"), p, |n| match n {
            0 => Err("must be at least 1".into()),
            n => u32::try_from(n)
                .map(|n| n as usize)
                .map_err(|_| "is too large".into()),
        })
        .or(d.max_connections);
    let max_header_bytes = r
        .uint("max_header_bytes", p)
        .check(&r.path("max_header_bytes"), p, |n| match n {
            MIN_HEADER_BYTES..=MAX_HEADER_BYTES => Ok(n as usize),
            _ => Err(format!(
                "must be {MIN_HEADER_BYTES}..{MAX_HEADER_BYTES} bytes"
            )),
        })
        .or(d.max_header_bytes);
    ApiLimits {
        max_connections,
        header_timeout: timeout(r, "header_timeout", d.header_timeout, p),
        request_timeout: timeout(r, "request_timeout", d.request_timeout, p),
        max_header_bytes,
    }
}

/// A duration greater than zero.
fn timeout(r: &Reader<'_>, key: &str, default: Duration, p: &mut Problems) -> Duration {
    r.str(key, p)
        .check(&r.path(key), p, |s| match parse_duration(&s)? {
            d if d.is_zero() => Err("must be greater than 0".into()),
            d => Ok(d),
        })
        .or(default)
}

#[cfg(test)]
mod tests {
    use crate::{Config, Format};

    fn parse(extra_proxy: &str, extra_api: &str) -> Result<Config, String> {
        let text = format!(
            "[proxy]\nlisten = \"127.0.0.1:3306\"\n{extra_proxy}\n[api]\npassword = \"pw\"\n{extra_api}\n\
             [[backends]]\nname = \"a\"\nhost = \"127.0.0.1\"\nport = 1\ncheck = {{ kind = \"tcp\" }}\n"
        );
        Config::parse(&text, Format::Toml).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_apply_when_the_keys_are_absent() {
        let c = parse("", "").expect("valid");
        assert_eq!(c.proxy.max_sessions, None);
        assert_eq!(c.api.limits, super::ApiLimits::default());
    }

    #[test]
    fn given_values_are_read() {
        let c = parse(
            "max_sessions = 5000",
            "max_connections = 8\nheader_timeout = \"2s\"\nrequest_timeout = \"5s\"\nmax_header_bytes = 4096",
        )
        .expect("valid");
        assert_eq!(c.proxy.max_sessions, Some(5000));
        assert_eq!(c.api.limits.max_connections, 8);
        assert_eq!(c.api.limits.header_timeout.as_secs(), 2);
        assert_eq!(c.api.limits.request_timeout.as_secs(), 5);
        assert_eq!(c.api.limits.max_header_bytes, 4096);
    }

    #[test]
    fn values_that_cannot_be_honoured_are_errors_with_their_paths() {
        let e = parse(
            "max_sessions = 0",
            "max_connections = 0\nheader_timeout = \"0s\"\nrequest_timeout = \"0s\"\nmax_header_bytes = 10",
        )
        .expect_err("invalid");
        for path in [
            "proxy.max_sessions",
            "api.max_connections",
            "api.header_timeout",
            "api.request_timeout",
            "api.max_header_bytes",
        ] {
            assert!(e.contains(path), "{path} not reported: {e}");
        }
        let e = parse("max_sessions = \"many\"", "").expect_err("invalid");
        assert!(e.contains("proxy.max_sessions"), "{e}");
    }
}
