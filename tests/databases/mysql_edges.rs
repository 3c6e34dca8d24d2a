//! The MySQL edges against a real MariaDB (docs/configuration.md,
//! `proxy.refuse_with` and `backends[].proxy_protocol`): with routing off
//! and `refuse_with = "mysql-error"`, the `mariadb` command-line client and
//! `mysql_async` both report error 1105 with the operator's message instead
//! of a lost connection; with `proxy_protocol = "v2"` and the server's
//! `proxy_protocol_networks` covering the proxy, a client bound to
//! 127.0.0.2 appears as 127.0.0.2 in `information_schema.processlist`.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpSocket;

use switchboard_harness::mariadb::{APP_PASSWORD, APP_USER};
use switchboard_harness::mysql_async::{Conn, Error, OptsBuilder};
use switchboard_harness::{listen, skip_db_tests, Builder, MariaDb};

/// How long a verdict or a client run may take.
const WITHIN: Duration = Duration::from_secs(10);

/// A loopback relay whose connections to `target` leave from `source`
/// (the `mariadb` client has no `--bind-address`); aborted on drop.
struct Relay {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    fn start(source: Ipv4Addr, target: SocketAddr) -> Relay {
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(socket) = TcpSocket::new_v4() else {
                        return;
                    };
                    if socket.bind(SocketAddr::from((source, 0))).is_err() {
                        return;
                    }
                    let Ok(mut server) = socket.connect(target).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        Relay { addr, task }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs the `mariadb` client against `addr` (TCP, no TLS: the point is the
/// first packet), executing `sql`; returns (exit code, stdout, stderr).
/// Killed if it takes longer than [`WITHIN`].
async fn mariadb_cli(addr: SocketAddr, sql: &str) -> (Option<i32>, String, String) {
    let run = tokio::process::Command::new("mariadb")
        .args([
            "--no-defaults",
            "--protocol=TCP",
            "--skip-ssl",
            "--connect-timeout=5",
            "--batch",
            "--skip-column-names",
        ])
        .arg(format!("--host={}", addr.ip()))
        .arg(format!("--port={}", addr.port()))
        .arg(format!("--user={APP_USER}"))
        .arg(format!("--password={APP_PASSWORD}"))
        .arg(format!("--execute={sql}"))
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(WITHIN, run)
        .await
        .expect("the mariadb client finishes in time")
        .expect("run the mariadb client (scripts/install-test-databases)");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

/// A TCP check: it needs no account and sends no PROXY header.
const TCP_CHECK: &str = "kind = \"tcp\"";

#[tokio::test]
async fn clients_print_the_routing_off_message() {
    if skip_db_tests("clients_print_the_routing_off_message") {
        return;
    }
    let db = MariaDb::start().await;
    let sb = Builder {
        refuse_with: Some("mysql-error"),
        ..Builder::new().interval(200, 500)
    }
    .backend_with_check("db-0", db.addr(), TCP_CHECK)
    .start()
    .await;
    sb.wait_active(Some("db-0"), WITHIN).await;
    let (code, out, err) = mariadb_cli(sb.proxy, "SELECT 40 + 2").await;
    assert_eq!((code, out.as_str()), (Some(0), "42"), "routed: {err}");

    let (status, _) = sb
        .patch(
            "/v0/cluster?trafficEnabled=false&message=maintenance+until+10%3A00",
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (code, out, err) = mariadb_cli(sb.proxy, "SELECT 40 + 2").await;
    assert_eq!(code, Some(1), "refused: {out} {err}");
    assert_eq!(
        err,
        "ERROR 1105 (HY000): switchboard: routing is off: maintenance until 10:00"
    );

    let opts = OptsBuilder::default()
        .ip_or_hostname(sb.proxy.ip().to_string())
        .tcp_port(sb.proxy.port())
        .user(Some(APP_USER))
        .pass(Some(APP_PASSWORD))
        .prefer_socket(false);
    match tokio::time::timeout(WITHIN, Conn::new(opts)).await {
        Ok(Err(Error::Server(e))) => {
            assert_eq!(e.code, 1105);
            assert_eq!(
                e.message,
                "switchboard: routing is off: maintenance until 10:00"
            );
        }
        Ok(Err(other)) => panic!("not the server error: {other:?}"),
        Ok(Ok(_)) => panic!("logged in with routing off"),
        Err(_) => panic!("mysql_async did not fail in time"),
    }
}

#[tokio::test]
async fn proxy_protocol_shows_the_real_client_address_in_the_processlist() {
    if skip_db_tests("proxy_protocol_shows_the_real_client_address_in_the_processlist") {
        return;
    }
    let db = MariaDb::start().await;
    // Connections from the proxy (127.0.0.1) may carry a PROXY header;
    // ones without (the harness's own) are still accepted.
    db.exec("SET GLOBAL proxy_protocol_networks = '127.0.0.1/32'")
        .await;
    let sb = Builder::new()
        .interval(200, 500)
        .backend_with_check("db-0", db.addr(), TCP_CHECK)
        .backend_keys("db-0", "proxy_protocol = \"v2\"")
        .start()
        .await;
    sb.wait_active(Some("db-0"), WITHIN).await;
    let whoami = "SELECT host FROM information_schema.processlist WHERE id = CONNECTION_ID()";
    let relay = Relay::start(Ipv4Addr::new(127, 0, 0, 2), sb.proxy);
    for (via, bind) in [(relay.addr, "127.0.0.2"), (sb.proxy, "127.0.0.1")] {
        let (code, host, err) = mariadb_cli(via, whoami).await;
        assert_eq!(code, Some(0), "{err}");
        let ip = host.rsplit_once(':').map_or(host.as_str(), |(ip, _)| ip);
        assert_eq!(
            ip, bind,
            "the server sees the client, not the proxy ({host})"
        );
    }
}
