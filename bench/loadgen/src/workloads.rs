//! The client side of every workload. Each one is bounded in time and in
//! count, and returns its figures as named metrics.
//!
//! - `churn`: connect, 64 B echo, close; `concurrency` clients in a loop.
//! - `request_response`: `connections` open sessions, 64 B ping-pong, with
//!   every request's latency recorded.
//! - `open_sessions`: N sessions that each moved one byte both ways and
//!   then sit idle (memory per session, sever).
//! - `wait_all_eof`: when each of those sessions sees EOF (sever time).
//! - `failover_trial`: how long until a new session reaches the backup
//!   after the preferred backend dies or fails its health check.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::backends::{Backend, WHO};
use crate::stats::quantile;

/// Named figures of one run of one workload.
pub type Metrics = BTreeMap<String, f64>;

/// Every network step of a client is bounded by this.
const STEP: Duration = Duration::from_secs(5);

async fn step<T>(what: &str, f: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
    match tokio::time::timeout(STEP, f).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{what}: timed out"),
        )),
    }
}

/// Connect, write `msg`, read as many bytes back. The stream stays open.
pub async fn echo_once(target: SocketAddr, msg: &[u8], back: &mut [u8]) -> io::Result<TcpStream> {
    let mut s = step("connect", TcpStream::connect(target)).await?;
    s.set_nodelay(true)?;
    step("write", s.write_all(msg)).await?;
    step("read", s.read_exact(back)).await?;
    Ok(s)
}

/// Connection churn: `concurrency` clients, each connecting, echoing
/// `size` bytes and closing, until `duration` is over or `max` connections
/// were made.
pub async fn churn(
    target: SocketAddr,
    concurrency: usize,
    size: usize,
    duration: Duration,
    max: u64,
) -> Metrics {
    let started = Instant::now();
    let deadline = started + duration;
    let per_client = max / concurrency as u64 + 1;
    let mut clients = JoinSet::new();
    for _ in 0..concurrency {
        clients.spawn(async move {
            let msg = vec![b'c'; size];
            let mut back = vec![0u8; size];
            let (mut ok, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline && ok + errors < per_client {
                match echo_once(target, &msg, &mut back).await {
                    Ok(stream) => {
                        drop(stream);
                        ok += 1;
                    }
                    Err(_) => {
                        errors += 1;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
            (ok, errors)
        });
    }
    let (mut ok, mut errors) = (0u64, 0u64);
    while let Some(r) = clients.join_next().await {
        if let Ok((o, e)) = r {
            ok += o;
            errors += e;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    metrics(&[
        ("conn_per_s", ok as f64 / secs),
        ("connections", ok as f64),
        ("errors", errors as f64),
    ])
}

/// Request/response on `connections` open sessions: each sends `size`
/// bytes and waits for them back, over and over. Latency of every request
/// after `warmup` is recorded.
pub async fn request_response(
    target: SocketAddr,
    connections: usize,
    size: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Metrics, String> {
    let mut streams = Vec::with_capacity(connections);
    for _ in 0..connections {
        let s = step("connect", TcpStream::connect(target))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        streams.push(s);
    }
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut clients = JoinSet::new();
    for mut s in streams {
        clients.spawn(async move {
            let msg = vec![b'r'; size];
            let mut back = vec![0u8; size];
            let mut lat: Vec<u64> = Vec::with_capacity(1 << 16);
            loop {
                let t = Instant::now();
                if t >= end {
                    return Ok::<_, io::Error>(lat);
                }
                step("write", s.write_all(&msg)).await?;
                step("read", s.read_exact(&mut back)).await?;
                if t >= measure_from {
                    lat.push(t.elapsed().as_nanos() as u64);
                }
            }
        });
    }
    let mut all = Vec::new();
    while let Some(r) = clients.join_next().await {
        match r {
            Ok(Ok(lat)) => all.extend(lat),
            Ok(Err(e)) => return Err(format!("request/response: {e}")),
            Err(e) => return Err(format!("request/response task: {e}")),
        }
    }
    all.sort_unstable();
    let us = |q| quantile(&all, q) as f64 / 1000.0;
    Ok(metrics(&[
        ("req_per_s", all.len() as f64 / duration.as_secs_f64()),
        ("p50_us", us(0.5)),
        ("p99_us", us(0.99)),
        ("p999_us", us(0.999)),
    ]))
}

/// Opens `n` sessions, `concurrency` at a time; each moves one byte both
/// ways (so the proxy has connected it to the backend) and then stays open.
pub async fn open_sessions(
    target: SocketAddr,
    n: usize,
    concurrency: usize,
) -> Result<Vec<TcpStream>, String> {
    let mut open = Vec::with_capacity(n);
    let mut pending = JoinSet::new();
    let mut started = 0;
    let mut failures = 0usize;
    let mut last_error = String::new();
    while open.len() + failures < n {
        while started < n && pending.len() < concurrency {
            started += 1;
            pending.spawn(async move { echo_once(target, b"x", &mut [0u8; 1]).await });
        }
        match pending.join_next().await {
            Some(Ok(Ok(s))) => open.push(s),
            Some(Ok(Err(e))) => {
                failures += 1;
                last_error = e.to_string();
            }
            Some(Err(e)) => {
                failures += 1;
                last_error = e.to_string();
            }
            None => break,
        }
    }
    if failures > 0 {
        return Err(format!(
            "{failures} of {n} sessions failed to open (last: {last_error})"
        ));
    }
    Ok(open)
}

/// Watches streams for their end (EOF or reset) from a thread of its own
/// with a plain edge-triggered epoll set: when a proxy severs 10,000
/// sessions at once, a task per socket would make the client's own work a
/// large part of what is measured. Spawn this before triggering the sever.
pub struct EofWatch {
    thread: std::thread::JoinHandle<Result<Vec<Instant>, String>>,
    count: usize,
}

pub fn watch_eof(streams: Vec<TcpStream>) -> Result<EofWatch, String> {
    use std::os::fd::AsRawFd;
    let count = streams.len();
    // Out of tokio's hands (deregistered), owned by the watcher thread.
    let sockets: Vec<std::net::TcpStream> = streams
        .into_iter()
        .map(|s| s.into_std())
        .collect::<io::Result<_>>()
        .map_err(|e| e.to_string())?;
    // SAFETY: plain syscall; the descriptor is closed by the thread below.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epfd < 0 {
        return Err(io::Error::last_os_error().to_string());
    }
    for (i, s) in sockets.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32,
            u64: i as u64,
        };
        // SAFETY: valid epoll fd, valid socket fd, valid event.
        if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) } != 0 {
            let e = io::Error::last_os_error();
            unsafe { libc::close(epfd) };
            return Err(format!("epoll_ctl: {e}"));
        }
    }
    let thread = std::thread::spawn(move || {
        let _keep = sockets;
        let mut ends: Vec<Option<Instant>> = vec![None; count];
        let mut seen = 0;
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen < count && Instant::now() < deadline {
            // SAFETY: valid epoll fd and buffer.
            let n =
                unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), events.len() as i32, 100) };
            let now = Instant::now();
            for ev in events.iter().take(n.max(0) as usize) {
                let slot = &mut ends[ev.u64 as usize];
                if slot.is_none() {
                    *slot = Some(now);
                    seen += 1;
                }
            }
        }
        // SAFETY: our own epoll descriptor.
        unsafe { libc::close(epfd) };
        let left = ends.iter().filter(|t| t.is_none()).count();
        if left > 0 {
            return Err(format!(
                "{left} of {count} sessions still open 10 s after the sever"
            ));
        }
        Ok(ends.into_iter().flatten().collect())
    });
    Ok(EofWatch { thread, count })
}

