//! `MysqlProbe`: the native `mysql` check (docs/configuration.md, "The
//! mysql check"), one kept MySQL protocol connection per backend.
//!
//! Owns the connection: opened with the configured TLS mode, kept between
//! probes, dropped after any failure and re-opened by the next probe. Every
//! probe reads everything it needs in one round trip (`mysql_verdict.rs`
//! decides); the whole probe, connect included, ends within the monitor
//! timeout. Failures become reasons: `access denied for user ...` (the
//! server's words, which never hold the password), `TLS handshake failed:
//! ...`, `connection refused`, `timeout after 500ms`. A probe this process
//! could not make (out of descriptors or memory) is no verdict. It must
//! never log or return the password: the connection options that hold it
//! are never printed.

use std::io;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{
    Conn, DriverError, Error, IoError, Opts, OptsBuilder, Row, ServerError, SslOpts,
};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::debug;

use switchboard_config::{BackendConfig, MysqlCheck, MysqlTls};
use switchboard_core::cluster::ProbeResult;

use crate::mysql_verdict::{
    verdict, Availability, ServerState, Verdict, PROBE_SQL, PROBE_SQL_PERFORMANCE_SCHEMA,
};
use crate::probe::{io_failure, Failure};

/// The name a chain-only verification (`verify-ca`) asks for. mysql_async
/// skips a name mismatch only when rustls' message contains
/// `NotValidForName`, which rustls 0.23's newer message
/// (`certificate not valid for name "..."`) no longer does, except through
/// the name it quotes: with this name every certificate fails the name
/// check with a message that contains the marker, and is then accepted on
/// its chain alone. Should either crate change, verification fails closed
/// (a TLS failure), never open. The name also goes out as SNI, which
/// MySQL servers ignore.
const CHAIN_ONLY_NAME: &str = "NotValidForName.invalid";

/// MySQL's "access denied" error.
const ER_ACCESS_DENIED: u16 = 1045;
/// The errors that say `information_schema` has no status tables here
/// (unknown table, no such table, `show_compatibility_56 = OFF`).
const NO_STATUS_TABLE: [u16; 3] = [1109, 1146, 3167];

/// A prepared `mysql` check of one backend.
pub(crate) struct MysqlProbe {
    /// Backend name, for debug lines.
    name: String,
    /// Where and how to connect, TLS as configured. Holds the password:
    /// never print it.
    opts: Opts,
    /// `tls = "preferred"`: the same without TLS, for a server that offers
    /// none.
    plain: Option<Opts>,
    /// Whether `opts` asks for TLS (failures may then be TLS failures).
    tls: bool,
    /// Which states still count as available.
    available: Availability,
    /// The monitor timeout: the bound of one whole probe.
    timeout: Duration,
    /// The kept connection. Probes of one backend never overlap, so the
    /// lock is never contended; it only gives `run` a `&self`.
    kept: Mutex<Option<Kept>>,
}

/// An open connection and the statement that works on it.
struct Kept {
    conn: Conn,
    sql: &'static str,
}

impl MysqlProbe {
    /// Prepares the check; connects on the first probe.
    pub(crate) fn new(backend: &BackendConfig, check: &MysqlCheck, timeout: Duration) -> Self {
        let port = check.port.unwrap_or(backend.port);
        let opts = |ssl: Option<SslOpts>| -> Opts {
            OptsBuilder::default()
                .ip_or_hostname(backend.host.clone())
                .tcp_port(port)
                .user(Some(check.user.clone()))
                .pass(Some(check.password.expose().to_string()))
                // Never switch to a unix socket behind our back, and read no
                // settings at connect: one round trip less, nothing to parse.
                .prefer_socket(false)
                .max_allowed_packet(Some(4 << 20))
                .wait_timeout(Some(28_800))
                .stmt_cache_size(0)
                .tcp_nodelay(true)
                .ssl_opts(ssl)
                .into()
        };
        let ssl = ssl_opts(check);
        MysqlProbe {
            name: backend.name.clone(),
            plain: (check.tls == MysqlTls::Preferred).then(|| opts(None)),
            tls: ssl.is_some(),
            opts: opts(ssl),
            available: Availability::of(check),
            timeout,
            kept: Mutex::new(None),
        }
    }

