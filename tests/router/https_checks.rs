//! `galera` checks over `https://` (docs/configuration.md, `ca` and
//! `server_name`): a CA made fresh in the test signs the health endpoints'
//! certificate, served by a TLS front. A check that trusts that CA is
//! healthy, by the URL's IP or by a `server_name` pinned to it; a wrong CA,
//! a wrong `server_name` and the system roots each give an unhealthy
//! verdict whose reason says TLS. A non-200 answer's reason carries the
//! first line of its body. `check-config` reads a relative `ca` next to the
//! config file and rejects an unreadable one, naming its path.

use std::time::Duration;

use switchboard_harness::*;

/// The reason `/v0/state` gives for `name`.
fn reason(state: &serde_json::Value, name: &str) -> String {
    backend(state, name)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_checks_trust_their_ca_and_fail_with_a_tls_reason() {
    let files = TempDir::new("tls");
    let ca = TestCa::new(&["127.0.0.1", "galera.test"]);
    let ca_file = files.join("ca.pem");
    ca.write_ca(&ca_file);
    let other_file = files.join("other-ca.pem");
    TestCa::new(&["127.0.0.1"]).write_ca(&other_file);

    let names = [
        "good-ip",
        "good-name",
        "wrong-ca",
        "wrong-name",
        "system-roots",
    ];
    let check_keys = [
        format!("ca = \"{}\"", ca_file.display()),
        format!(
            "ca = \"{}\", server_name = \"galera.test\"",
            ca_file.display()
        ),
        format!("ca = \"{}\"", other_file.display()),
        format!(
            "ca = \"{}\", server_name = \"wrong.test\"",
            ca_file.display()
        ),
        String::new(),
    ];
    let mut builder = Builder::new().interval(100, 1000);
    let (mut backends, mut health, mut fronts) = (Vec::new(), Vec::new(), Vec::new());
    for (i, name) in names.iter().enumerate() {
        let b = Backend::greeting(name).await;
        let h = HealthEndpoint::healthy(i as u64).await;
        let front = TlsFront::start(&ca, h.addr).await;
        builder = builder.backend_at(name, b.addr, &front.url("127.0.0.1"));
        if !check_keys[i].is_empty() {
            builder = builder.check_keys(name, &check_keys[i]);
        }
        backends.push(b);
        health.push(h);
        fronts.push(front);
    }
    let sb = builder.start().await;

    let state = sb
        .wait_state(Duration::from_secs(10), "every https verdict", |s| {
            let healthy = |n: &str| backend(s, n)["healthy"] == true;
            let tls_failure = |n: &str| {
                backend(s, n)["healthy"] == false
                    && reason(s, n).starts_with("TLS handshake failed")
            };
            healthy("good-ip")
                && healthy("good-name")
                && tls_failure("wrong-ca")
                && tls_failure("wrong-name")
                && tls_failure("system-roots")
        })
        .await;
    for name in names {
        println!("{name}: {}", reason(&state, name));
    }
    assert_eq!(state["active"], "good-ip");
    assert!(reason(&state, "good-name").contains("galera healthy"));
    assert_eq!(
        reason(&state, "wrong-ca"),
        "TLS handshake failed: invalid peer certificate: UnknownIssuer"
    );
    assert_eq!(
        reason(&state, "system-roots"),
        "TLS handshake failed: invalid peer certificate: UnknownIssuer"
    );
    let wrong_name = reason(&state, "wrong-name");
    assert!(
        wrong_name.contains("not valid for name") || wrong_name.contains("NotValidForName"),
        "{wrong_name}"
    );
    // The probes really went through the fronts to the endpoints.
    assert!(health[0].requests() > 0 && health[1].requests() > 0);
    let (_, who) = greet(sb.proxy).await;
    assert_eq!(who, "good-ip");

    // A 503 over TLS: the first line of its body is in the reason.
    health[1].set(Health::Status503);
    let state = sb
        .wait_state(Duration::from_secs(5), "good-name answers 503", |s| {
            backend(s, "good-name")["healthy"] == false
        })
        .await;
    assert_eq!(reason(&state, "good-name"), "HTTP 503: failing on purpose");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_503_reason_carries_the_first_line_of_its_body() {
    let b0 = Backend::greeting("b0").await;
    let h0 = HealthEndpoint::healthy(0).await;
    let sb = Builder::new()
        .interval(50, 1000)
        .backend(&b0, &h0)
        .start()
        .await;
    sb.wait_active(Some("b0"), Duration::from_secs(5)).await;
    h0.set(Health::Status503);
    let state = sb
        .wait_state(Duration::from_secs(5), "b0 answers 503", |s| {
            backend(s, "b0")["healthy"] == false
        })
        .await;
    assert_eq!(reason(&state, "b0"), "HTTP 503: failing on purpose");
}

#[test]
fn check_config_reads_a_relative_ca_and_names_an_unreadable_one() {
    let dir = TempDir::new("cfg");
    TestCa::new(&["db.test"]).write_ca(&dir.join("db-ca.pem"));
    let config = |ca: &str| {
        format!(
            "[proxy]\nlisten = \"127.0.0.1:{}\"\n[api]\npassword = \"pw\"\n[[backends]]\nname = \"db-0\"\nhost = \"127.0.0.1\"\nport = 3306\ncheck = {{ kind = \"galera\", url = \"https://127.0.0.1:9200/api/v1/status\", ca = \"{ca}\", server_name = \"db.test\" }}\n",
            free_port()
        )
    };
    let good = dir.join("good.toml");
    std::fs::write(&good, config("db-ca.pem")).expect("write config");
    let (code, _, stderr) = run_cli(
        &[
            "check-config",
            "--config",
            good.to_str().expect("utf-8 path"),
        ],
        Duration::from_secs(10),
    );
    assert_eq!(code, Some(0), "a relative ca next to the file: {stderr}");

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, config("missing-ca.pem")).expect("write config");
    let (code, _, stderr) = run_cli(
        &[
            "check-config",
            "--config",
            bad.to_str().expect("utf-8 path"),
        ],
        Duration::from_secs(10),
    );
    assert_eq!(code, Some(2), "{stderr}");
    let missing = dir.join("missing-ca.pem");
    assert!(
        stderr.contains(&format!(
            "backends[0].check.ca: cannot read {}",
            missing.display()
        )),
        "{stderr}"
    );
}
