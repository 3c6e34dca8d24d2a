//! The HTTP side of the `galera` and `http` checks: the client each check
//! probes with (timeouts, TLS trust, `server_name`), the reason a TLS
//! failure gets, and the short reason a non-200 answer gets from its body
//! (docs/configuration.md).
//!
//! With `server_name` the request goes to `https://<server_name>:<port>/...`
//! (so SNI, the verified name and the `Host` header are that name) while a
//! resolver of this client's own pins the name to the URL's real host:
//! the check still connects where the URL says. It never reads a CA file
//! (the configuration did, and validated it) and never puts a URL, which
//! may carry credentials, into a reason.

use std::error::Error;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use switchboard_config::HttpTls;

/// Most bytes of a body's first line that go into a reason.
pub(crate) const REASON_BODY_BYTES: usize = 200;

/// What a `galera` or `http` check sends its requests with.
pub(crate) struct HttpProbe {
    /// The client, with the check's timeouts and TLS trust.
    pub client: reqwest::Client,
    /// The URL requested: the configured one, or with `server_name` in
    /// place of its host.
    pub url: String,
    /// Whether the URL is `https://`: a closed handshake is then a TLS failure.
    pub https: bool,
}

impl HttpProbe {
    /// Builds the client for `url` with `tls`. `Err` says why it could not
    /// be built (our problem, never the backend's).
    pub(crate) fn new(url: &str, tls: &HttpTls, timeout: Duration) -> Result<HttpProbe, String> {
        let https = url.starts_with("https://");
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(1);
        if !https {
            // Plain HTTP never needs roots: skip loading the system store.
            builder = builder.tls_built_in_root_certs(false);
        }
        if let Some(ca) = &tls.ca {
            builder = builder.tls_built_in_root_certs(false);
            for der in ca.certificates() {
                let cert = reqwest::Certificate::from_der(der)
                    .map_err(|e| format!("cannot use the CA of {}: {e}", ca.origin()))?;
                builder = builder.add_root_certificate(cert);
            }
        }
        let mut target = url.to_string();
        if let Some(name) = &tls.server_name {
            let mut parsed =
                reqwest::Url::parse(url).map_err(|e| format!("cannot parse the check URL: {e}"))?;
            let host = parsed
                .host_str()
                .ok_or("the check URL has no host")?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            parsed
                .set_host(Some(name))
                .map_err(|e| format!("cannot use server_name: {e}"))?;
            target = parsed.into();
            builder = builder.dns_resolver(Arc::new(PinnedHost { host }));
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", chain(&e)))?;
        Ok(HttpProbe {
            client,
            url: target,
            https,
        })
    }
}

/// Resolves every name this client looks up (only ever its `server_name`)
/// to the host of the configured URL.
struct PinnedHost {
    /// The URL's host: an IP literal or a name to look up.
    host: String,
}

impl Resolve for PinnedHost {
    fn resolve(&self, _name: Name) -> Resolving {
        let host = self.host.clone();
        Box::pin(async move {
            // Port 0: the connector puts the URL's port in.
            if let Ok(ip) = host.parse::<IpAddr>() {
                let addrs: Addrs = Box::new(std::iter::once(SocketAddr::new(ip, 0)));
                return Ok(addrs);
            }
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// `TLS handshake failed: <why>` when the error is a TLS one (a rustls
/// error anywhere in the chain, or an https handshake the server closed).
pub(crate) fn tls_reason(e: &reqwest::Error, https: bool) -> Option<String> {
    let mut next: Option<&(dyn Error + 'static)> = e.source();
    // Bounded: error chains are a handful of links deep.
    for _ in 0..16 {
        let inner = next?;
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            return Some(format!("TLS handshake failed: {tls}"));
        }
        next = match inner.downcast_ref::<io::Error>() {
            Some(io) => {
                if https && e.is_connect() && io.kind() == io::ErrorKind::UnexpectedEof {
                    return Some("TLS handshake failed: the server closed the connection".into());
                }
                // io::Error::source skips the error it wraps (which may be
                // another io::Error around the rustls one): look inside.
                match io.get_ref() {
                    Some(wrapped) => Some(wrapped as &(dyn Error + 'static)),
                    None => inner.source(),
                }
            }
            None => inner.source(),
        };
    }
    None
}

/// `HTTP <status>`, with the first line of `body` when it has one:
/// control characters removed, at most [`REASON_BODY_BYTES`] bytes.
pub(crate) fn status_reason(status: u16, body: &[u8]) -> String {
    let line = body.split(|&b| b == b'\n').next().unwrap_or_default();
    let text: String = String::from_utf8_lossy(line)
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let text = text.trim();
    let mut end = text.len().min(REASON_BODY_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = text[..end].trim_end();
    if text.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {text}")
    }
}

/// Every message of an error chain, for a builder error (no URL in it).
fn chain(e: &dyn Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    for _ in 0..8 {
        let Some(inner) = source else { break };
        out.push_str(": ");
        out.push_str(&inner.to_string());
        source = inner.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reason_carries_the_first_line_of_the_body() {
        assert_eq!(
            status_reason(503, b"galera node is donor\nmore detail\n"),
            "HTTP 503: galera node is donor"
        );
        assert_eq!(status_reason(503, b""), "HTTP 503");
        assert_eq!(status_reason(500, b"\r\n\r\nsecond line"), "HTTP 500");
        assert_eq!(
            status_reason(503, b"  node\tis\x1b[31m \x07down\r\n"),
            "HTTP 503: nodeis[31m down",
            "control characters are removed"
        );
        assert_eq!(
            status_reason(502, b"\xff\xfebad utf-8"),
            "HTTP 502: \u{fffd}\u{fffd}bad utf-8"
        );
    }

    #[test]
    fn a_status_reason_keeps_at_most_200_bytes_on_a_char_boundary() {
        let long = "x".repeat(300);
        assert_eq!(
            status_reason(503, long.as_bytes()),
            format!("HTTP 503: {}", "x".repeat(200))
        );
        // 199 ASCII bytes then a 2-byte character straddling byte 200.
        let straddle = format!("{}é and more", "y".repeat(199));
        assert_eq!(
            status_reason(503, straddle.as_bytes()),
            format!("HTTP 503: {}", "y".repeat(199))
        );
    }

    #[tokio::test]
    async fn the_pinned_resolver_answers_the_url_host() {
        let pinned = PinnedHost {
            host: "127.0.0.7".into(),
        };
        let name: Name = "db.example".parse().expect("a name");
        let addrs: Vec<SocketAddr> = pinned.resolve(name).await.expect("resolves").collect();
        assert_eq!(addrs, vec![SocketAddr::from(([127, 0, 0, 7], 0))]);
        let pinned = PinnedHost { host: "::1".into() };
        let name: Name = "db.example".parse().expect("a name");
        let addrs: Vec<SocketAddr> = pinned.resolve(name).await.expect("resolves").collect();
        assert_eq!(addrs, vec!["[::1]:0".parse::<SocketAddr>().expect("addr")]);
    }

    #[test]
    fn server_name_replaces_the_host_of_the_request() {
        let tls = HttpTls {
            ca: None,
            server_name: Some("db-0.internal".into()),
        };
        let probe = HttpProbe::new(
            "https://127.0.0.1:9200/api/v1/status",
            &tls,
            Duration::from_secs(1),
        )
        .expect("builds");
        assert_eq!(probe.url, "https://db-0.internal:9200/api/v1/status");
        assert!(probe.https);
        let plain = HttpProbe::new(
            "http://[::1]:9200/x",
            &HttpTls::default(),
            Duration::from_secs(1),
        )
        .expect("builds");
        assert_eq!(plain.url, "http://[::1]:9200/x");
        assert!(!plain.https);
    }
}
