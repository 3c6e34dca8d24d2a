//! Tests of the `mysql` check's keys and of `monitor.failback_after`.

use std::path::PathBuf;
use std::time::Duration;

use super::super::native::parse_in;
use super::super::native_backends::CHECK_KEYS;
use super::super::{Check, Config, ConfigErrors};
use super::*;

/// A self-signed CA certificate (no key anywhere).
const CA_PEM: &str = include_str!("test_ca.pem");

const HEAD: &str = "[proxy]\nlisten = \"127.0.0.1:13306\"\n[api]\npassword = \"pw\"\n";

/// A directory of its own per test, removed at the end (also on failure).
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let dir =
            std::env::temp_dir().join(format!("sb-config-mysql-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Parses HEAD plus one backend with `check`, in `dir`, with `env`.
fn parse(
    dir: &Dir,
    check: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let text = format!(
        "{HEAD}[[backends]]\nname = \"a\"\nhost = \"10.0.0.1\"\nport = 3306\ncheck = {check}\n"
    );
    parse_in(&text, env, Some(&dir.0))
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn problems(dir: &Dir, check: &str) -> Vec<String> {
    match parse(dir, check, &no_env) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems().iter().map(|p| p.to_string()).collect(),
    }
}

fn mysql(cfg: &Config) -> &MysqlCheck {
    match &cfg.backends[0].check {
        Check::Mysql(m) => m,
        other => panic!("a mysql check: {other:?}"),
    }
}

#[test]
fn every_key_with_relative_files_resolved_against_the_config_directory() {
    let dir = Dir::new("full");
    std::fs::write(dir.0.join("monitor-pw"), "s3cret-pw\n").expect("write pw");
    std::fs::write(dir.0.join("db-ca.pem"), CA_PEM).expect("write ca");
    let cfg = parse(
        &dir,
        r#"{ kind = "mysql", user = "switchboard-monitor", password_file = "monitor-pw", port = 3307, tls = "verify-full", ca = "db-ca.pem", server_name = "db-0.example", available_when_donor = true, available_when_read_only = true }"#,
        &no_env,
    )
    .expect("valid");
    let m = mysql(&cfg);
    assert_eq!(m.user, "switchboard-monitor");
    assert_eq!(m.password.expose(), "s3cret-pw");
    assert_eq!(m.port, Some(3307));
    assert_eq!(m.tls, MysqlTls::VerifyFull);
    let ca = m.ca.as_ref().expect("a CA");
    assert_eq!(ca.origin(), dir.0.join("db-ca.pem").display().to_string());
    assert_eq!(m.server_name.as_deref(), Some("db-0.example"));
    assert!(m.available_when_donor && m.available_when_read_only);
    let shown = format!("{cfg:?}");
    assert!(
        !shown.contains("s3cret-pw"),
        "the password is printed: {shown}"
    );
}

#[test]
fn defaults_and_the_password_from_the_environment() {
    let dir = Dir::new("defaults");
    let env = |name: &str| (name == CHECK_PASSWORD_ENV).then(|| "from-env".to_string());
    let cfg = parse(&dir, r#"{ kind = "mysql", user = "mon" }"#, &env).expect("valid");
    let m = mysql(&cfg);
    assert_eq!(m.password.expose(), "from-env");
    assert_eq!(
        (m.port, m.tls, m.ca.is_none()),
        (None, MysqlTls::Preferred, true)
    );
    assert!(!m.available_when_donor && !m.available_when_read_only);
    let cfg = parse(
        &dir,
        r#"{ kind = "mysql", user = "mon", password = "inline" }"#,
        &env,
    )
    .expect("valid");
    assert_eq!(
        mysql(&cfg).password.expose(),
        "inline",
        "the file wins over env"
    );
    for (mode, want) in [
        ("disabled", MysqlTls::Disabled),
        ("preferred", MysqlTls::Preferred),
        ("required", MysqlTls::Required),
        ("verify-ca", MysqlTls::VerifyCa),
        ("verify-full", MysqlTls::VerifyFull),
    ] {
        let check =
            format!(r#"{{ kind = "mysql", user = "mon", password = "p", tls = "{mode}" }}"#);
        let cfg = parse(&dir, &check, &no_env).expect("valid mode");
        assert_eq!(mysql(&cfg).tls, want);
        assert_eq!(want.as_str(), mode);
    }
}

#[test]
fn every_bad_value_is_reported_at_once_with_its_path_and_no_secret() {
    let dir = Dir::new("bad");
    std::fs::write(dir.0.join("ca.pem"), CA_PEM).expect("write ca");
    let got = problems(
        &dir,
        r#"{ kind = "mysql", password = "hunter2-secret", password_file = "pw", tls = "on", url = "http://x/", available_when_donor = "yes", port = 0 }"#,
    );
    assert_eq!(
        got,
        vec![
            "backends[0].check.port: must be 1..65535",
            "backends[0].check.url: only used by kind = \"galera\" or \"http\"",
            "backends[0].check.user: required (the monitor user)",
            "backends[0].check.password_file: set only one of password and password_file",
            "backends[0].check.tls: must be one of \"disabled\", \"preferred\", \"required\", \"verify-ca\", \"verify-full\" (found \"on\")",
            "backends[0].check.available_when_donor: expected true or false, found a string",
        ]
    );
    assert!(got.iter().all(|p| !p.contains("hunter2")), "{got:?}");
    assert_eq!(
        problems(
            &dir,
            r#"{ kind = "mysql", user = "mon", password = "p", tls = "disabled", ca = "ca.pem" }"#
        ),
        vec!["backends[0].check.ca: not used with tls = \"disabled\""]
    );
    assert_eq!(
        problems(
            &dir,
            r#"{ kind = "mysql", user = "mon", password = "p", tls = "verify-ca", server_name = "db" }"#
        ),
        vec!["backends[0].check.server_name: only used with tls = \"verify-full\" (the name verified)"]
    );
    assert_eq!(
        problems(&dir, r#"{ kind = "mysql", user = "mon" }"#),
        vec!["backends[0].check.password: required (password, password_file or SWITCHBOARD_CHECK_PASSWORD)"]
    );
    let missing = dir.0.join("missing-pw").display().to_string();
    assert_eq!(
        problems(
            &dir,
            r#"{ kind = "mysql", user = "mon", password_file = "missing-pw" }"#
        ),
        vec![format!(
            "backends[0].check.password_file: cannot read {missing}: entity not found"
        )]
    );
    std::fs::write(dir.0.join("empty-pw"), "\n").expect("write empty");
    let empty = dir.0.join("empty-pw").display().to_string();
    assert_eq!(
        problems(
            &dir,
            r#"{ kind = "mysql", user = "mon", password_file = "empty-pw" }"#
        ),
        vec![format!("backends[0].check.password_file: {empty} is empty")]
    );
}

#[test]
fn mysql_keys_on_another_kind_are_errors() {
    let dir = Dir::new("other-kinds");
    assert_eq!(
        problems(
            &dir,
            r#"{ kind = "tcp", user = "mon", tls = "required", available_when_read_only = true }"#
        ),
        vec![
            "backends[0].check.user: only used by kind = \"mysql\" (this check is \"tcp\")",
            "backends[0].check.tls: only used by kind = \"mysql\" (this check is \"tcp\")",
            "backends[0].check.available_when_read_only: only used by kind = \"mysql\" (this check is \"tcp\")",
        ]
    );
    assert_eq!(
        problems(
            &dir,
            r#"{ kind = "galera", url = "http://h:9200/", password = "x" }"#
        ),
        vec![
            "backends[0].check.password: only used by kind = \"mysql\" (this check is \"galera\")"
        ]
    );
    assert_eq!(
        problems(&dir, r#"{ kind = "mssql" }"#),
        vec!["backends[0].check.kind: must be galera, http, mysql or tcp (found \"mssql\")"]
    );
}

#[test]
fn every_mysql_key_is_an_accepted_check_key() {
    for key in MYSQL_ONLY_KEYS {
        assert!(CHECK_KEYS.contains(key), "{key} missing from CHECK_KEYS");
    }
}

#[test]
fn failback_after_is_a_duration_defaulting_to_zero() {
    let dir = Dir::new("failback-after");
    let tcp = "check = { kind = \"tcp\" }";
    let with = |monitor: &str| {
        let text = format!(
            "{HEAD}[monitor]\n{monitor}\n[[backends]]\nname = \"a\"\nhost = \"h\"\nport = 1\n{tcp}\n"
        );
        parse_in(&text, &no_env, Some(&dir.0))
    };
    let cfg = with("").expect("valid");
    assert_eq!(cfg.monitor.failback_after, Duration::ZERO);
    let cfg = with("failback_after = \"30s\"").expect("valid");
    assert_eq!(cfg.monitor.failback_after, Duration::from_secs(30));
    let Err(e) = with("failback_after = \"30\"") else {
        panic!("a bare number is refused")
    };
    assert_eq!(e.paths(), vec!["monitor.failback_after"]);
}
