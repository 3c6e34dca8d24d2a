//! The API's front door: `force_https` and basic auth (docs/api.md).
//!
//! Owns which route families are open ([`Policy::access`]), the redirect to
//! https for requests whose `X-Forwarded-Proto` values are not all `https`
//! (checked before auth; not on a TLS listener, whose requests are https
//! already), the constant-time credential check, and the
//! [`Caller`] every handler can read to name the actor of a change. It must
//! never log, echo or store an `Authorization` value or a password: failures
//! are logged at debug level with the path and the peer address only.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use subtle::{Choice, ConstantTimeEq};

use arc_swap::ArcSwap;

use super::error::ApiError;
use switchboard_config::{ApiConfig, Config};
use switchboard_core::live_config::LiveConfig;

/// Which route families answer without credentials.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Policy {
    /// `GET`/`HEAD` everywhere (`api.public_reads`).
    pub public_reads: bool,
    /// `/metrics` on the API listener (`api.public_metrics`).
    pub public_metrics: bool,
    /// `/publish/*` and `/api/*` (`traffic_monitor.public`).
    pub public_traffic_monitor: bool,
}

/// Whether a request needs credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// No credentials needed.
    Open,
    /// Valid basic-auth credentials required.
    Protected,
}

impl Policy {
    /// The policy `config` asks for.
    pub(crate) fn of(config: &Config) -> Policy {
        Policy {
            public_reads: config.api.public_reads,
            public_metrics: config.api.public_metrics,
            public_traffic_monitor: config.traffic_monitor.public,
        }
    }

    /// The access rule for one request. Anything that changes state
    /// (every method but GET and HEAD) is protected unless it is a Traffic
    /// Monitor path, and those only answer GET.
    pub(crate) fn access(&self, method: &Method, path: &str) -> Access {
        let open = if path == "/metrics" || path == "/metrics/" {
            self.public_metrics
        } else if path.starts_with("/publish/") || path.starts_with("/api/") {
            self.public_traffic_monitor
        } else {
            self.public_reads && (method == Method::GET || method == Method::HEAD)
        };
        if open {
            Access::Open
        } else {
            Access::Protected
        }
    }
}

/// Who sent a request: the authenticated user, if any, and the peer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Caller {
    /// The authenticated user name; `None` on an open route without credentials.
    pub user: Option<String>,
    /// The peer's address.
    pub addr: Option<SocketAddr>,
}

impl Caller {
    /// The actor named in bus events: `user@address`.
    pub(crate) fn actor(&self) -> String {
        let user = self.user.as_deref().unwrap_or("anonymous");
        match self.addr {
            Some(addr) => format!("{user}@{addr}"),
            None => user.to_string(),
        }
    }
}

/// The configured credentials and rules of one listener.
pub(crate) struct Guard {
    username: Vec<u8>,
    password: Vec<u8>,
    policy: Policy,
    force_https: bool,
}

impl Guard {
    /// The guard of the API listener.
    pub(crate) fn new(api: &ApiConfig, policy: Policy) -> Guard {
        Guard {
            username: api.username.as_bytes().to_vec(),
            password: api.password.expose().as_bytes().to_vec(),
            policy,
            force_https: api.force_https,
        }
    }

    /// The user named by a valid `Authorization: Basic` header, if any.
    /// Both the user name and the password are compared in constant time,
    /// and both are always compared.
    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Option<String> {
        let value = headers.get(header::AUTHORIZATION)?.as_bytes();
        let (scheme, encoded) = split_once(value, b' ')?;
        if !scheme.eq_ignore_ascii_case(b"basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim_ascii())
            .ok()?;
        let (user, password) = split_once(&decoded, b':')?;
        let ok = ct_eq_padded(user, &self.username) & ct_eq_padded(password, &self.password);
        if bool::from(ok) {
            String::from_utf8(user.to_vec()).ok()
        } else {
            None
        }
    }
}

/// Splits at the first `sep`.
fn split_once(bytes: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|b| *b == sep)?;
    Some((&bytes[..at], &bytes[at + 1..]))
}

/// Constant-time equality whose running time depends only on the length of
/// `expected` (the secret) and not on where or whether `provided` differs:
/// `provided` is copied into a buffer of the expected length first, and the
/// lengths are compared separately, without an early exit.
fn ct_eq_padded(provided: &[u8], expected: &[u8]) -> Choice {
    let mut padded = vec![0u8; expected.len()];
    let n = provided.len().min(expected.len());
    padded[..n].copy_from_slice(&provided[..n]);
    let same_len = (provided.len() as u64).ct_eq(&(expected.len() as u64));
    padded.as_slice().ct_eq(expected) & same_len
}

/// Whether every `X-Forwarded-Proto` value (comma lists included) says https.
pub(crate) fn forwarded_https(headers: &HeaderMap) -> bool {
    let mut seen = false;
    for value in headers.get_all("x-forwarded-proto") {
        let Ok(text) = value.to_str() else {
            return false;
        };
        for proto in text.split(',') {
            if !proto.trim().eq_ignore_ascii_case("https") {
                return false;
            }
            seen = true;
        }
    }
    seen
}

