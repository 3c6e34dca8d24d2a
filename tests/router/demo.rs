//! `switchboard demo` (docs/operations.md): with nothing but its listen flags it starts
//! demo backends, the router and the API, prints where everything is,
//! proxies (the active greets `hello from demo-0`), and fails over when a
//! demo backend is broken through its control URL (`POST .../mode/503`),
//! then fails back when it is healed.

use std::time::Duration;

use switchboard_harness::*;

/// `name: data ADDR  health http://ADDR/api/v1/status` lines of stdout.
fn health_addr(stdout: &str, name: &str) -> Option<String> {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{name}:")))?;
    let url = line.split_whitespace().find(|w| w.starts_with("http://"))?;
    Some(
        url.trim_start_matches("http://")
            .trim_end_matches("/api/v1/status")
            .to_string(),
    )
}

async fn post(url: &str) -> u16 {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    client
        .post(url)
        .send()
        .await
        .expect("POST to the demo control URL")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_proxies_and_fails_over_when_a_backend_is_broken() {
    let sb = Switchboard::demo(None).await;
    let out = sb.stdout();
    assert!(
        out.contains(&sb.proxy.to_string()),
        "the proxy address is printed:\n{out}"
    );
    assert!(
        out.contains(&sb.api.to_string()),
        "the dashboard URL is printed:\n{out}"
    );
    let h0 =
        health_addr(&out, "demo-0").unwrap_or_else(|| panic!("demo-0's health address in:\n{out}"));
    assert!(
        health_addr(&out, "demo-2").is_some(),
        "three demo backends by default:\n{out}"
    );

    sb.wait_active(Some("demo-0"), Duration::from_secs(5)).await;
    let (mut old, who) = greet(sb.proxy).await;
    assert_eq!(who, "demo-0");
    assert_echo(&mut old, "demo echo").await;
    let (_standby, who) = greet(sb.standby.unwrap()).await;
    assert_eq!(who, "demo-2", "the standby port goes to the highest index");

    assert_eq!(post(&format!("http://{h0}/mode/503")).await, 200);
    let (_new, took) = wait_greeting_from(sb.proxy, "demo-1", Duration::from_secs(3)).await;
    eprintln!(
        "demo: broke demo-0, new sessions reached demo-1 after {}",
        ms(took)
    );
    expect_eof_or_reset(&mut old, Duration::from_secs(1)).await;
    let state = sb.state().await;
    assert_eq!(state["active"], "demo-1");

    assert_eq!(post(&format!("http://{h0}/mode/healthy")).await, 200);
    wait_greeting_from(sb.proxy, "demo-0", Duration::from_secs(3)).await;
    assert_eq!(
        post(&format!("http://{h0}/mode/bogus")).await,
        400,
        "unknown modes are refused"
    );
}

#[test]
fn demo_on_taken_ports_names_the_port_and_its_flag_before_anything_starts() {
    // Each port taken in turn: the demo names it and the flag that moves it,
    // exits 1, and has not started (no election, no "switchboard started").
    for flag in ["--listen", "--standby-listen", "--api-listen"] {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port to take");
        let addr = taken.local_addr().expect("its address").to_string();
        let mut args = vec!["demo".to_string()];
        for f in ["--listen", "--standby-listen", "--api-listen"] {
            args.push(f.to_string());
            args.push(if f == flag {
                addr.clone()
            } else {
                free_addr().to_string()
            });
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = run_cli(&args, Duration::from_secs(10));
        assert_eq!(code, Some(1), "{flag}: stdout {stdout}\nstderr {stderr}");
        assert!(
            stderr.contains(&addr) && stderr.contains(&format!("choose another with {flag}")),
            "{flag}: {stderr}"
        );
        assert!(
            !stderr.contains("active") && !stderr.contains("switchboard started"),
            "{flag}: started before the port check: {stderr}"
        );
        drop(taken);
    }
}
