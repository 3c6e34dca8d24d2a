//! `[proxy] tcp_keepalive`, `tcp_keepalive_interval` and
//! `tcp_keepalive_count` of the native format: TCP keep-alive on both
//! sockets of every session (docs/configuration.md, docs/operations.md).
//!
//! Owns the rules that make these keys values the kernel can honour: Linux
//! counts keep-alive time in whole seconds, at most 32767 s
//! (`MAX_TCP_KEEPIDLE`, `MAX_TCP_KEEPINTVL`), and at most 127 probes
//! (`MAX_TCP_KEEPCNT`). A value the kernel would refuse or round is an
//! error with its path here, never a session that silently runs without
//! keep-alive. It must never open a socket: the bridge applies the result.

use std::time::Duration;

use super::tree::{Field, Reader};
use super::{parse_duration, Problems, TcpKeepalive};

/// The longest idle time or interval Linux accepts, in seconds.
const MAX_SECS: u64 = 32_767;
/// The most probes Linux accepts.
const MAX_COUNT: u64 = 127;

/// Reads the three keys; `None` when `tcp_keepalive = "0s"` turns
/// keep-alive off. The interval and count are checked even then, so a
/// typo is reported before someone turns keep-alive back on.
pub(super) fn read_keepalive(r: &Reader<'_>, p: &mut Problems) -> Option<TcpKeepalive> {
    let d = TcpKeepalive::default();
    // Zero (allowed only here) turns keep-alive off.
    let idle = whole_seconds(r, "tcp_keepalive", true, p).or(d.idle);
    let interval = whole_seconds(r, "tcp_keepalive_interval", false, p).or(d.interval);
    let count = r
        .uint("tcp_keepalive_count", p)
        .check(&r.path("tcp_keepalive_count"), p, |n| match n {
            1..=MAX_COUNT => Ok(n as u32),
            _ => Err(format!("must be 1..{MAX_COUNT} (the kernel's limit)")),
        })
        .or(d.count);
    (!idle.is_zero()).then_some(TcpKeepalive {
        idle,
        interval,
        count,
    })
}

/// A duration in whole seconds, 1 s..32767 s; `"0s"` too when
/// `zero_is_off` (an error otherwise).
fn whole_seconds(
    r: &Reader<'_>,
    key: &str,
    zero_is_off: bool,
    p: &mut Problems,
) -> Field<Duration> {
    r.str(key, p).check(&r.path(key), p, |s| {
        let d = parse_duration(&s)?;
        if d.is_zero() {
            return if zero_is_off {
                Ok(d)
            } else {
                Err("must be greater than 0".into())
            };
        }
        if d.subsec_nanos() != 0 {
            return Err(format!(
                "{s:?} is not a whole number of seconds (the kernel counts keep-alive time in seconds)"
            ));
        }
        if d.as_secs() > MAX_SECS {
            return Err(format!("must be at most {MAX_SECS}s (the kernel's limit)"));
        }
        Ok(d)
    })
}

#[cfg(test)]
mod tests {
    use crate::{Config, Format, TcpKeepalive};
    use std::time::Duration;

    fn parse(proxy: &str) -> Result<Config, String> {
        let text = format!(
            "[proxy]\nlisten = \"127.0.0.1:3306\"\n{proxy}\n[api]\npassword = \"pw\"\n\
             [[backends]]\nname = \"b\"\nhost = \"127.0.0.1\"\nport = 1\ncheck = {{ kind = \"tcp\" }}\n"
        );
        Config::parse(&text, Format::Toml).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_go_s_net_defaults_and_one_hour() {
        let c = parse("").unwrap();
        let k = c.proxy.tcp_keepalive.unwrap();
        assert_eq!(k, TcpKeepalive::default());
        assert_eq!(
            (k.idle, k.interval, k.count),
            (Duration::from_secs(15), Duration::from_secs(15), 9)
        );
        assert_eq!(c.proxy.half_close_timeout, Duration::from_secs(3600));
    }

    #[test]
    fn the_go_switchboard_format_gets_the_same_defaults() {
        let yaml = "API: {Port: 80, AggregatorPort: 8081, Username: u, Password: p}\n\
                    Proxy:\n  Port: 3306\n  HealthcheckTimeoutMillis: 5000\n  Backends:\n  \
                    - {Host: 10.0.0.1, Port: 3306, StatusPort: 9200, StatusEndpoint: s, Name: b}\n\
                    HealthPort: 9201\n";
        let c = Config::parse(yaml, Format::Yaml).unwrap();
        assert_eq!(c.proxy.tcp_keepalive, Some(TcpKeepalive::default()));
        assert_eq!(c.proxy.half_close_timeout, Duration::from_secs(3600));
    }

    #[test]
    fn the_example_file_sets_them() {
        let c = Config::parse(
            include_str!("../../examples/switchboard.toml"),
            Format::Toml,
        )
        .unwrap();
        assert_eq!(c.proxy.tcp_keepalive, Some(TcpKeepalive::default()));
        assert_eq!(c.proxy.half_close_timeout, Duration::from_secs(3600));
    }

    #[test]
    fn short_settings_and_zero_turns_it_off() {
        let c = parse(
            "tcp_keepalive = \"1s\"\ntcp_keepalive_interval = \"2s\"\ntcp_keepalive_count = 3\nhalf_close_timeout = \"250ms\"",
        )
        .unwrap();
        assert_eq!(
            c.proxy.tcp_keepalive,
            Some(TcpKeepalive {
                idle: Duration::from_secs(1),
                interval: Duration::from_secs(2),
                count: 3
            })
        );
        assert_eq!(c.proxy.half_close_timeout, Duration::from_millis(250));
        let off = parse("tcp_keepalive = \"0s\"").unwrap();
        assert_eq!(off.proxy.tcp_keepalive, None);
    }

    #[test]
    fn values_the_kernel_cannot_honour_are_named_with_their_path() {
        let e = parse(
            "tcp_keepalive = \"1500ms\"\ntcp_keepalive_interval = \"0s\"\ntcp_keepalive_count = 0\nhalf_close_timeout = \"0s\"",
        )
        .unwrap_err();
        for needle in [
            "proxy.tcp_keepalive: \"1500ms\" is not a whole number of seconds",
            "proxy.tcp_keepalive_interval: must be greater than 0",
            "proxy.tcp_keepalive_count: must be 1..127",
            "proxy.half_close_timeout: must be greater than 0",
        ] {
            assert!(e.contains(needle), "{needle:?} not in:\n{e}");
        }
        let e =
            parse("tcp_keepalive = \"10h\"\ntcp_keepalive_count = 128\ntcp_keepalive_interval = 5")
                .unwrap_err();
        for needle in [
            "proxy.tcp_keepalive: must be at most 32767s",
            "proxy.tcp_keepalive_count: must be 1..127",
            "proxy.tcp_keepalive_interval:",
        ] {
            assert!(e.contains(needle), "{needle:?} not in:\n{e}");
        }
    }
}
