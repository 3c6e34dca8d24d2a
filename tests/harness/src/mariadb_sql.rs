//! SQL against a [`MariaDb`] over TCP on loopback with `mysql_async`:
//! connections as any account, statements as `root`, server variables and
//! status. Every call has a deadline, so a paused server makes a call fail
//! (the `try_` forms) or panic with the server's error log, never hang.
//!
//! It only talks SQL; starting and signalling the server is
//! [`super::mariadb`]'s.

use std::collections::HashMap;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row, Value};

use super::MariaDb;

/// How long one connect or one statement may take.
pub const SQL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a readiness probe's connect may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A row as text (the text protocol's values; `None` is NULL).
pub type TextRow = Vec<Option<String>>;

impl MariaDb {
    /// Connection options for `user` (TCP only: never the unix socket,
    /// which `mysql_async` would otherwise switch to on loopback).
    pub fn opts(&self, user: &str, password: Option<&str>, db: Option<&str>) -> Opts {
        OptsBuilder::default()
            .ip_or_hostname(self.host())
            .tcp_port(self.port())
            .user(Some(user))
            .pass(password)
            .db_name(db)
            .prefer_socket(false)
            .into()
    }

    /// Connects as `user` within [`SQL_TIMEOUT`].
    pub async fn connect(
        &self,
        user: &str,
        password: Option<&str>,
        db: Option<&str>,
    ) -> Result<Conn, String> {
        connect_within(self.opts(user, password, db), SQL_TIMEOUT).await
    }

    /// A root connection, or why not (within a short deadline).
    pub(crate) async fn try_root(&self) -> Result<Conn, String> {
        connect_within(self.opts("root", None, None), PROBE_TIMEOUT).await
    }

    /// A root connection; panics with the error log when there is none.
    pub async fn root(&self) -> Conn {
        match self.connect("root", None, None).await {
            Ok(conn) => conn,
            Err(e) => panic!("{}", self.failure(&format!("root login: {e}"))),
        }
    }

    /// Runs `sql` as root and returns its rows as text, or why not.
    pub async fn try_query(&self, sql: &str) -> Result<Vec<TextRow>, String> {
        let mut conn = connect_within(self.opts("root", None, None), SQL_TIMEOUT).await?;
        let rows = tokio::time::timeout(SQL_TIMEOUT, conn.query::<Row, _>(sql)).await;
        let rows = match rows {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => return Err(format!("{sql}: {e}")),
            Err(_) => return Err(format!("{sql}: no answer within {SQL_TIMEOUT:?}")),
        };
        let _ = tokio::time::timeout(PROBE_TIMEOUT, conn.disconnect()).await;
        Ok(rows.into_iter().map(text_row).collect())
    }

    /// Runs `sql` as root and returns its rows as text; panics (with the
    /// error log) on failure.
    pub async fn query(&self, sql: &str) -> Vec<TextRow> {
        match self.try_query(sql).await {
            Ok(rows) => rows,
            Err(e) => panic!("{}", self.failure(&e)),
        }
    }

    /// Runs `sql` as root, ignoring any rows; panics on failure.
    pub async fn exec(&self, sql: &str) {
        let _ = self.query(sql).await;
    }

    /// `SHOW GLOBAL STATUS LIKE 'pattern'` as name → value.
    pub async fn status(&self, pattern: &str) -> Result<HashMap<String, String>, String> {
        let rows = self
            .try_query(&format!("SHOW GLOBAL STATUS LIKE '{pattern}'"))
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|mut r| {
                let value = r.pop()??;
                Some((r.pop()??, value))
            })
            .collect())
    }

    /// `SET GLOBAL read_only = ON|OFF`.
    pub async fn set_read_only(&self, on: bool) {
        self.exec(&format!("SET GLOBAL read_only = {}", on_off(on)))
            .await;
    }
}

/// `ON` / `OFF`.
pub(crate) fn on_off(on: bool) -> &'static str {
    if on {
        "ON"
    } else {
        "OFF"
    }
}

/// Connects with `opts` within `timeout`.
async fn connect_within(opts: Opts, timeout: Duration) -> Result<Conn, String> {
    match tokio::time::timeout(timeout, Conn::new(opts)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no connection within {timeout:?}")),
    }
}

/// One row's values as text.
fn text_row(row: Row) -> TextRow {
    (0..row.len())
        .map(|i| match row.as_ref(i)? {
            Value::NULL => None,
            Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            Value::Int(i) => Some(i.to_string()),
            Value::UInt(u) => Some(u.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Double(d) => Some(d.to_string()),
            other => Some(other.as_sql(false)),
        })
        .collect()
}