/// The end time of every watched stream (waits for the watcher thread).
pub async fn collect_eof(watch: EofWatch) -> Result<Vec<Instant>, String> {
    let count = watch.count;
    tokio::task::spawn_blocking(move || watch.thread.join())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|_| format!("the EOF watcher of {count} sessions panicked"))?
}

/// Sever figures from the trigger time and every session's end time.
pub fn sever_metrics(t0: Instant, mut ends: Vec<Instant>) -> Metrics {
    ends.sort_unstable();
    let ms = |t: Option<&Instant>| {
        t.map_or(f64::NAN, |t| {
            t.saturating_duration_since(t0).as_secs_f64() * 1e3
        })
    };
    metrics(&[
        ("last_eof_ms", ms(ends.last())),
        ("first_eof_ms", ms(ends.first())),
        ("median_eof_ms", ms(ends.get(ends.len() / 2))),
        ("sessions", ends.len() as f64),
    ])
}

/// Which backend a new session through `target` reaches (its name).
pub async fn who(target: SocketAddr) -> io::Result<String> {
    let mut back = [0u8; 2];
    echo_once(target, WHO, &mut back).await?;
    Ok(String::from_utf8_lossy(&back[..1]).into_owned())
}

/// New sessions through `target` until one reaches `want`, at most
/// `limit`: waits for a route (after start or failback).
pub async fn wait_route(target: SocketAddr, want: &Backend, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if who(target).await.is_ok_and(|name| name == want.name) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(format!(
        "no session reached backend {} within {limit:?}",
        want.name
    ))
}

/// How the preferred backend fails in a failover trial.
#[derive(Clone, Copy, Debug)]
pub enum Failure {
    /// The node dies: both its ports refuse connections.
    Refused,
    /// Its health endpoint answers 503 / `"healthy": false`; the data port lives.
    Health,
}

/// Breaks `a`, then starts a new session every 2 ms until one is served
/// by `b`; returns the time from the break until that session had its
/// answer, in ms. Attempts run concurrently, so a proxy that holds one
/// attempt in a retry loop is not charged for it while later attempts
/// get through. The caller heals `a`.
pub async fn failover_trial(
    target: SocketAddr,
    a: &Backend,
    b: &Backend,
    failure: Failure,
    limit: Duration,
) -> Result<f64, String> {
    let t0 = match failure {
        Failure::Refused => {
            a.down().await;
            Instant::now()
        }
        Failure::Health => {
            let t0 = Instant::now();
            a.set_failing(true);
            t0
        }
    };
    let mut attempts: JoinSet<Option<(Instant, String)>> = JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    let deadline = tokio::time::Instant::from_std(t0 + limit);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            _ = tick.tick() => {
                attempts.spawn(async move {
                    let r = tokio::time::timeout(Duration::from_secs(2), who(target)).await;
                    r.ok()?.ok().map(|name| (Instant::now(), name))
                });
            }
            Some(Ok(Some((done, name)))) = attempts.join_next(), if !attempts.is_empty() => {
                if name == b.name {
                    attempts.abort_all();
                    return Ok(done.saturating_duration_since(t0).as_secs_f64() * 1e3);
                }
            }
        }
    }
    attempts.abort_all();
    Err(format!(
        "no new session reached backend {} within {limit:?}",
        b.name
    ))
}

pub fn metrics(pairs: &[(&str, f64)]) -> Metrics {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}
