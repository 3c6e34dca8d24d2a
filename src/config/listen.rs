//! Listen addresses: parsing `host:port`, and catching listeners that would
//! bind the same socket.
//!
//! Owns the rule that a listen host is an IP literal or `localhost` (resolved
//! once, here, through the system resolver) and that a listen port is
//! 1..65535. It must never bind or probe a socket.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use super::Problems;

const EXAMPLE: &str = "host:port, e.g. 0.0.0.0:3306 or 127.0.0.1:8080";

/// Parses a listen address `host:port` (`[v6]:port` for IPv6).
pub(crate) fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("must not be empty; use {EXAMPLE}"));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return nonzero(addr);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("{text:?} needs a port; use {EXAMPLE}"));
    };
    let port: u16 = match port.parse() {
        Ok(port) if port > 0 => port,
        _ => return Err(format!("{text:?}: port must be 1..65535")),
    };
    let ip = resolve_host(host).map_err(|e| format!("{text:?}: {e}"))?;
    Ok(SocketAddr::new(ip, port))
}

fn nonzero(addr: SocketAddr) -> Result<SocketAddr, String> {
    if addr.port() == 0 {
        Err(format!("\"{addr}\": port must be 1..65535"))
    } else {
        Ok(addr)
    }
}

/// Resolves a listen host: an IP literal (brackets allowed) or `localhost`.
pub(crate) fn resolve_host(host: &str) -> Result<IpAddr, String> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ip);
    }
    if !bare.eq_ignore_ascii_case("localhost") {
        return Err(format!("host {host:?} must be an IP address or localhost"));
    }
    let addrs: Vec<SocketAddr> = (bare, 1u16)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve localhost: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .map(|a| a.ip())
        .ok_or_else(|| "localhost resolves to nothing".to_string())
}

/// Two listeners collide when their ports match and their IPs match or either is a wildcard.
fn collide(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// Records `later_path: same address as earlier_path (addr)` for each clash.
pub(crate) fn check_collisions(listeners: &[(String, SocketAddr)], p: &mut Problems) {
    for (j, (path, addr)) in listeners.iter().enumerate() {
        if let Some((first, first_addr)) = listeners[..j].iter().find(|(_, a)| collide(*a, *addr)) {
            p.push(
                path.clone(),
                format!(
                    "{addr} collides with {first} ({first_addr}); listeners need distinct ports"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ip_and_localhost() {
        assert_eq!(
            parse_listen("0.0.0.0:3306"),
            Ok("0.0.0.0:3306".parse().unwrap())
        );
        assert_eq!(parse_listen("[::1]:80"), Ok("[::1]:80".parse().unwrap()));
        let local = parse_listen("localhost:8080").expect("localhost resolves");
        assert!(local.ip().is_loopback());
        assert_eq!(local.port(), 8080);
    }

    #[test]
    fn rejects_bad_addresses() {
        for bad in [
            "",
            "3306",
            "0.0.0.0:0",
            "0.0.0.0:70000",
            "db.example:3306",
            "1.2.3.4:x",
        ] {
            assert!(parse_listen(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn wildcard_collides_with_same_port() {
        let mut p = Problems::new();
        let l = |s: &str, a: &str| (s.to_string(), a.parse().unwrap());
        check_collisions(
            &[
                l("proxy.listen", "0.0.0.0:3306"),
                l("api.listen", "127.0.0.1:3306"),
                l("api.health_listen", "127.0.0.1:1936"),
                l("proxy.standby_listen", "127.0.0.2:1936"),
            ],
            &mut p,
        );
        let Err(e) = p.into_result() else {
            panic!("no collision found")
        };
        assert_eq!(e.paths(), vec!["api.listen"]);
    }
}
