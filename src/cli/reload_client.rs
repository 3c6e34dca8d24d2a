//! `switchboard reload --config FILE`: asks the instance that FILE
//! configures to re-read it, through its API (`POST /v0/reload`), and
//! prints the outcome.
//!
//! The API address and credentials come from FILE itself (the running
//! instance re-reads the same file, so they are the ones in force unless
//! the file changed them, which a reload refuses). A listener on all
//! interfaces is reached on loopback. Over TLS, the configured certificate
//! chain is trusted in addition to the system roots, so a self-signed API
//! certificate works. Exit codes: 0 reloaded, 2 the file was refused
//! (every problem printed), 1 the instance could not be asked. Never
//! prints the password.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;
use switchboard_config::Config;

/// How long the whole request may take (a reload applies in milliseconds;
/// this bounds an instance that does not answer).
const TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the command.
pub(crate) async fn run(path: &Path) -> ExitCode {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(errors) => return super::config_errors(path, &errors.to_string()),
    };
    match request(&config).await {
        Ok((status, body)) => report(status, &body),
        Err(e) => super::fatal(format!(
            "cannot ask the instance at {} to reload: {e}",
            config.api.listen
        )),
    }
}

/// Sends the request; the status and the JSON body.
async fn request(config: &Config) -> Result<(u16, Value), String> {
    let mut client = reqwest::Client::builder().timeout(TIMEOUT);
    let scheme = match &config.api.tls {
        Some(tls) => {
            for der in tls.certificates() {
                let cert = reqwest::Certificate::from_der(der.as_ref())
                    .map_err(|e| format!("api certificate: {e}"))?;
                client = client.add_root_certificate(cert);
            }
            "https"
        }
        None => "http",
    };
    let client = client.build().map_err(|e| e.to_string())?;
    let url = format!("{scheme}://{}/v0/reload", reachable(config.api.listen));
    let response = client
        .post(url)
        .basic_auth(&config.api.username, Some(config.api.password.expose()))
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok((status, body))
}

/// A wildcard listen address is reached on loopback.
fn reachable(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), listen.port())
        }
        _ => listen,
    }
}

/// Prints the answer; the exit code.
fn report(status: u16, body: &Value) -> ExitCode {
    let text = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or("");
    match status {
        200 => {
            println!("reloaded: {}", text("summary"));
            println!("checksum: {}", text("checksum"));
            ExitCode::SUCCESS
        }
        400 => {
            eprintln!("switchboard: {}", text("error"));
            for problem in body
                .get("problems")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                eprintln!("  {}", problem.as_str().unwrap_or_default());
            }
            ExitCode::from(super::EXIT_CONFIG)
        }
        _ => super::fatal(format!(
            "the instance answered {status}: {}",
            if text("error").is_empty() {
                "no reason given"
            } else {
                text("error")
            }
        )),
    }
}
