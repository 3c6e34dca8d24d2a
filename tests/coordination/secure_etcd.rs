//! (j) TLS and authentication to etcd (SPEC 13, docs/configuration.md's
//! `coordination.ca`, `cert`, `key`, `user`, `password`, `password_file`,
//! `SWITCHBOARD_ETCD_PASSWORD`): a real etcd serving its client port over
//! TLS with `--client-cert-auth`, then also with authentication on and a
//! user that may only touch the test's prefix.
//!
//! Instances that present the CA and a client certificate (and the right
//! password) join, one leads, and their sessions reach db-0 (read from the
//! backends' records); an instance with a wrong password never joins, and
//! neither its log nor its API shows that password, while its log says
//! why (authentication). A failover after a calm spell longer than etcd's
//! token TTL still agrees in time (the client logs in again instead of
//! ending its session). `check-config` refuses a `ca` beside `http://`
//! endpoints. The setup is `secure_setup`; everything started here is
//! killed by pid on drop.

use std::time::{Duration, Instant};

use switchboard_harness::{poll_until, run_cli, Builder, Etcd, Health, Ports, TempDir};

use crate::load::LoadDriver;
use crate::scenario::coordination_toml;
use crate::secure_setup::{password_file, Secure};
use crate::timeline::{self, ms};
use crate::{AGREEMENT, INSTANCES, LEASE_GRACE};