    /// Runs the check once; always returns within the timeout. `Err` means
    /// no verdict: the probe could not be made for a reason of our own.
    pub(crate) async fn run(&self) -> Result<ProbeResult, String> {
        let started = Instant::now();
        let mut kept = self.kept.lock().await;
        let outcome = tokio::time::timeout(self.timeout, self.probe(&mut kept)).await;
        let latency = started.elapsed();
        let v = match outcome {
            Ok(Ok(v)) => v,
            Ok(Err(Failure::Backend(reason))) => failed(reason),
            Ok(Err(Failure::Local(reason))) => return Err(reason),
            Err(_) => {
                // The connection (if any) went with the cancelled probe.
                *kept = None;
                failed(format!("timeout after {}ms", self.timeout.as_millis()))
            }
        };
        Ok(ProbeResult {
            ok: v.ok,
            index: v.index,
            reason: v.reason,
            latency,
            galera: v.galera,
        })
    }

    /// One probe on the kept connection (opened first when there is none);
    /// the connection is kept only when the probe read its rows.
    async fn probe(&self, kept: &mut Option<Kept>) -> Result<Verdict, Failure> {
        let mut k = match kept.take() {
            Some(k) => k,
            None => self.connect().await?,
        };
        let state = read(&mut k).await.map_err(|e| failure(&e, false))?;
        *kept = Some(k);
        Ok(verdict(&state, self.available))
    }

    /// Opens a connection; `preferred` falls back to plain TCP when the
    /// server offers no TLS.
    async fn connect(&self) -> Result<Kept, Failure> {
        let (conn, tls) = match Conn::new(self.opts.clone()).await {
            Ok(conn) => (conn, self.tls),
            Err(Error::Driver(DriverError::NoClientSslFlagFromServer)) if self.plain.is_some() => {
                let plain = self.plain.clone().unwrap_or_else(|| self.opts.clone());
                let conn = Conn::new(plain).await.map_err(|e| failure(&e, false))?;
                (conn, false)
            }
            Err(e) => return Err(failure(&e, self.tls)),
        };
        debug!(backend = %self.name, user = ?self.opts.user(), tls, "mysql check connected");
        Ok(Kept {
            conn,
            sql: PROBE_SQL,
        })
    }
}

/// An unhealthy verdict with no facts.
fn failed(reason: String) -> Verdict {
    Verdict {
        ok: false,
        index: None,
        reason,
        galera: None,
    }
}

/// The TLS settings of `check.tls`, `check.ca` and `check.server_name`.
fn ssl_opts(check: &MysqlCheck) -> Option<SslOpts> {
    let with_ca = |ssl: SslOpts| match &check.ca {
        Some(ca) => ssl
            .with_root_certs(
                ca.certificates()
                    .iter()
                    .map(|der| der.clone().into())
                    .collect(),
            )
            .with_disable_built_in_roots(true),
        None => ssl,
    };
    let ssl = SslOpts::default();
    match check.tls {
        MysqlTls::Disabled => None,
        // Encrypted but not verified, unless a CA was given: then its chain is.
        MysqlTls::Preferred | MysqlTls::Required if check.ca.is_none() => {
            Some(ssl.with_danger_accept_invalid_certs(true))
        }
        MysqlTls::Preferred | MysqlTls::Required | MysqlTls::VerifyCa => Some(
            with_ca(ssl)
                .with_danger_skip_domain_validation(true)
                .with_danger_tls_hostname_override(Some(CHAIN_ONLY_NAME)),
        ),
        MysqlTls::VerifyFull => {
            Some(with_ca(ssl).with_danger_tls_hostname_override(check.server_name.clone()))
        }
    }
}

