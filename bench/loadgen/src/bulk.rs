//! Bulk throughput: `iperf3` (client here, server as the backend), or, when
//! iperf3 is not installed (the CI smoke run), a built-in stand-in that
//! streams bytes through the echo backend and reads them back.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::workloads::{metrics, Metrics};

/// `iperf3 -c` through `target` with `streams` parallel streams for
/// `seconds`; the figure is what the server received.
pub async fn iperf3(
    iperf3: &Path,
    target: SocketAddr,
    streams: u32,
    seconds: u32,
) -> Result<Metrics, String> {
    let mut cmd = tokio::process::Command::new(iperf3);
    cmd.args([
        "-c",
        &target.ip().to_string(),
        "-p",
        &target.port().to_string(),
    ])
    .args(["-P", &streams.to_string(), "-t", &seconds.to_string()])
    .args(["-J", "--connect-timeout", "3000"])
    .stdin(std::process::Stdio::null())
    .kill_on_drop(true);
    let limit = Duration::from_secs(seconds as u64 + 20);
    let out = tokio::time::timeout(limit, cmd.output())
        .await
        .map_err(|_| format!("iperf3 did not finish within {limit:?}"))?
        .map_err(|e| format!("cannot run iperf3: {e}"))?;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("iperf3 printed no JSON ({e}): {}", tail(&out)))?;
    if let Some(err) = report.get("error") {
        return Err(format!("iperf3: {err}"));
    }
    let end = &report["end"];
    let bps = |v: &serde_json::Value| v["bits_per_second"].as_f64();
    let received = bps(&end["sum_received"])
        .ok_or_else(|| format!("iperf3: no sum_received: {}", tail(&out)))?;
    let sent = bps(&end["sum_sent"]).unwrap_or(f64::NAN);
    let retransmits = end["sum_sent"]["retransmits"].as_f64().unwrap_or(0.0);
    Ok(metrics(&[
        ("gbit_per_s", received / 1e9),
        ("sent_gbit_per_s", sent / 1e9),
        ("retransmits", retransmits),
    ]))
}

fn tail(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    text.chars()
        .rev()
        .take(300)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

/// `streams` connections through the echo backend, each writing `bytes`
/// (then half-closing) while reading everything back until EOF.
pub async fn builtin(target: SocketAddr, streams: usize, bytes: u64) -> Result<Metrics, String> {
    let started = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..streams {
        set.spawn(async move {
            let s = TcpStream::connect(target).await?;
            s.set_nodelay(true)?;
            let (mut r, mut w) = s.into_split();
            let writer = tokio::spawn(async move {
                let chunk = vec![b'b'; 64 * 1024];
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(chunk.len() as u64) as usize;
                    w.write_all(&chunk[..n]).await?;
                    left -= n as u64;
                }
                w.shutdown().await
            });
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = 0u64;
            loop {
                let n = r.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                got += n as u64;
            }
            writer.await.map_err(std::io::Error::other)??;
            Ok::<u64, std::io::Error>(got)
        });
    }
    let mut total = 0u64;
    let all = async {
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(n)) => total += n,
                Ok(Err(e)) => return Err(format!("bulk stream: {e}")),
                Err(e) => return Err(format!("bulk task: {e}")),
            }
        }
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .map_err(|_| "bulk: not done within 60 s".to_string())??;
    let expected = bytes * streams as u64;
    if total != expected {
        return Err(format!("bulk: got {total} bytes back, sent {expected}"));
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(metrics(&[("gbit_per_s", total as f64 * 8.0 / secs / 1e9)]))
}
