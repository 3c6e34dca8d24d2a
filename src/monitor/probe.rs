//! `Probe`: one health check of one backend, turned into a verdict with a
//! human reason (docs/operations.md).
//!
//! A probe never takes longer than the monitor timeout, never reads more than
//! 64 KiB of body, and never panics on what a backend answers: every bad
//! answer is simply an unhealthy verdict that says why. A probe this process
//! could not even make (out of descriptors or memory) is no verdict at all:
//! our own exhaustion must not fail a healthy backend over.

use std::error::Error as _;
use std::io;
use std::time::Duration;

use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::time::Instant;

use switchboard_config::{BackendConfig, Check};
use switchboard_core::cluster::ProbeResult;

use crate::http::{status_reason, tls_reason, HttpProbe};
use crate::mysql::MysqlProbe;
use crate::reason::printable;

/// The largest health body we read.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// A prepared check for one backend.
pub(crate) struct Probe {
    check: Check,
    host: String,
    port: u16,
    timeout: Duration,
    /// The HTTP client of `galera` and `http` checks, with the configured
    /// timeouts and TLS trust; `Err` (why it could not be built) is our
    /// failure, reported as "no verdict" on every probe, never blamed on
    /// the backend.
    http: Result<HttpProbe, String>,
    /// The `mysql` check, with its kept connection (`mysql.rs`).
    mysql: Option<MysqlProbe>,
}

/// The part of a galera-agent status answer we use.
#[derive(Deserialize)]
struct GaleraStatus {
    healthy: bool,
    wsrep_local_index: Option<u64>,
    wsrep_local_state_comment: Option<String>,
}

impl Probe {
    pub(crate) fn new(backend: &BackendConfig, timeout: Duration) -> Probe {
        // Never `reqwest::Client::new()` as a fallback: it panics where the
        // builder fails, and it would drop the configured timeouts and CA.
        let http = match &backend.check {
            Check::Galera { url, tls } | Check::Http { url, tls } => {
                HttpProbe::new(url, tls, timeout)
            }
            _ => Err("not an HTTP check".into()),
        };
        let mysql = match &backend.check {
            Check::Mysql(check) => Some(MysqlProbe::new(backend, check, timeout)),
            _ => None,
        };
        Probe {
            check: backend.check.clone(),
            host: backend.host.clone(),
            port: backend.port,
            timeout,
            http,
            mysql,
        }
    }

    /// Runs the check once; always returns within the timeout. `Err` means
    /// no verdict: the probe could not be made for a reason of our own.
    pub(crate) async fn run(&self) -> Result<ProbeResult, String> {
        if let Some(mysql) = &self.mysql {
            return mysql.run().await;
        }
        let started = Instant::now();
        let verdict = tokio::time::timeout(self.timeout, self.check()).await;
        let latency = started.elapsed();
        let (ok, index, reason) = match verdict {
            Ok(Ok((index, reason))) => (true, index, reason),
            Ok(Err(Failure::Backend(reason))) => (false, None, reason),
            Ok(Err(Failure::Local(reason))) => return Err(reason),
            Err(_) => (false, None, self.timeout_reason()),
        };
        Ok(ProbeResult {
            ok,
            index,
            reason,
            latency,
            galera: None,
        })
    }

    fn timeout_reason(&self) -> String {
        format!("timeout after {}ms", self.timeout.as_millis())
    }

    async fn check(&self) -> Result<(Option<u64>, String), Failure> {
        match &self.check {
            // Run by `MysqlProbe` from `run`; never reaches here.
            Check::Mysql(_) => Err(Failure::Local("the mysql check has its own probe".into())),
            Check::Tcp { port } => {
                let port = port.unwrap_or(self.port);
                TcpStream::connect((self.host.as_str(), port))
                    .await
                    .map_err(|e| io_failure(&e))?;
                Ok((None, format!("TCP connect to port {port} succeeded")))
            }
            Check::Http { .. } => {
                let (status, body) = self.get(false).await?;
                if status == 200 {
                    Ok((None, "HTTP 200".into()))
                } else {
                    Err(status_reason(status, &body).into())
                }
            }
            Check::Galera { .. } => {
                let (status, body) = self.get(true).await?;
                galera_verdict(status, &body).map_err(Failure::Backend)
            }
        }
    }

