//! Tests of `[coordination]` (docs/configuration.md): defaults, every
//! problem at once with its path, the password's sources and that it is
//! never printed, the `state.file` conflict, and the keys `kind = "none"`
//! refuses.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::native::parse_with_env;
use crate::tree::{Reader, Style};
use crate::{Config, ConfigErrors, Format};

const BASE: &str = "[proxy]\nlisten = \"127.0.0.1:3306\"\n[api]\npassword = \"pw\"\n\
    [[backends]]\nname = \"b\"\nhost = \"127.0.0.1\"\nport = 1\ncheck = { kind = \"tcp\" }\n";

const SECRET: &str = "etcd-s3cret-do-not-leak";

fn no_env(_: &str) -> Option<String> {
    None
}

/// The whole file: `BASE` with `extra` (a `[coordination]` table and more).
fn parse(extra: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
    parse_with_env(&format!("{BASE}{extra}"), env)
}

fn ok(extra: &str) -> Config {
    parse(extra, &no_env).unwrap_or_else(|e| panic!("unexpected errors:\n{e}"))
}

fn err(extra: &str) -> ConfigErrors {
    match parse(extra, &no_env) {
        Ok(c) => panic!("expected errors, got {:?}", c.coordination),
        Err(e) => e,
    }
}

/// `[coordination]` alone through `read_coordination`, with a chosen host name.
fn read_with_host(
    table: &str,
    host: &dyn Fn() -> Result<String, String>,
) -> Result<CoordinationConfig, ConfigErrors> {
    let doc: Value = toml::from_str(table).unwrap_or_else(|e| panic!("test TOML: {e}"));
    let r = Reader::new(
        doc.get("coordination").and_then(Value::as_object),
        "coordination",
        Style::Native,
    );
    let mut p = Problems::new();
    let c = read_coordination(&r, &StateConfig::default(), &no_env, host, &mut p);
    p.into_result().map(|()| c)
}

fn etcd(c: &Config) -> &EtcdCoordination {
    c.coordination
        .etcd()
        .unwrap_or_else(|| panic!("not etcd: {:?}", c.coordination))
}

