//! systemd's notification protocol (`Type=notify`, `WatchdogSec=`), as a
//! service manager sees it: the test binds the datagram socket systemd
//! would, starts the binary with `NOTIFY_SOCKET` pointing at it, and reads
//! what arrives. `READY=1` must come only once the proxy port accepts and
//! routes (checked the moment it arrives, by a session through the proxy),
//! `WATCHDOG=1` every half `WATCHDOG_USEC` when that is set and never when
//! it is not, `STOPPING=1` as soon as SIGTERM starts the ordered shutdown.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use switchboard_harness::process::run_args;
use switchboard_harness::*;

/// The fake service manager: a datagram socket and the thread that reads
/// it, recording every notification and, when `READY=1` arrives, at once
/// trying a session through the proxy port.
struct Manager {
    socket_path: std::path::PathBuf,
    /// The proxy port of the binary's latest start attempt.
    proxy: Arc<Mutex<Option<SocketAddr>>>,
    /// (arrival, datagram text), in order.
    messages: Arc<Mutex<Vec<(Instant, String)>>>,
    /// The session tried when the first `READY=1` arrived: the greeting's
    /// backend name, or why it failed.
    at_ready: Arc<Mutex<Option<Result<String, String>>>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    _dir: TempDir,
}

impl Manager {
    fn new() -> Manager {
        let dir = TempDir::new("notify");
        let socket_path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let proxy = Arc::new(Mutex::new(None));
        let messages = Arc::new(Mutex::new(Vec::new()));
        let at_ready = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (proxy, messages, at_ready, stop) = (
                proxy.clone(),
                messages.clone(),
                at_ready.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    let Ok(n) = socket.recv(&mut buf) else {
                        continue;
                    };
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let ready = text.lines().any(|l| l == "READY=1");
                    messages.lock().unwrap().push((Instant::now(), text));
                    if ready && at_ready.lock().unwrap().is_none() {
                        let addr = *proxy.lock().unwrap();
                        let result = match addr {
                            Some(addr) => greet_blocking(addr),
                            None => Err("READY=1 before the binary was started".into()),
                        };
                        *at_ready.lock().unwrap() = Some(result);
                    }
                }
            })
        };
        Manager {
            socket_path,
            proxy,
            messages,
            at_ready,
            stop,
            reader: Some(reader),
            _dir: dir,
        }
    }

    /// Starts the binary from `builder` with `NOTIFY_SOCKET` (and `env`).
    async fn start(&self, builder: Builder, env: &[(&str, &str)]) -> Switchboard {
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.push((
            "NOTIFY_SOCKET".into(),
            self.socket_path.display().to_string(),
        ));
        let proxy = self.proxy.clone();
        let password = builder.password.clone();
        Switchboard::launch(
            TempDir::new("sb"),
            &password,
            &env,
            false,
            move |dir, ports| {
                *proxy.lock().unwrap() = Some(ports.proxy);
                let path = dir.join("switchboard.toml");
                std::fs::write(&path, builder.toml(ports)).unwrap();
                run_args(&path)
            },
        )
        .await
    }

    /// The datagrams that hold the line `line`, with their arrival.
    fn with_line(&self, line: &str) -> Vec<(Instant, String)> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, m)| m.lines().any(|l| l == line))
            .cloned()
            .collect()
    }

    fn all(&self) -> Vec<String> {
        let messages = self.messages.lock().unwrap();
        messages.iter().map(|(_, m)| m.clone()).collect()
    }

    /// Waits for the first datagram holding `line`.
    async fn wait_line(&self, line: &str, within: Duration) -> (Instant, String) {
        wait_for(within, &format!("{line} on NOTIFY_SOCKET"), || async {
            self.with_line(line).into_iter().next()
        })
        .await
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// A session through the proxy, from the reader thread: connect and read
/// the greeting backend's `hello from NAME` line.
fn greet_blocking(addr: SocketAddr) -> Result<String, String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect to the proxy port {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.last() != Some(&b'\n') {
        match stream.read(&mut byte) {
            Ok(0) => return Err(format!("EOF after {line:?}: no route")),
            Ok(_) => line.push(byte[0]),
            Err(e) => return Err(format!("reading the greeting: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&line).trim().to_string();
    line.strip_prefix("hello from ")
        .map(str::to_string)
        .ok_or_else(|| format!("not a greeting: {line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_once_the_proxy_routes_and_stopping_at_sigterm() {
    let b0 = Backend::greeting("b0").await;
    let h0 = HealthEndpoint::healthy(0).await;
    let manager = Manager::new();
    // shutdown_delay keeps the process alive well after SIGTERM, so
    // STOPPING=1 is seen to come at the signal, not at the exit.
    let builder = Builder::new().shutdown(1500, 0).backend(&b0, &h0);
    let mut sb = manager.start(builder, &[]).await;

    let (_, ready) = manager.wait_line("READY=1", Duration::from_secs(10)).await;
    let at_ready = wait_for(
        Duration::from_secs(10),
        "the session tried at READY=1",
        || {
            let r = manager.at_ready.lock().unwrap().clone();
            async move { r }
        },
    )
    .await;
    assert_eq!(
        at_ready,
        Ok("b0".to_string()),
        "when READY=1 arrived the proxy port did not route"
    );
    assert!(
        ready.contains("STATUS=") && ready.contains(&sb.proxy.to_string()),
        "READY=1 without a STATUS= naming the proxy port: {ready:?}"
    );
    assert_eq!(manager.with_line("READY=1").len(), 1, "{:?}", manager.all());

    let sigterm = Instant::now();
    sb.signal(libc::SIGTERM);
    let (stopping_at, _) = manager
        .wait_line("STOPPING=1", Duration::from_secs(5))
        .await;
    assert!(
        !sb.exited(),
        "STOPPING=1 arrived only once the process had exited"
    );
    eprintln!(
        "STOPPING=1 arrived {} after SIGTERM",
        ms(stopping_at.saturating_duration_since(sigterm))
    );
    let status = sb.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "exit status {status}");
    assert!(
        manager.with_line("WATCHDOG=1").is_empty(),
        "WATCHDOG=1 without WATCHDOG_USEC: {:?}",
        manager.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchdog_pings_every_half_watchdog_usec() {
    let b0 = Backend::greeting("b0").await;
    let h0 = HealthEndpoint::healthy(0).await;
    let manager = Manager::new();
    let builder = Builder::new().backend(&b0, &h0);
    // 400 ms: pings every 200 ms.
    let mut sb = manager.start(builder, &[("WATCHDOG_USEC", "400000")]).await;
    let (ready_at, _) = manager.wait_line("READY=1", Duration::from_secs(10)).await;
    let pings = wait_for(Duration::from_secs(10), "4 WATCHDOG=1 pings", || {
        let pings = manager.with_line("WATCHDOG=1");
        async move { (pings.len() >= 4).then_some(pings) }
    })
    .await;
    assert!(
        pings[0].0 >= ready_at,
        "a WATCHDOG=1 came before READY=1: {:?}",
        manager.all()
    );
    let span = pings[pings.len() - 1].0 - pings[0].0;
    let mean = span / (pings.len() as u32 - 1);
    eprintln!("{} pings, {} apart on average", pings.len(), ms(mean));
    assert!(
        mean >= Duration::from_millis(150),
        "pings every {} for WATCHDOG_USEC=400000 (expected ~200 ms)",
        ms(mean)
    );
    assert!(sb.stop().await.success());
}