/// Runs the probe statement (switching once, for good, to the
/// `performance_schema` form where `information_schema` has no status
/// tables) and collects its name/value rows.
async fn read(k: &mut Kept) -> Result<ServerState, Error> {
    let rows: Vec<Row> = match k.conn.query(k.sql).await {
        Ok(rows) => rows,
        Err(Error::Server(e)) if k.sql == PROBE_SQL && NO_STATUS_TABLE.contains(&e.code) => {
            k.sql = PROBE_SQL_PERFORMANCE_SCHEMA;
            k.conn.query(k.sql).await?
        }
        Err(e) => return Err(e),
    };
    Ok(ServerState::from_rows(rows.into_iter().filter_map(|row| {
        let name = row.get_opt::<String, usize>(0)?.ok()?;
        let value = row.get_opt::<String, usize>(1)?.ok()?;
        Some((name, value))
    })))
}

/// A client error as a failure. `tls_connect`: the error ended a connect
/// that asked for TLS, so a broken handshake is reported as TLS.
fn failure(e: &Error, tls_connect: bool) -> Failure {
    match e {
        Error::Server(e) => Failure::Backend(server_reason(e)),
        Error::Io(IoError::Tls(e)) => Failure::Backend(format!("TLS handshake failed: {e}")),
        Error::Io(IoError::Io(e)) => {
            if let Some(tls) = rustls_error(e) {
                return Failure::Backend(format!("TLS handshake failed: {tls}"));
            }
            if tls_connect
                && matches!(
                    e.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
                )
            {
                return Failure::Backend(format!("TLS handshake failed: {e}"));
            }
            io_failure(e)
        }
        Error::Driver(DriverError::NoClientSslFlagFromServer) => {
            Failure::Backend("TLS required but the server does not offer it".into())
        }
        Error::Driver(DriverError::ConnectionClosed) => {
            Failure::Backend("connection closed by the server".into())
        }
        Error::Driver(e) => Failure::Backend(format!("MySQL protocol error: {e}")),
        Error::Other(e) => Failure::Backend(format!("MySQL client error: {e}")),
        // Our options are wrong, not the backend.
        Error::Url(e) => Failure::Local(format!("invalid connection options: {e}")),
    }
}

/// The rustls error inside an I/O error (tokio-rustls reports handshake
/// failures that way).
fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

/// The server's own words: `access denied for user 'mon'@'10.0.0.5' (using
/// password: YES)` names the user, never the password.
fn server_reason(e: &ServerError) -> String {
    if e.code == ER_ACCESS_DENIED {
        let mut message = e.message.clone();
        if let Some(first) = message.get(..1) {
            let lower = first.to_ascii_lowercase();
            message.replace_range(..1, &lower);
        }
        return message;
    }
    format!("MySQL error {}: {}", e.code, e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: u16, message: &str) -> Error {
        Error::Server(ServerError {
            code,
            message: message.into(),
            state: "28000".into(),
        })
    }

    fn reason(f: Failure) -> (bool, String) {
        match f {
            Failure::Backend(r) => (true, r),
            Failure::Local(r) => (false, r),
        }
    }

    #[test]
    fn failures_read_as_reasons_and_ours_are_no_verdict() {
        assert_eq!(
            reason(failure(
                &server(
                    1045,
                    "Access denied for user 'mon'@'127.0.0.1' (using password: YES)"
                ),
                false
            )),
            (
                true,
                "access denied for user 'mon'@'127.0.0.1' (using password: YES)".into()
            )
        );
        assert_eq!(
            reason(failure(&server(1040, "Too many connections"), false)),
            (true, "MySQL error 1040: Too many connections".into())
        );
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            reason(failure(&Error::Io(IoError::Io(refused)), true)),
            (true, "connection refused".into())
        );
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert!(
            !reason(failure(&Error::Io(IoError::Io(emfile)), false)).0,
            "EMFILE is ours"
        );
        let cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let (backend, r) = reason(failure(
            &Error::Io(IoError::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                cert,
            ))),
            false,
        ));
        assert!(backend && r.starts_with("TLS handshake failed: "), "{r}");
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        let (_, r) = reason(failure(&Error::Io(IoError::Io(eof)), true));
        assert!(r.starts_with("TLS handshake failed"), "{r}");
        assert_eq!(
            reason(failure(
                &Error::Driver(DriverError::NoClientSslFlagFromServer),
                true
            )),
            (true, "TLS required but the server does not offer it".into())
        );
    }
}