    /// GETs the check's URL; reads a 200's body (capped) only when asked.
    /// A non-200's body is read for its first line only, up to the cap and
    /// within 90% of the timeout: one that hangs still leaves the status
    /// as the reason.
    async fn get(&self, read_body: bool) -> Result<(u16, Vec<u8>), Failure> {
        let started = Instant::now();
        let http = self.http.as_ref().map_err(|e| Failure::Local(e.clone()))?;
        let mut response = http
            .client
            .get(&http.url)
            .send()
            .await
            .map_err(|e| self.http_failure(&e))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        if status != 200 {
            let first_line = async {
                while let Ok(Some(chunk)) = response.chunk().await {
                    let room = BODY_LIMIT - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if body.len() == BODY_LIMIT || chunk.contains(&b'\n') {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout_at(started + self.timeout.mul_f32(0.9), first_line).await;
            return Ok((status, body));
        }
        if read_body {
            if response
                .content_length()
                .is_some_and(|n| n > BODY_LIMIT as u64)
            {
                return Err(Failure::Backend("body over 64 KiB".into()));
            }
            while let Some(chunk) = response.chunk().await.map_err(|e| self.http_failure(&e))? {
                if body.len() + chunk.len() > BODY_LIMIT {
                    return Err(Failure::Backend("body over 64 KiB".into()));
                }
                body.extend_from_slice(&chunk);
            }
        }
        Ok((status, body))
    }

    /// A short reason for a transport error: the innermost I/O error when
    /// there is one (`connection refused`), never the URL's credentials.
    fn http_failure(&self, e: &reqwest::Error) -> Failure {
        if e.is_timeout() {
            return Failure::Backend(self.timeout_reason());
        }
        let https = self.http.as_ref().is_ok_and(|h| h.https);
        if let Some(reason) = tls_reason(e, https) {
            return Failure::Backend(reason);
        }
        let mut source = e.source();
        while let Some(inner) = source {
            if let Some(io) = inner.downcast_ref::<io::Error>() {
                return io_failure(io);
            }
            source = inner.source();
        }
        let what = if e.is_connect() {
            "connect failed"
        } else if e.is_body() || e.is_decode() {
            "body could not be read"
        } else {
            "HTTP request failed"
        };
        Failure::Backend(match innermost_cause(e) {
            Some(why) => format!("{what}: {why}"),
            None => what.into(),
        })
    }
}

/// The innermost cause of a request error, which says what the backend
/// did ("invalid HTTP version parsed" for an answer that is not HTTP,
/// "connection closed before message completed", "too many redirects"),
/// cleaned of control characters and capped at
/// [`crate::http::REASON_BODY_BYTES`]. Never reqwest's own message, which
/// names the URL (it may carry credentials).
fn innermost_cause(e: &reqwest::Error) -> Option<String> {
    let mut cause = None;
    let mut next = e.source();
    // Bounded: error chains are a handful of links deep.
    for _ in 0..16 {
        let Some(inner) = next else { break };
        if inner.downcast_ref::<reqwest::Error>().is_none() {
            cause = Some(inner);
        }
        next = inner.source();
    }
    let text: String = cause?
        .to_string()
        .chars()
        .filter(|c| !c.is_control())
        .take(crate::http::REASON_BODY_BYTES)
        .collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The verdict of a `galera` check on one answer: `status` and `body` (at
/// most [`BODY_LIMIT`] bytes, as read) to `Ok((wsrep_local_index, reason))`
/// when healthy, `Err(reason)` when not. Public so that the fuzz targets
/// (`fuzz/`) run the very code a probe runs on whatever a backend sends;
/// it never panics, and what the backend wrote reaches the reason only as
/// one printable line of bounded length (`reason::printable`, the first
/// line of a non-200 body through `status_reason`).
pub fn galera_verdict(status: u16, body: &[u8]) -> Result<(Option<u64>, String), String> {
    if status != 200 {
        return Err(status_reason(status, body));
    }
    // serde's messages quote the offending input: clean them like any
    // backend-supplied text.
    let parsed: GaleraStatus = serde_json::from_slice(body)
        .map_err(|e| format!("unparsable galera status: {}", printable(&e.to_string())))?;
    let state = parsed
        .wsrep_local_state_comment
        .map(|c| format!(" ({})", printable(&c)))
        .unwrap_or_default();
    if parsed.healthy {
        let index = parsed
            .wsrep_local_index
            .map(|i| format!(", wsrep_local_index {i}"))
            .unwrap_or_default();
        Ok((
            parsed.wsrep_local_index,
            format!("galera healthy{state}{index}"),
        ))
    } else {
        Err(format!("healthy: false{state}"))
    }
}

/// Why a check did not find the backend healthy.
pub(crate) enum Failure {
    /// The backend answered badly, or not at all: an unhealthy verdict.
    Backend(String),
    /// This process could not make the probe: no verdict.
    Local(String),
}

impl From<String> for Failure {
    fn from(reason: String) -> Failure {
        Failure::Backend(reason)
    }
}

/// An I/O error as a failure: our own resource exhaustion (EMFILE, ENFILE,
/// ENOBUFS, ENOMEM) is `Local`, anything else is the backend's.
pub(crate) fn io_failure(e: &io::Error) -> Failure {
    let reason = match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset".into(),
        io::ErrorKind::TimedOut => "connect timed out".into(),
        _ => e.to_string(),
    };
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => Failure::Local(reason),
        _ => Failure::Backend(reason),
    }
}

#[cfg(test)]
#[path = "galera_verdict_tests.rs"]
mod galera_verdict_tests;