/// The etcd user of the auth test.
const USER: &str = "switchboard";
/// Its password: must never show in any log or answer.
const PASSWORD: &str = "Sb-etcd-right-7f3a9q";
/// What the refused instance is given instead: must never show either.
const WRONG_PASSWORD: &str = "Sb-etcd-wrong-2c81dz";
/// etcd's `--auth-token-ttl` (seconds) in the token test: far below its
/// 300 s default, so a test outlives a token.
const TOKEN_TTL_SECS: u64 = 1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_agree_over_tls_with_client_certificates() {
    let etcd = Etcd::start_tls().await;
    let tls = etcd.tls().expect("a TLS etcd").coordination_toml();
    assert!(
        etcd.endpoint().starts_with("https://"),
        "{}",
        etcd.endpoint()
    );
    // The fixture really demands a client certificate: the CA alone is
    // not enough to be served.
    let ca = std::fs::read(&etcd.tls().expect("a TLS etcd").ca).expect("the CA file");
    let bare = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("the CA"))
        .build()
        .expect("a client");
    let health = bare.get(format!("{}/health", etcd.endpoint())).send().await;
    assert!(
        health.as_ref().map_or(true, |r| !r.status().is_success()),
        "etcd served a client without a certificate: {health:?}"
    );

    let mut s = Secure::new(etcd).await;
    let started = Instant::now();
    s.add(&tls, &[]).await;
    s.add(&tls, &[]).await;
    let leader = s.wait_joined(&[0, 1]).await;
    let routed = s.assert_routes_to_db0(&[0, 1]).await;
    for i in 0..2 {
        let c = &s.sbs[i].state().await["coordination"];
        assert_eq!(c["connected"], true, "{c:#}");
        assert_eq!(c["leader"], INSTANCES[leader], "{c:#}");
        assert!(c["epoch"].as_u64().is_some_and(|e| e >= 1), "{c:#}");
    }
    eprintln!(
        "COORD secure tls: 2 instances over https with client certificates, {} leads, \
         {routed} sessions reached db-0, {} from the first start",
        INSTANCES[leader],
        ms(started.elapsed())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_the_right_password_joins_and_a_wrong_one_never_does() {
    let etcd = Etcd::start_tls().await;
    let tls = etcd.tls().expect("a TLS etcd").coordination_toml();
    let mut s = Secure::new(etcd).await;
    s.etcd
        .enable_auth(&s.prefix, USER, PASSWORD)
        .await
        .unwrap_or_else(|e| panic!("enabling etcd auth: {e}"));
    let files = TempDir::new("etcd-password");
    let user = format!("user = \"{USER}\"");
    // proxy-0: password_file; proxy-1: SWITCHBOARD_ETCD_PASSWORD.
    let from_file = format!(
        "{tls}\n{user}\npassword_file = \"{}\"",
        password_file(&files, PASSWORD)
    );
    s.add(&from_file, &[]).await;
    s.add(
        &format!("{tls}\n{user}"),
        &[("SWITCHBOARD_ETCD_PASSWORD", PASSWORD)],
    )
    .await;
    let leader = s.wait_joined(&[0, 1]).await;
    let routed = s.assert_routes_to_db0(&[0, 1]).await;

    // proxy-2: the right user, a wrong password. Sampled from its first
    // answer until lease_ttl + 1 s later: never connected, never a role.
    let wrong = s
        .add(
            &format!("{tls}\n{user}\npassword = \"{WRONG_PASSWORD}\""),
            &[],
        )
        .await;
    let answering = Instant::now();
    let mut roles = Vec::new();
    while answering.elapsed() <= LEASE_GRACE {
        let state = s.sbs[wrong].state().await;
        let c = &state["coordination"];
        let role = c["role"].as_str().unwrap_or_default().to_string();
        assert!(
            (role == "joining" || role == "lost") && c["connected"] != true,
            "proxy-2 (wrong password) joined: {c:#}"
        );
        if roles.last() != Some(&role) {
            roles.push(role);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Still exactly the two good instances, still one leader.
    assert_eq!(s.wait_joined(&[0, 1]).await, leader);

    let why = switchboard_harness::wait_for(
        Duration::from_secs(5),
        "an etcd error in proxy-2's log",
        || {
            let lines = s.sbs[wrong].log_lines("etcd session ended");
            async move { lines.into_iter().next() }
        },
    )
    .await;
    // etcd's words for a refused login (not "authentication is not
    // enabled", which would mean the fixture left auth off).
    assert!(
        why.contains("authentication failed"),
        "the reason does not say the login was refused: {why}"
    );
    let state = s.sbs[wrong].get("/v0/state").send().await.expect("state");
    let state = state.text().await.expect("the state text");
    let events = s.sbs[wrong]
        .get("/v0/events?since=0")
        .send()
        .await
        .expect("events");
    let events = events.text().await.expect("the events text");
    for (what, text) in [
        ("stderr", s.sbs[wrong].stderr()),
        ("stdout", s.sbs[wrong].stdout()),
        ("/v0/state", state),
        ("/v0/events", events),
    ] {
        assert!(
            !text.contains(WRONG_PASSWORD) && !text.contains(PASSWORD),
            "proxy-2's {what} shows a password:\n{text}"
        );
    }
    for i in [0, 1] {
        let log = s.sbs[i].stderr();
        assert!(
            !log.contains(PASSWORD),
            "{}'s log shows the password",
            INSTANCES[i]
        );
    }
    eprintln!(
        "COORD secure auth: proxy-0 (password_file) and proxy-1 (env) joined, {} leads, \
         {routed} sessions reached db-0; proxy-2 (wrong password) said {roles:?} for {} \
         after it answered, and logged: {}",
        INSTANCES[leader],
        ms(LEASE_GRACE),
        why.trim()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_refuses_a_ca_with_http_endpoints() {
    let dir = TempDir::new("secure-cfg");
    let ca = dir.join("ca.pem");
    switchboard_harness::TestCa::new(&["127.0.0.1"]).write_ca(&ca);
    let config = |scheme: &str| {
        let table = coordination_toml(
            &format!("{scheme}://127.0.0.1:2379"),
            "/sb",
            "proxy-0",
            "hold",
        );
        let builder = Builder::new()
            .backend_at(
                "db-0",
                "127.0.0.1:3306".parse().expect("an address"),
                "http://127.0.0.1:9200/",
            )
            .coordination(&format!("{table}\nca = \"{}\"", ca.display()));
        let path = dir.join(&format!("{scheme}.toml"));
        std::fs::write(&path, builder.toml(&Ports::fresh())).expect("write the config");
        path.display().to_string()
    };
    let timeout = Duration::from_secs(10);
    let (code, _, stderr) = run_cli(&["check-config", "--config", &config("http")], timeout);
    assert_eq!(code, Some(2), "check-config of http:// with ca:\n{stderr}");
    let problems: Vec<&str> = stderr.lines().filter(|l| l.starts_with("  ")).collect();
    assert!(
        problems.len() == 1 && problems[0].trim_start().starts_with("coordination.ca:"),
        "one problem, naming coordination.ca:\n{stderr}"
    );
    // The same file with https:// passes: the scheme was the only problem.
    let (code, stdout, stderr) = run_cli(&["check-config", "--config", &config("https")], timeout);
    assert_eq!(
        code,
        Some(0),
        "check-config of https:// with ca:\n{stdout}\n{stderr}"
    );
    eprintln!(
        "COORD secure config: http:// with ca refused: {}",
        problems[0].trim()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_after_the_login_token_expired_still_agrees() {
    let etcd = Etcd::start_tls_with_token_ttl(TOKEN_TTL_SECS).await;
    let tls = etcd.tls().expect("a TLS etcd").coordination_toml();
    let mut s = Secure::new(etcd).await;
    s.etcd
        .enable_auth(&s.prefix, USER, PASSWORD)
        .await
        .unwrap_or_else(|e| panic!("enabling etcd auth: {e}"));
    let lines = format!("{tls}\nuser = \"{USER}\"");
    for _ in 0..2 {
        s.add(&lines, &[("SWITCHBOARD_ETCD_PASSWORD", PASSWORD)])
            .await;
    }
    let leader = s.wait_joined(&[0, 1]).await;
    s.assert_routes_to_db0(&[0, 1]).await;

    // The fault is time: a quiet cluster sends etcd only keep-alives,
    // which do not renew a token, so after three TTLs of calm both
    // instances' tokens have expired.
    tokio::time::sleep(Duration::from_secs(3 * TOKEN_TTL_SECS)).await;
    let drivers: Vec<LoadDriver> = (0..2)
        .map(|i| LoadDriver::start(INSTANCES[i], s.sbs[i].proxy))
        .collect();
    let at = Instant::now();
    for mine in &s.health {
        mine[0].set(Health::Status503);
    }
    let limit = AGREEMENT + Duration::from_secs(5);
    let agreed = poll_until(limit, || async {
        tokio::time::sleep(Duration::from_millis(15)).await;
        let hits = timeline::hits_since(&s.backends, Some(at));
        timeline::agreed(&hits, &[0, 1], 1, at, 5)
    })
    .await;
    drop(drivers);
    let hits = timeline::hits_since(&s.backends, Some(at));
    let took = timeline::agreement_after(&hits, &[0, 1], 1, at).filter(|_| agreed);
    let expired: Vec<String> = (0..2)
        .flat_map(|i| s.sbs[i].log_lines("invalid auth token"))
        .collect();
    let Some(took) = took else {
        panic!("no agreement on db-1 within {limit:?} after the token expired; {expired:#?}");
    };
    assert!(
        took <= AGREEMENT,
        "agreement on db-1 took {} (budget {}); {expired:#?}",
        ms(took),
        ms(AGREEMENT)
    );
    assert!(
        expired.is_empty(),
        "an expired token ended a session instead of a new login: {expired:#?}"
    );

    // Once more the calm, then the leader dies: the survivor's campaign
    // (waiting at etcd since it joined, on its first token) must win.
    tokio::time::sleep(Duration::from_secs(3 * TOKEN_TTL_SECS)).await;
    let survivor = 1 - leader;
    let killed = Instant::now();
    s.sbs[leader].signal(libc::SIGKILL);
    s.sbs[leader].wait_exit(Duration::from_secs(5)).await;
    let what = format!(
        "{} leads after {} was killed",
        INSTANCES[survivor], INSTANCES[leader]
    );
    let budget = LEASE_GRACE + Duration::from_secs(5);
    s.sbs[survivor]
        .wait_state(budget, &what, |st| st["coordination"]["role"] == "leader")
        .await;
    let took_over = killed.elapsed();
    assert!(
        took_over <= LEASE_GRACE,
        "{what}: {} (budget {})",
        ms(took_over),
        ms(LEASE_GRACE)
    );
    eprintln!(
        "COORD secure token: {} led; after {} s of calm (token TTL {TOKEN_TTL_SECS} s) db-0 \
         failed and both instances routed to db-1 {} later (budget {}), no session ended; \
         after another calm spell {} was killed and {} led {} later (budget {})",
        INSTANCES[leader],
        3 * TOKEN_TTL_SECS,
        ms(took),
        ms(AGREEMENT),
        INSTANCES[leader],
        INSTANCES[survivor],
        ms(took_over),
        ms(LEASE_GRACE)
    );
}