/// 302 to the same URL on https.
fn redirect_to_https(request: &Request) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".into());
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    match HeaderValue::try_from(format!("https://{host}{path}")) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(_) => {
            ApiError::bad_request("cannot build the https URL for this request").into_response()
        }
    }
}

/// The guard of the configuration in force: rebuilt on the first request
/// after a reload, so new credentials and rules apply from the next request.
pub(crate) struct LiveGuard {
    config: LiveConfig,
    cached: ArcSwap<(Arc<Config>, Arc<Guard>)>,
}

impl LiveGuard {
    pub(crate) fn new(config: LiveConfig) -> LiveGuard {
        let current = config.get();
        let guard = Arc::new(Guard::new(&current.api, Policy::of(&current)));
        LiveGuard {
            config,
            cached: ArcSwap::from_pointee((current, guard)),
        }
    }

    /// The guard for the configuration in force now.
    fn current(&self) -> Arc<Guard> {
        let config = self.config.get();
        let cached = self.cached.load();
        if Arc::ptr_eq(&cached.0, &config) {
            return cached.1.clone();
        }
        let guard = Arc::new(Guard::new(&config.api, Policy::of(&config)));
        self.cached.store(Arc::new((config, guard.clone())));
        guard
    }
}

/// Marks a request that arrived on a TLS listener (`server` adds it): it
/// is https already, so `force_https` does not redirect it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OverTls;

/// Middleware: `force_https` (not for a request [`OverTls`]), then
/// credentials as the [`Policy`] demands; every request that passes
/// carries a [`Caller`].
pub(crate) async fn guard(
    State(live): State<Arc<LiveGuard>>,
    mut request: Request,
    next: Next,
) -> Response {
    let guard = live.current();
    let over_tls = request.extensions().get::<OverTls>().is_some();
    if guard.force_https && !over_tls && !forwarded_https(request.headers()) {
        return redirect_to_https(&request);
    }
    let addr = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let user = guard.authenticate(request.headers());
    let access = guard.policy.access(request.method(), request.uri().path());
    if access == Access::Protected && user.is_none() {
        tracing::debug!(path = request.uri().path(), peer = ?addr, "request refused: no valid credentials");
        return ApiError::unauthorized().into_response();
    }
    request.extensions_mut().insert(Caller { user, addr });
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_config::Secret;

    fn guard() -> Guard {
        Guard {
            username: b"admin".to_vec(),
            password: Secret::new("s3cret:x").expose().as_bytes().to_vec(),
            policy: Policy::default(),
            force_https: false,
        }
    }

    fn basic(raw: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        );
        h.insert(header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    #[test]
    fn credentials_must_match_exactly() {
        let g = guard();
        assert_eq!(
            g.authenticate(&basic("admin:s3cret:x")).as_deref(),
            Some("admin")
        );
        for bad in [
            "admin:s3cret",
            "admin:s3cret:xx",
            "admi:s3cret:x",
            "admin2:s3cret:x",
            ":",
            "admin",
            "",
        ] {
            assert_eq!(g.authenticate(&basic(bad)), None, "{bad}");
        }
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(g.authenticate(&h), None);
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(g.authenticate(&h), None);
        assert_eq!(g.authenticate(&HeaderMap::new()), None);
    }

    #[test]
    fn forwarded_proto_must_be_all_https() {
        let mut h = HeaderMap::new();
        assert!(!forwarded_https(&h));
        for ok in ["https", "https,https", "https, https", "HTTPS"] {
            h.insert("x-forwarded-proto", ok.parse().unwrap());
            assert!(forwarded_https(&h), "{ok}");
        }
        for bad in ["http", "https,http", "http, https", "", "https,"] {
            h.insert("x-forwarded-proto", bad.parse().unwrap());
            assert!(!forwarded_https(&h), "{bad}");
        }
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        h.append("x-forwarded-proto", "http".parse().unwrap());
        assert!(!forwarded_https(&h));
    }

    #[test]
    fn policy_opens_only_what_is_configured() {
        let closed = Policy::default();
        assert_eq!(
            closed.access(&Method::GET, "/v0/backends"),
            Access::Protected
        );
        assert_eq!(
            closed.access(&Method::GET, "/publish/CrStates"),
            Access::Protected
        );
        let open = Policy {
            public_reads: true,
            public_metrics: false,
            public_traffic_monitor: true,
        };
        assert_eq!(open.access(&Method::GET, "/v0/backends"), Access::Open);
        assert_eq!(
            open.access(&Method::PATCH, "/v0/cluster"),
            Access::Protected
        );
        assert_eq!(open.access(&Method::GET, "/metrics"), Access::Protected);
        assert_eq!(open.access(&Method::GET, "/publish/CrStates"), Access::Open);
    }
}
