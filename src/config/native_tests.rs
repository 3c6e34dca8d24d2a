//! Tests of the native TOML format (docs/configuration.md): defaults, every problem at
//! once, unknown keys, and that the password is never printed.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;

const MINIMAL: &str = r#"
[proxy]
listen = "0.0.0.0:3306"

[api]
password = "s3cret-pa55"

[[backends]]
name = "db-0"
host = "127.0.0.1"
port = 3306
check = { kind = "tcp" }
"#;

fn no_env(_: &str) -> Option<String> {
    None
}

fn ok(text: &str) -> Config {
    match parse_with_env(text, &no_env) {
        Ok(cfg) => cfg,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

fn err(text: &str) -> ConfigErrors {
    match parse_with_env(text, &no_env) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

#[test]
fn every_default() {
    let cfg = ok(MINIMAL);
    assert_eq!(cfg.proxy.listen, addr("0.0.0.0:3306"));
    assert_eq!(cfg.proxy.standby_listen, None);
    assert_eq!(cfg.proxy.connect_timeout, Duration::from_secs(2));
    assert_eq!(cfg.proxy.shutdown_delay, Duration::ZERO);
    assert_eq!(cfg.proxy.drain_timeout, Duration::ZERO);
    assert!(cfg.proxy.sever_on_failover);

    assert_eq!(cfg.monitor.interval, Duration::from_secs(1));
    assert_eq!(cfg.monitor.timeout, Duration::from_millis(500));
    assert_eq!(cfg.monitor.rise, 1);
    assert_eq!(cfg.monitor.fall, 1);
    assert!(cfg.monitor.failback);
    assert!(cfg.monitor.enabled);

    assert_eq!(cfg.api.listen, addr("127.0.0.1:8080"));
    assert_eq!(cfg.api.username, "admin");
    assert_eq!(cfg.api.password.expose(), "s3cret-pa55");
    assert!(!cfg.api.public_reads);
    assert!(!cfg.api.force_https);
    assert!(!cfg.api.public_metrics);
    assert_eq!(cfg.api.health_listen, None);
    assert_eq!(cfg.api.static_dir, None);
    assert_eq!(cfg.api.metrics_listen, None);
    assert_eq!(cfg.api.aggregator_listen, None);
    assert!(cfg.api.proxy_uris.is_empty());

    assert_eq!(cfg.state.file, None);

    assert_eq!(cfg.traffic_monitor.cluster, "db");
    assert_eq!(cfg.traffic_monitor.publish, Publish::Health);
    assert!(cfg.traffic_monitor.public);

    assert_eq!(cfg.backends.len(), 1);
    assert_eq!(cfg.backends[0].name, "db-0");
    assert_eq!(cfg.backends[0].check, Check::Tcp { port: None });
}

#[test]
fn the_example_file_sets_every_key() {
    let cfg = ok(include_str!("../../examples/switchboard.toml"));
    assert_eq!(cfg.proxy.standby_listen, Some(addr("0.0.0.0:3307")));
    assert_eq!(cfg.proxy.shutdown_delay, Duration::from_secs(5));
    assert_eq!(cfg.proxy.drain_timeout, Duration::from_secs(30));
    assert_eq!(cfg.monitor.rise, 2);
    assert_eq!(cfg.monitor.fall, 3);
    assert!(!cfg.monitor.failback);
    assert_eq!(cfg.api.health_listen, Some(addr("0.0.0.0:1936")));
    assert_eq!(cfg.api.metrics_listen, Some(addr("127.0.0.1:9100")));
    assert_eq!(cfg.api.aggregator_listen, Some(addr("0.0.0.0:8082")));
    assert_eq!(cfg.api.proxy_uris.len(), 2);
    assert!(cfg.state.file.is_some());
    assert_eq!(cfg.traffic_monitor.publish, Publish::ActiveOnly);
    assert_eq!(cfg.backends.len(), 4);
    assert!(matches!(cfg.backends[3].check, Check::Mysql(_)));
    assert_eq!(cfg.monitor.failback_after, Duration::ZERO);
}

/// docs/configuration.md acceptance: a file with 10 different mistakes reports all 10, each with its path.
#[test]
fn ten_mistakes_are_reported_together() {
    let text = r#"
[proxy]
connect_timeout = "5"             # 2. bare number, no unit

[monitor]
interval = "0s"                   # 3. must be > 0
rise = 0                          # 4. must be >= 1
jitter = "1s"                     # 5. unknown key

[api]
listen = "nohost:8080"            # 6. not an IP or localhost
password = "hunter2-do-not-leak"
public_read = true                # 7. unknown key (typo)

[traffic_monitor]
publish = "everything"            # 8. not health|active-only

[[backends]]
name = "db-0"
host = "127.0.0.1"
port = 70000                      # 9. port out of range
check = { kind = "tcp" }

[[backends]]
name = "db-0"                     # 10. duplicate name
host = "127.0.0.1"
port = 3307
check = { kind = "tcp" }
"#;
    // 1. proxy.listen is missing.
    let e = err(text);
    assert_eq!(
        e.paths(),
        vec![
            "proxy.listen",
            "proxy.connect_timeout",
            "monitor.jitter",
            "monitor.interval",
            "monitor.rise",
            "api.public_read",
            "api.listen",
            "traffic_monitor.publish",
            "backends[0].port",
            "backends[1].name",
        ],
        "{e}"
    );
    assert_eq!(e.len(), 10);
    let shown = e.to_string();
    assert_eq!(shown.lines().count(), 10);
    assert!(shown.contains("proxy.listen: required"), "{shown}");
    assert!(shown.contains("needs a unit: ms, s or m"), "{shown}");
    assert!(
        shown.contains("backends[0].port: must be 1..65535"),
        "{shown}"
    );
    assert!(shown.contains("api.public_read: unknown key (did you mean `public_reads`?)"));
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn unknown_keys_at_every_level() {
    let text = format!(
        "surprise = 1\n{MINIMAL}\n[extra]\na = 1\n[[backends]]\nname = \"b\"\nhost = \"h\"\nport = 1\nweight = 3\ncheck = {{ kind = \"tcp\", retries = 2 }}\n"
    );
    let e = err(&text);
    assert_eq!(
        e.paths(),
        vec![
            "surprise",
            "extra",
            "backends[1].weight",
            "backends[1].check.retries"
        ],
        "{e}"
    );
}

#[test]
fn wrong_types_are_named_not_echoed() {
    let text = MINIMAL.replace(
        "password = \"s3cret-pa55\"",
        "password = 987654321\nforce_https = \"yes\"",
    );
    let e = err(&text);
    let shown = e.to_string();
    assert!(
        shown.contains("api.password: expected a string, found a number"),
        "{shown}"
    );
    assert!(shown.contains("api.force_https: expected true or false, found a string"));
    assert!(!shown.contains("987654321"), "{shown}");
}

#[test]
fn password_never_appears_in_errors() {
    let secret = "Tr0ub4dor&3-secret";
    let cases = [
        // a broken config that carries the password
        format!("[proxy]\nlisten = \"bad\"\n[api]\npassword = \"{secret}\"\nusername = \"\"\n"),
        // password and password_file both set
        format!(
            "{}\npassword_file = \"/nonexistent\"\n",
            MINIMAL.replace("s3cret-pa55", secret)
        ),
        // a syntax error on the password's own line
        format!("[api]\npassword = \"{secret}\n"),
        format!("[api]\npassword = {secret}\n"),
        // password in an unknown place
        format!("{MINIMAL}\n[api2]\npassword = \"{secret}\"\n"),
    ];
    for text in cases {
        let e = err(&text);
        assert!(!e.to_string().contains(secret), "leaked:\n{e}");
        assert!(
            !format!("{e:?}").contains(secret),
            "leaked in Debug:\n{e:?}"
        );
    }
    let cfg = ok(&MINIMAL.replace("s3cret-pa55", secret));
    assert!(!format!("{cfg:?}").contains(secret));
}

#[test]
fn syntax_error_names_line_and_column() {
    let e = err("[proxy]\nlisten = \"0.0.0.0:3306\"\n[api]\npassword = \"abc\n");
    assert_eq!(e.len(), 1);
    let shown = e.to_string();
    assert!(
        shown.starts_with("config: TOML syntax error at line 4"),
        "{shown}"
    );
}

#[test]
fn password_file_is_read_and_trimmed() {
    let dir = std::env::temp_dir().join(format!("switchboard-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("password");
    std::fs::write(&file, "from-file-pw\n").expect("write");
    let text = MINIMAL.replace(
        "password = \"s3cret-pa55\"",
        &format!("password_file = {:?}", file.display().to_string()),
    );
    let cfg = ok(&text);
    assert_eq!(cfg.api.password.expose(), "from-file-pw");

    std::fs::write(&file, "\n").expect("write");
    assert_eq!(err(&text).paths(), vec!["api.password_file"]);

    let missing = MINIMAL.replace(
        "password = \"s3cret-pa55\"",
        "password_file = \"/nonexistent/pw\"",
    );
    let shown = err(&missing).to_string();
    assert!(
        shown.starts_with("api.password_file: cannot read /nonexistent/pw"),
        "{shown}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn password_from_env_or_required() {
    let text = MINIMAL.replace("password = \"s3cret-pa55\"", "");
    let env = |name: &str| (name == PASSWORD_ENV).then(|| "env-pw".to_string());
    let cfg = parse_with_env(&text, &env).expect("env password");
    assert_eq!(cfg.api.password.expose(), "env-pw");
    assert_eq!(
        err(&text).to_string(),
        "api.password: required (password, password_file or SWITCHBOARD_API_PASSWORD)"
    );
    // A key in the file wins over the environment.
    let cfg = parse_with_env(MINIMAL, &env).expect("file password");
    assert_eq!(cfg.api.password.expose(), "s3cret-pa55");
}

#[test]
fn listeners_must_not_collide() {
    let text = MINIMAL.replace(
        "[api]\n",
        "[api]\nlisten = \"127.0.0.1:3306\"\nhealth_listen = \"0.0.0.0:3306\"\n",
    );
    let e = err(&text);
    assert_eq!(e.paths(), vec!["api.listen", "api.health_listen"], "{e}");
    let text = MINIMAL.replace(
        "[proxy]\n",
        "[proxy]\nstandby_listen = \"127.0.0.1:3306\"\n",
    );
    assert_eq!(err(&text).paths(), vec!["proxy.standby_listen"]);
}

#[test]
fn durations_and_counts() {
    let text = MINIMAL.replace(
        "[api]\n",
        "[monitor]\ninterval = \"1m30s\"\ntimeout = \"1.5s\"\nfall = 3\n[api]\n",
    );
    let cfg = ok(&text);
    assert_eq!(cfg.monitor.interval, Duration::from_secs(90));
    assert_eq!(cfg.monitor.timeout, Duration::from_millis(1500));
    assert_eq!(cfg.monitor.fall, 3);
    let bad = MINIMAL.replace(
        "[api]\n",
        "[monitor]\ntimeout = \"0ms\"\nfall = -1\n[api]\n",
    );
    assert_eq!(err(&bad).paths(), vec!["monitor.timeout", "monitor.fall"]);
}

#[test]
fn refuse_with_and_proxy_protocol() {
    let cfg = ok(MINIMAL);
    assert_eq!(cfg.proxy.refuse_with, RefuseWith::Close, "the default");
    assert_eq!(
        cfg.backends[0].proxy_protocol,
        ProxyProtocol::Off,
        "the default"
    );

    let text = MINIMAL
        .replace(
            "listen = \"0.0.0.0:3306\"\n",
            "listen = \"0.0.0.0:3306\"\nrefuse_with = \"mysql-error\"\n",
        )
        .replace("port = 3306\n", "port = 3306\nproxy_protocol = \"v2\"\n");
    let cfg = ok(&text);
    assert_eq!(cfg.proxy.refuse_with, RefuseWith::MysqlError);
    assert_eq!(cfg.backends[0].proxy_protocol, ProxyProtocol::V2);
    let cfg = ok(&text
        .replace("\"mysql-error\"", "\"close\"")
        .replace("\"v2\"", "\"off\""));
    assert_eq!(cfg.proxy.refuse_with, RefuseWith::Close);
    assert_eq!(cfg.backends[0].proxy_protocol, ProxyProtocol::Off);

    let e = err(&text
        .replace("\"mysql-error\"", "\"reset\"")
        .replace("\"v2\"", "\"v1\""));
    assert_eq!(
        e.to_string(),
        "proxy.refuse_with: must be \"close\" or \"mysql-error\" (found \"reset\")\n\
         backends[0].proxy_protocol: must be \"v2\" or \"off\" (found \"v1\")"
    );
}

#[test]
fn relative_paths_resolve_against_the_config_files_directory() {
    let dir = std::env::temp_dir().join(format!("switchboard-relative-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("secrets")).expect("temp dir");
    std::fs::write(dir.join("secrets/api-pw"), "relative-pw\n").expect("write");
    let text = MINIMAL.replace(
        "password = \"s3cret-pa55\"",
        "password_file = \"secrets/api-pw\"\nstatic_dir = \"ui\"",
    ) + "\n[state]\nfile = \"state/state.json\"\n";
    let cfg = parse_in(&text, &|_| None, Some(&dir)).expect("valid with relative paths");
    assert_eq!(cfg.api.password.expose(), "relative-pw");
    assert_eq!(cfg.api.static_dir, Some(dir.join("ui")));
    assert_eq!(cfg.state.file, Some(dir.join("state/state.json")));
    // Absolute paths stay as written.
    let absolute = text.replace(
        "\"state/state.json\"",
        "\"/var/lib/switchboard/state.json\"",
    );
    let cfg = parse_in(&absolute, &|_| None, Some(&dir)).expect("valid");
    assert_eq!(
        cfg.state.file.as_deref(),
        Some(Path::new("/var/lib/switchboard/state.json"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}
