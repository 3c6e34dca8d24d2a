//! The `[[backends]]` array of the native format (docs/configuration.md) and each
//! backend's `check`.
//!
//! Owns the rules: at least one backend, names non-empty and unique, host
//! non-empty, port 1..65535, `check.kind` one of galera|http|mysql|tcp, an
//! `http://`/`https://` URL for galera and http, an optional port for tcp
//! (the `mysql` check's own keys are read in `mysql_check.rs`).
//! It must never echo a check URL (it may carry credentials).

use super::mysql_check::{deny_mysql_keys, read_mysql_check};
use super::native::text;
use super::tls::read_http_tls;
use super::tree::{required_message, Field, Reader};
use super::{BackendConfig, Check, Problems, ProxyProtocol};

pub(crate) const BACKEND_KEYS: &[&str] = &["name", "host", "port", "check", "proxy_protocol"];
/// The check keys of every kind; each kind refuses the ones it does not use.
pub(crate) const CHECK_KEYS: &[&str] = &[
    "kind",
    "url",
    "port",
    "ca",
    "server_name",
    "user",
    "password",
    "password_file",
    "tls",
    "available_when_donor",
    "available_when_read_only",
];

/// Reads `backends` from the root table; every problem goes to `p`.
/// `env` supplies the `mysql` checks' password when a check sets none.
pub(super) fn read_backends(
    root: &Reader<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Problems,
) -> Vec<BackendConfig> {
    let path = root.path("backends");
    let items = match root.tables("backends", p) {
        Field::Got(items) if !items.is_empty() => items,
        Field::Bad => return Vec::new(),
        Field::Got(_) | Field::Missing => {
            p.push(path, "at least one backend is required ([[backends]])");
            return Vec::new();
        }
    };
    let mut names: Vec<(String, String)> = Vec::new();
    items
        .iter()
        .filter_map(|b| read_backend(b, &mut names, env, p))
        .collect()
}

fn read_backend(
    b: &Reader<'_>,
    names: &mut Vec<(String, String)>,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Problems,
) -> Option<BackendConfig> {
    if !b.exists() {
        return None; // not a table: already reported
    }
    b.deny_unknown(BACKEND_KEYS, p);
    let name = text(b, "name", p).required(&b.path("name"), "", p);
    if let Some(name) = &name {
        match names.iter().find(|(n, _)| n == name) {
            Some((_, first)) => p.push(
                b.path("name"),
                format!("duplicate name {name:?} (also {first}); names must be unique"),
            ),
            None => names.push((name.clone(), b.path("name"))),
        }
    }
    let host = text(b, "host", p).required(&b.path("host"), "", p);
    let port = b
        .port("port", false, p)
        .required(&b.path("port"), "1..65535", p);
    let check = if b.has("check") {
        let c = b.table("check", p);
        if c.exists() {
            read_check(&c, env, p)
        } else {
            None
        }
    } else {
        p.push(
            b.path("check"),
            required_message("e.g. check = { kind = \"tcp\" }"),
        );
        None
    };
    let proxy_protocol = b
        .str("proxy_protocol", p)
        .check(&b.path("proxy_protocol"), p, |s| match s.as_str() {
            "v2" => Ok(ProxyProtocol::V2),
            "off" => Ok(ProxyProtocol::Off),
            other => Err(format!("must be \"v2\" or \"off\" (found {other:?})")),
        })
        .or(ProxyProtocol::Off);
    Some(BackendConfig {
        name: name?,
        host: host?,
        port: port?,
        check: check?,
        proxy_protocol,
    })
}

