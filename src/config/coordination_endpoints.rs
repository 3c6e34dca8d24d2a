//! `coordination.endpoints`: the etcd client URLs (docs/configuration.md,
//! `[coordination]`).
//!
//! Owns the rule that each endpoint is exactly `http://host:port` or
//! `https://host:port` (an IPv4 address, a bracketed IPv6 address or a DNS
//! name, and a port 1..65535; no user info, path, query or fragment), that
//! there is at least one, and that all share one scheme, since one TLS
//! setting applies to all of them. It never resolves a name or connects,
//! and never puts an endpoint into a message: one with user info would
//! carry a password, so messages name the entry by its index only.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::tree::{Field, Reader};
use super::Problems;

/// The scheme every endpoint shares: whether etcd is spoken to over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scheme {
    /// `http://`: plain TCP; no TLS key may be set.
    Http,
    /// `https://`: TLS, with `ca`, `cert` and `key` if given.
    Https,
}

/// The endpoints (`None` when any is wrong, recorded) and the scheme they
/// share (`None` when mixed or unknown).
pub(super) fn read_endpoints(
    r: &Reader<'_>,
    p: &mut Problems,
) -> (Option<Vec<String>>, Option<Scheme>) {
    let path = r.path("endpoints");
    let list = match r.strings("endpoints", p) {
        Field::Got(list) => list,
        Field::Bad => return (None, None),
        Field::Missing => {
            p.push(
                path,
                "required with coordination.kind = \"etcd\" (the etcd client URLs, e.g. [\"http://127.0.0.1:2379\"])",
            );
            return (None, None);
        }
    };
    if list.is_empty() {
        p.push(
            path,
            "needs at least one endpoint (e.g. \"http://127.0.0.1:2379\")",
        );
        return (None, None);
    }
    let mut ok = true;
    let (mut http, mut https) = (false, false);
    for (i, endpoint) in list.iter().enumerate() {
        match parse_endpoint(endpoint) {
            Ok(Scheme::Http) => http = true,
            Ok(Scheme::Https) => https = true,
            Err(e) => {
                p.push(format!("{path}[{i}]"), e);
                ok = false;
            }
        }
    }
    let scheme = match (http, https) {
        (true, true) => {
            p.push(
                path,
                "mixes http:// and https:// endpoints; all must use the same scheme",
            );
            ok = false;
            None
        }
        (true, false) => Some(Scheme::Http),
        (false, true) => Some(Scheme::Https),
        (false, false) => None,
    };
    (ok.then_some(list), scheme)
}

/// The scheme of one endpoint, or what is wrong with it (never the value).
fn parse_endpoint(s: &str) -> Result<Scheme, String> {
    let (scheme, rest) = if let Some(rest) = s.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = s.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        return Err(
            "must start with http:// or https:// (an etcd client URL, e.g. \"http://127.0.0.1:2379\")"
                .into(),
        );
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Err(
            "must not carry user info; set coordination.user and coordination.password".into(),
        );
    }
    if !tail.is_empty() {
        return Err("must not have a path, query or fragment (just scheme://host:port)".into());
    }
    let (host_ok, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let Some((addr, after)) = bracketed.split_once(']') else {
                return Err("an IPv6 address needs its closing ]".into());
            };
            let port = match after.strip_prefix(':') {
                Some(port) => Some(port),
                None if after.is_empty() => None,
                None => return Err("needs :port right after the ] of its IPv6 address".into()),
            };
            (addr.parse::<Ipv6Addr>().is_ok(), port)
        }
        None => {
            if authority.matches(':').count() > 1 {
                return Err(
                    "an IPv6 address must be in brackets (e.g. \"http://[::1]:2379\")".into(),
                );
            }
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            if host.is_empty() {
                return Err("needs a host (e.g. \"http://127.0.0.1:2379\")".into());
            }
            (host.parse::<Ipv4Addr>().is_ok() || is_dns_name(host), port)
        }
    };
    if !host_ok {
        return Err(
            "has an invalid host (an IPv4 address, an IPv6 address in brackets or a DNS name)"
                .into(),
        );
    }
    match port {
        None | Some("") => Err("needs a port (etcd's client port is usually 2379)".into()),
        Some(port) => match port.parse::<u16>() {
            Ok(n) if n > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(scheme),
            _ => Err("needs a port 1..65535".into()),
        },
    }
}

/// A DNS name: dot-separated labels of 1..63 letters, digits and `-`, not
/// starting or ending with `-`; 253 characters at most.
fn is_dns_name(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::{parse_endpoint, Scheme};

    #[test]
    fn host_and_port_forms() {
        for (s, scheme) in [
            ("http://127.0.0.1:2379", Scheme::Http),
            ("https://etcd-0.example:2379", Scheme::Https),
            ("http://[::1]:2379", Scheme::Http),
            ("https://localhost:65535", Scheme::Https),
        ] {
            assert_eq!(parse_endpoint(s), Ok(scheme), "{s}");
        }
    }

    #[test]
    fn everything_but_host_and_port_is_refused_without_echo() {
        for (s, needle) in [
            ("127.0.0.1:2379", "must start with http:// or https://"),
            ("ftp://127.0.0.1:2379", "must start with"),
            ("http://127.0.0.1", "needs a port"),
            ("http://127.0.0.1:", "needs a port"),
            ("http://127.0.0.1:0", "needs a port 1..65535"),
            ("http://127.0.0.1:70000", "needs a port 1..65535"),
            ("http://127.0.0.1:+5", "needs a port 1..65535"),
            ("http://127.0.0.1:2379/", "must not have a path"),
            ("http://127.0.0.1:2379/v3", "must not have a path"),
            ("http://127.0.0.1:2379?x=1", "must not have a path, query"),
            (
                "http://root:hunter2@127.0.0.1:2379",
                "must not carry user info",
            ),
            ("http://:2379", "needs a host"),
            ("http://::1:2379", "must be in brackets"),
            ("http://[::1:2379", "closing ]"),
            ("http://[::1]x:2379", "right after the ]"),
            ("http://[zz]:2379", "invalid host"),
            ("http://-bad-.example:2379", "invalid host"),
            ("http://bad host:2379", "invalid host"),
        ] {
            let e = parse_endpoint(s).expect_err(s);
            assert!(e.contains(needle), "{s}: {e}");
            assert!(!e.contains("hunter2"), "{s}: {e}");
        }
    }
}
