//! The command line and configuration formats (docs/operations.md, docs/configuration.md): a native
//! TOML file with ten different mistakes is rejected by both `check-config`
//! and `run` with exit 2, every mistake reported on its own line with its
//! path, and no secret printed; a valid file passes `check-config` with
//! exit 0; and a Go switchboard file shaped like that program's documented
//! example (YAML, and the same as JSON) runs unchanged and proxies to its
//! backends.

use std::time::Duration;

use switchboard_harness::*;

const SECRET: &str = "hunter2-do-not-print";

/// Ten mistakes, each with the path it must be reported under.
fn broken_toml() -> (String, Vec<&'static str>) {
    let text = format!(
        r#"
[proxy]
listen = "not-an-address"
connect_timeout = "5 parsecs"
drain_timeout = 5

[monitor]
interval = "0s"
rise = 0
bogus = true

[api]
listen = "127.0.0.1:{api}"
password = "{SECRET}"
password_file = "/nonexistent/password"

[[backends]]
name = "db-0"
host = "127.0.0.1"
port = 70000
check = {{ kind = "tcp" }}

[[backends]]
name = "db-0"
host = "127.0.0.1"
port = 3306
check = {{ kind = "ping" }}
"#,
        api = free_port()
    );
    let paths = vec![
        "proxy.listen",
        "proxy.connect_timeout",
        "proxy.drain_timeout",
        "monitor.interval",
        "monitor.rise",
        "monitor.bogus",
        "api.password_file",
        "backends[0].port",
        "backends[1].name",
        "backends[1].check.kind",
    ];
    (text, paths)
}

fn assert_reports_every_mistake(what: &str, code: Option<i32>, stderr: &str, paths: &[&str]) {
    assert_eq!(code, Some(2), "{what}: exit code; stderr:\n{stderr}");
    for path in paths {
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.trim_start().starts_with(&format!("{path}:")))
            .collect();
        assert_eq!(lines.len(), 1, "{what}: one line for {path} in:\n{stderr}");
    }
    assert!(
        !stderr.contains(SECRET),
        "{what}: the password was printed:\n{stderr}"
    );
}

#[test]
fn ten_mistakes_are_all_reported_with_their_paths_and_exit_2() {
    let dir = TempDir::new("cfg");
    let (text, paths) = broken_toml();
    let path = dir.join("broken.toml");
    std::fs::write(&path, text).unwrap();
    let p = path.to_str().unwrap();
    let (code, stdout, stderr) = run_cli(&["check-config", "--config", p], Duration::from_secs(10));
    assert_reports_every_mistake("check-config", code, &stderr, &paths);
    assert!(!stdout.contains(SECRET));
    let problems = stderr.lines().filter(|l| l.starts_with("  ")).count();
    assert_eq!(
        problems,
        paths.len(),
        "exactly one line per mistake:\n{stderr}"
    );

    let (code, _, stderr) = run_cli(&["run", "--config", p], Duration::from_secs(10));
    assert_reports_every_mistake("run", code, &stderr, &paths);
}

#[test]
fn a_valid_file_passes_check_config() {
    let dir = TempDir::new("cfg");
    let path = dir.join("ok.toml");
    let text = format!(
        "[proxy]\nlisten = \"127.0.0.1:{}\"\n[api]\npassword = \"{SECRET}\"\n[[backends]]\nname = \"db-0\"\nhost = \"127.0.0.1\"\nport = 3306\ncheck = {{ kind = \"tcp\" }}\n",
        free_port()
    );
    std::fs::write(&path, text).unwrap();
    let (code, stdout, stderr) = run_cli(
        &["check-config", "--config", path.to_str().unwrap()],
        Duration::from_secs(10),
    );
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
}

#[test]
fn an_unknown_extension_and_a_missing_file_are_configuration_errors() {
    let dir = TempDir::new("cfg");
    let ini = dir.join("switchboard.ini");
    std::fs::write(&ini, "x").unwrap();
    for p in [ini, dir.join("missing.toml")] {
        let (code, _, stderr) = run_cli(
            &["run", "--config", p.to_str().unwrap()],
            Duration::from_secs(10),
        );
        assert_eq!(code, Some(2), "{}: {stderr}", p.display());
        assert!(stderr.contains("configuration error"), "{stderr}");
    }
}

async fn go_file_runs_unchanged(extension: &str) {
    let (b0, b1) = (
        Backend::greeting("backend-0").await,
        Backend::greeting("backend-1").await,
    );
    let (h0, h1) = (
        HealthEndpoint::healthy(0).await,
        HealthEndpoint::healthy(1).await,
    );
    // The Go switchboard's documented example (cf. its `validConfig.yml`),
    // pointed at loopback ports, plus pxc-release's `BindAddress`.
    let dir = TempDir::new("go");
    let go = GoConfig {
        force_https: true,
        static_dir: Some(dir.path().display().to_string()),
        ..GoConfig::new(vec![(&b0, &h0), (&b1, &h1)], SECRET)
    };
    let sb = go.start(dir, extension).await;
    let health = sb.ports.health;
    sb.wait_active(Some("backend-0"), Duration::from_secs(5))
        .await;
    let (mut s, who) = greet(sb.proxy).await;
    assert_eq!(who, "backend-0");
    assert_echo(&mut s, "session through the Go-format config").await;

    // HealthcheckTimeoutMillis 500 -> probes every 100 ms: a failover.
    h0.set(Health::Status503);
    wait_greeting_from(sb.proxy, "backend-1", Duration::from_secs(2)).await;
    expect_eof_or_reset(&mut s, Duration::from_secs(1)).await;
    let client = reqwest::Client::new();
    let r = client
        .get(format!("http://{health}/anything"))
        .send()
        .await
        .expect("HealthPort answers");
    assert_eq!(
        r.status().as_u16(),
        200,
        "HealthPort answers 200 on any path"
    );
    assert!(!sb.stderr().contains(SECRET), "the password was logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_switchboard_yaml_file_runs_unchanged() {
    go_file_runs_unchanged("yml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_switchboard_json_file_runs_unchanged() {
    go_file_runs_unchanged("json").await;
}