/// A temporary directory with `files`, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str, files: &[&str]) -> Dir {
        let dir = std::env::temp_dir().join(format!(
            "switchboard-coordination-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for f in files {
            std::fs::write(dir.join(f), "PEM\n").unwrap_or_else(|e| panic!("{f}: {e}"));
        }
        Dir(dir)
    }

    fn path(&self, f: &str) -> String {
        self.0.join(f).display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn absent_or_none_decides_alone() {
    assert_eq!(ok("").coordination, CoordinationConfig::default());
    let c = ok("[coordination]\nkind = \"none\"\n");
    assert_eq!(c.coordination.kind, CoordinationKind::None);
    assert!(c.coordination.etcd().is_none());
}

#[test]
fn etcd_defaults() {
    let c = read_with_host(
        "[coordination]\nkind = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\"]\n",
        &|| Ok("proxy-host-7".into()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let expected = EtcdCoordination {
        endpoints: vec!["http://127.0.0.1:2379".into()],
        prefix: DEFAULT_ETCD_PREFIX.into(),
        instance: "proxy-host-7".into(),
        lease_ttl: Duration::from_secs(3),
        combine: Combine::Majority,
        on_coordinator_lost: OnCoordinatorLost::Hold,
        tls: None,
        user: None,
        password: None,
    };
    assert_eq!(c.etcd(), Some(&expected));
    assert_eq!(DEFAULT_ETCD_PREFIX, "/switchboard");
    assert_eq!(DEFAULT_LEASE_TTL, Duration::from_secs(3));
}

#[test]
fn every_key_is_read() {
    let c = ok(&format!(
        "[coordination]\nkind = \"etcd\"\n\
         endpoints = [\"http://10.0.0.1:2379\", \"http://etcd-1.example:2379\", \"http://[::1]:2379\"]\n\
         prefix = \"/switchboard/db\"\ninstance = \"proxy-0\"\nlease_ttl = \"10s\"\n\
         combine = \"all\"\non_coordinator_lost = \"refuse\"\nuser = \"sb\"\npassword = \"{SECRET}\"\n"
    ));
    let e = etcd(&c);
    assert_eq!(e.endpoints.len(), 3);
    assert_eq!(e.prefix, "/switchboard/db");
    assert_eq!(e.instance, "proxy-0");
    assert_eq!(e.lease_ttl, Duration::from_secs(10));
    assert_eq!(e.combine, Combine::All);
    assert_eq!(e.on_coordinator_lost, OnCoordinatorLost::Refuse);
    assert_eq!(e.user.as_deref(), Some("sb"));
    assert_eq!(e.password.as_ref().map(Secret::expose), Some(SECRET));
    assert_eq!(e.tls, None);
    let shown = format!("{c:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("Secret(***)"), "{shown}");
}

#[test]
fn spellings_round_trip() {
    for (s, v) in Combine::ALL {
        assert_eq!((v.as_str(), v.to_string()), (s, s.to_string()));
    }
    for (s, v) in OnCoordinatorLost::ALL {
        assert_eq!((v.as_str(), v.to_string()), (s, s.to_string()));
    }
}

#[test]
fn every_bad_field_is_named_at_once() {
    let e = err(&format!(
        "[coordination]\nkind = \"etcd\"\n\
         endpoints = [\"127.0.0.1:2379\", \"http://root:{SECRET}@127.0.0.1:2379\", \"http://127.0.0.1:2379/v3\", 5]\n\
         prefix = \"switchboard/\"\ninstance = \"proxy 0\"\nlease_ttl = \"1500ms\"\n\
         combine = \"most\"\non_coordinator_lost = \"panic\"\nuser = \"\"\nleader = true\n"
    ));
    assert_eq!(
        e.paths(),
        vec![
            "coordination.leader",
            "coordination.endpoints[3]",
            "coordination.prefix",
            "coordination.instance",
            "coordination.lease_ttl",
            "coordination.combine",
            "coordination.on_coordinator_lost",
            "coordination.user",
        ],
        "{e}"
    );
    let e = err(&format!(
        "[coordination]\nkind = \"etcd\"\n\
         endpoints = [\"127.0.0.1:2379\", \"http://root:{SECRET}@127.0.0.1:2379\", \"http://127.0.0.1:2379/v3\"]\n\
         lease_ttl = \"61s\"\ninstance = \"{long}\"\n",
        long = "x".repeat(64)
    ));
    let shown = e.to_string();
    for needle in [
        "coordination.endpoints[0]: must start with http:// or https://",
        "coordination.endpoints[1]: must not carry user info",
        "coordination.endpoints[2]: must not have a path",
        "coordination.instance: must be at most 63 characters (found 64)",
        "coordination.lease_ttl: must be 2s..60s",
    ] {
        assert!(shown.contains(needle), "{needle:?} not in:\n{shown}");
    }
    assert!(!shown.contains(SECRET), "{shown}");
}

#[test]
fn single_field_rules() {
    let with = |kv: &str| {
        let instance = if kv.starts_with("instance") {
            ""
        } else {
            "instance = \"p\"\n"
        };
        err(&format!(
            "[coordination]\nkind = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\"]\n{instance}{kv}\n"
        ))
        .to_string()
    };
    for (kv, needle) in [
        (
            "prefix = \"/a//b\"",
            "coordination.prefix: must not contain //",
        ),
        (
            "prefix = \"/\"",
            "coordination.prefix: must name a prefix below /",
        ),
        (
            "prefix = \"/a b\"",
            "coordination.prefix: must be printable ASCII",
        ),
        (
            "prefix = \"/a/\"",
            "coordination.prefix: must not end with /",
        ),
        (
            "instance = \"\"",
            "coordination.instance: must not be empty",
        ),
        (
            "lease_ttl = \"1s\"",
            "coordination.lease_ttl: must be 2s..60s",
        ),
        (
            "lease_ttl = \"3\"",
            "coordination.lease_ttl: \"3\" needs a unit",
        ),
        (
            "lease_ttl = \"2.5s\"",
            "coordination.lease_ttl: \"2.5s\" is not a whole number of seconds",
        ),
        (
            "combine = \"most\"",
            "coordination.combine: must be one of \"majority\", \"any\", \"all\" (found \"most\")",
        ),
        (
            "on_coordinator_lost = 1",
            "coordination.on_coordinator_lost: expected a string, found a number",
        ),
    ] {
        let shown = with(kv);
        assert!(shown.contains(needle), "{kv}: {needle:?} not in:\n{shown}");
    }
    let e = err("[coordination]\nkind = \"zookeeper\"\nendpoints = [\"x\"]\n");
    assert_eq!(e.paths(), vec!["coordination.kind"], "{e}");
    assert!(
        e.to_string()
            .contains("must be \"none\" or \"etcd\" (found \"zookeeper\")"),
        "{e}"
    );
}

#[test]
fn endpoints_are_required_and_share_one_scheme() {
    let e = err("[coordination]\nkind = \"etcd\"\ninstance = \"p\"\n");
    assert_eq!(e.paths(), vec!["coordination.endpoints"], "{e}");
    assert!(e.to_string().contains("required"), "{e}");
    let e = err("[coordination]\nkind = \"etcd\"\ninstance = \"p\"\nendpoints = []\n");
    assert!(e.to_string().contains("needs at least one endpoint"), "{e}");
    let e = err("[coordination]\nkind = \"etcd\"\ninstance = \"p\"\n\
         endpoints = [\"http://10.0.0.1:2379\", \"https://10.0.0.2:2379\"]\n");
    assert_eq!(e.paths(), vec!["coordination.endpoints"], "{e}");
    assert!(e.to_string().contains("mixes http:// and https://"), "{e}");
}

#[test]
fn tls_files_only_with_https() {
    let dir = Dir::new("tls", &["ca.pem", "client.pem", "client.key"]);
    let files = format!(
        "ca = {:?}\ncert = {:?}\nkey = {:?}\n",
        dir.path("ca.pem"),
        dir.path("client.pem"),
        dir.path("client.key")
    );
    let https = "[coordination]\nkind = \"etcd\"\ninstance = \"p\"\nendpoints = [\"https://10.0.0.1:2379\"]\n";
    let c = ok(&format!("{https}{files}"));
    let tls = etcd(&c).tls.clone().unwrap_or_else(|| panic!("no tls"));
    assert_eq!(tls.ca, Some(dir.0.join("ca.pem")));
    assert_eq!(
        tls.client,
        Some(EtcdClientCert {
            cert: dir.0.join("client.pem"),
            key: dir.0.join("client.key"),
        })
    );
    // https without any file: the system roots, no client certificate.
    assert_eq!(etcd(&ok(https)).tls, Some(EtcdTls::default()));

    let http = https.replace("https://", "http://");
    let e = err(&format!("{http}{files}"));
    assert_eq!(
        e.paths(),
        vec!["coordination.ca", "coordination.cert", "coordination.key"],
        "{e}"
    );
    assert!(
        e.to_string().contains("only used with https:// endpoints"),
        "{e}"
    );

    let e = err(&format!(
        "{https}cert = {:?}\nca = {:?}\n",
        dir.path("client.pem"),
        dir.path("missing.pem")
    ));
    assert_eq!(
        e.paths(),
        vec!["coordination.ca", "coordination.key"],
        "{e}"
    );
    assert!(e.to_string().contains("cannot read"), "{e}");
    assert!(
        e.to_string().contains("required with coordination.cert"),
        "{e}"
    );
    let e = err(&format!(
        "{https}key = {:?}\nca = {:?}\n",
        dir.path("client.key"),
        dir.path("")
    ));
    assert_eq!(
        e.paths(),
        vec!["coordination.ca", "coordination.cert"],
        "{e}"
    );
    assert!(e.to_string().contains("is not a file"), "{e}");
}

#[test]
fn password_needs_a_user_and_comes_from_the_file_or_the_env() {
    let head = "[coordination]\nkind = \"etcd\"\ninstance = \"p\"\nendpoints = [\"http://10.0.0.1:2379\"]\n";
    let env = |name: &str| (name == ETCD_PASSWORD_ENV).then(|| "from-env".to_string());
    let c = parse(&format!("{head}user = \"sb\"\n"), &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        etcd(&c).password.as_ref().map(Secret::expose),
        Some("from-env")
    );
    // The key wins over the environment, as for the API password.
    let c = parse(
        &format!("{head}user = \"sb\"\npassword = \"{SECRET}\"\n"),
        &env,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(etcd(&c).password.as_ref().map(Secret::expose), Some(SECRET));
    // Without a user, the environment is not read.
    let c = parse(head, &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (etcd(&c).user.clone(), etcd(&c).password.clone()),
        (None, None)
    );

    let e = err(&format!("{head}user = \"sb\"\n"));
    assert_eq!(e.paths(), vec!["coordination.password"], "{e}");
    assert!(e.to_string().contains(ETCD_PASSWORD_ENV), "{e}");
    let e = err(&format!("{head}password = \"{SECRET}\"\n"));
    assert_eq!(e.paths(), vec!["coordination.password"], "{e}");
    assert!(
        e.to_string().contains("only used with coordination.user"),
        "{e}"
    );
    assert!(!e.to_string().contains(SECRET), "{e}");
    let e = err(&format!("{head}user = \"sb\"\npassword = 12345678\n"));
    assert!(!e.to_string().contains("12345678"), "{e}");
}

#[test]
fn state_file_is_refused_with_etcd() {
    let head = "[coordination]\nkind = \"etcd\"\ninstance = \"p\"\nendpoints = [\"http://10.0.0.1:2379\"]\n";
    let e = err(&format!(
        "[state]\nfile = \"/var/lib/switchboard/state.json\"\n{head}"
    ));
    assert_eq!(e.paths(), vec!["state.file"], "{e}");
    assert!(
        e.to_string().contains(
            "state.file: operator state lives in etcd with coordination.kind = \"etcd\"; remove state.file"
        ),
        "{e}"
    );
    let c = ok(
        "[state]\nfile = \"/var/lib/switchboard/state.json\"\n[coordination]\nkind = \"none\"\n",
    );
    assert!(c.state.file.is_some());
}

#[test]
fn none_refuses_every_other_key() {
    let e = err("[coordination]\nendpoints = [\"http://10.0.0.1:2379\"]\nlease_ttl = \"5s\"\n");
    assert_eq!(
        e.paths(),
        vec!["coordination.endpoints", "coordination.lease_ttl"],
        "{e}"
    );
    assert!(
        e.to_string().contains("coordination.kind is not set"),
        "{e}"
    );
    let e = err(&format!(
        "[coordination]\nkind = \"none\"\nprefix = \"/x\"\npassword = \"{SECRET}\"\n"
    ));
    assert_eq!(
        e.paths(),
        vec!["coordination.prefix", "coordination.password"],
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("only used with coordination.kind = \"etcd\" (coordination.kind is \"none\""),
        "{e}"
    );
    assert!(!e.to_string().contains(SECRET), "{e}");
}

#[test]
fn default_instance_is_the_host_name() {
    let table = "[coordination]\nkind = \"etcd\"\nendpoints = [\"http://10.0.0.1:2379\"]\n";
    let e = read_with_host(table, &|| {
        Err("cannot read /proc/sys/kernel/hostname".into())
    })
    .expect_err("no host name");
    assert_eq!(e.paths(), vec!["coordination.instance"], "{e}");
    assert!(e.to_string().contains("set coordination.instance"), "{e}");
    let e = read_with_host(table, &|| Ok("bad host".into())).expect_err("bad host name");
    assert_eq!(e.paths(), vec!["coordination.instance"], "{e}");
    assert!(e.to_string().contains("the host name \"bad host\""), "{e}");
    // The real host name reads (or is reported on coordination.instance).
    match host_name() {
        Ok(name) => assert!(!name.is_empty() && name == name.trim()),
        Err(e) => assert!(e.contains("/proc/sys/kernel/hostname"), "{e}"),
    }
}

#[test]
fn the_go_format_decides_alone() {
    let yaml = "API: {Port: 80, AggregatorPort: 8081, Username: u, Password: p}\n\
                Proxy:\n  Port: 3306\n  HealthcheckTimeoutMillis: 5000\n  Backends:\n  \
                - {Host: 10.0.0.1, Port: 3306, StatusPort: 9200, StatusEndpoint: s, Name: b}\n\
                HealthPort: 9201\n";
    let c = Config::parse(yaml, Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.coordination, CoordinationConfig::default());
}