fn read_check(
    c: &Reader<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Problems,
) -> Option<Check> {
    c.deny_unknown(CHECK_KEYS, p);
    let kind = c
        .str("kind", p)
        .required(&c.path("kind"), "galera, http, mysql or tcp", p);
    if let Some(kind) = kind
        .as_deref()
        .filter(|k| matches!(*k, "galera" | "http" | "tcp"))
    {
        deny_mysql_keys(c, kind, p);
    }
    let url = c.str("url", p);
    let port = c.port("port", false, p);
    match kind.as_deref() {
        Some(kind @ ("galera" | "http")) => {
            if c.has("port") {
                p.push(
                    c.path("port"),
                    "only used by kind = \"tcp\"; put the port in url",
                );
            }
            let url = url
                .check(&c.path("url"), p, |u| {
                    let rest = u
                        .strip_prefix("http://")
                        .or_else(|| u.strip_prefix("https://"));
                    match rest {
                        Some(rest) if !rest.is_empty() => Ok(u),
                        _ => Err("must start with http:// or https:// and name a host".into()),
                    }
                })
                .required(&c.path("url"), "an http:// or https:// URL", p);
            let tls = read_http_tls(c, url.as_deref(), p);
            let url = url?;
            Some(if kind == "galera" {
                Check::Galera { url, tls }
            } else {
                Check::Http { url, tls }
            })
        }
        Some("tcp") => {
            if c.has("url") {
                p.push(c.path("url"), "only used by kind = \"galera\" or \"http\"");
            }
            for key in ["ca", "server_name"] {
                if c.has(key) {
                    p.push(c.path(key), "not used by kind = \"tcp\"");
                }
            }
            Some(Check::Tcp { port: port.opt() })
        }
        Some("mysql") => read_mysql_check(c, port, env, p),
        Some(other) => {
            p.push(
                c.path("kind"),
                format!("must be galera, http, mysql or tcp (found {other:?})"),
            );
            None
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::native::parse_with_env;
    use super::super::HttpTls;
    use super::*;

    const HEAD: &str = "[proxy]\nlisten = \"127.0.0.1:13306\"\n[api]\npassword = \"pw\"\n";

    /// Problems of HEAD followed by `backends` (root keys go first, as TOML requires).
    fn errors(backends: &str) -> Vec<String> {
        let text = if backends.starts_with("backends") {
            format!("{backends}\n{HEAD}")
        } else {
            format!("{HEAD}{backends}")
        };
        match parse_with_env(&text, &|_| None) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems().iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn every_check_kind() {
        let text = format!(
            "{HEAD}{}",
            r#"
[[backends]]
name = "a"
host = "10.0.0.1"
port = 3306
check = { kind = "galera", url = "http://10.0.0.1:9200/api/v1/status" }
[[backends]]
name = "b"
host = "10.0.0.2"
port = 3306
check = { kind = "http", url = "https://10.0.0.2/health" }
[[backends]]
name = "c"
host = "db-c.example"
port = 5432
check = { kind = "tcp", port = 5433 }
[[backends]]
name = "d"
host = "db-d.example"
port = 5432
check = { kind = "tcp" }
"#
        );
        let cfg = parse_with_env(&text, &|_| None).expect("valid");
        let checks: Vec<&Check> = cfg.backends.iter().map(|b| &b.check).collect();
        assert_eq!(
            checks,
            vec![
                &Check::Galera {
                    url: "http://10.0.0.1:9200/api/v1/status".into(),
                    tls: HttpTls::default(),
                },
                &Check::Http {
                    url: "https://10.0.0.2/health".into(),
                    tls: HttpTls::default(),
                },
                &Check::Tcp { port: Some(5433) },
                &Check::Tcp { port: None },
            ]
        );
        assert_eq!(cfg.backends[2].host, "db-c.example");
        assert_eq!(cfg.backends[2].port, 5432);
        assert_eq!(cfg.backend_position("d"), Some(3));
    }

    #[test]
    fn no_backends() {
        assert_eq!(
            errors(""),
            vec!["backends: at least one backend is required ([[backends]])"]
        );
        assert_eq!(errors("backends = []").len(), 1);
    }

    #[test]
    fn backend_field_problems() {
        let got = errors(
            r#"
[[backends]]
name = ""
host = "h"
port = 0
check = { kind = "galera", url = "ftp://x", port = 1 }
[[backends]]
host = ""
check = { kind = "tcp", url = "http://x" }
[[backends]]
name = "n"
host = "h"
port = 1
"#,
        );
        assert_eq!(
            got,
            vec![
                "backends[0].name: must not be empty",
                "backends[0].port: must be 1..65535",
                "backends[0].check.port: only used by kind = \"tcp\"; put the port in url",
                "backends[0].check.url: must start with http:// or https:// and name a host",
                "backends[1].name: required",
                "backends[1].host: must not be empty",
                "backends[1].port: required (1..65535)",
                "backends[1].check.url: only used by kind = \"galera\" or \"http\"",
                "backends[2].check: required (e.g. check = { kind = \"tcp\" })",
            ]
        );
    }

    #[test]
    fn galera_and_http_need_a_url() {
        let got = errors(
            "[[backends]]\nname = \"a\"\nhost = \"h\"\nport = 1\ncheck = { kind = \"http\" }\n",
        );
        assert_eq!(
            got,
            vec!["backends[0].check.url: required (an http:// or https:// URL)"]
        );
    }

    #[test]
    fn backends_must_be_tables() {
        let got = errors("backends = [1]");
        assert_eq!(got, vec!["backends[0]: expected a table, found a number"]);
    }
}
