//! The settings of the native `mysql` check kind (docs/configuration.md,
//! "The mysql check"): who the monitor logs in as, how its connection is
//! secured, and which Galera states still count as available.
//!
//! Owns reading and validating `check = { kind = "mysql", ... }`: the user,
//! exactly one password source (`password`, `password_file` or the
//! environment variable [`CHECK_PASSWORD_ENV`]), the TLS mode with its CA
//! and name, the optional port, and the two `available_when_*` switches.
//! Relative file paths are resolved against the config file's directory.
//! It must never put the password, or the content of a password file, into
//! a message: the password lives in a [`Secret`] from the moment it is read.

use super::native::{read_password, text};
use super::tls::{check_server_name, CaCerts};
use super::tree::{Field, Reader};
use super::{Check, Problems, Secret};

/// The environment variable that supplies the `mysql` check's password when
/// the check sets neither `password` nor `password_file`.
pub const CHECK_PASSWORD_ENV: &str = "SWITCHBOARD_CHECK_PASSWORD";

/// The check keys only `kind = "mysql"` uses (it also uses the shared
/// `kind`, `port`, `ca` and `server_name`).
pub(crate) const MYSQL_ONLY_KEYS: &[&str] = &[
    "user",
    "password",
    "password_file",
    "tls",
    "available_when_donor",
    "available_when_read_only",
];

/// A `mysql` check: a kept MySQL protocol connection to the backend that
/// reads its Galera and read-only state once per probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlCheck {
    /// The monitor user (it needs only `USAGE`).
    pub user: String,
    /// Its password; `Debug` and `Display` print `***`.
    pub password: Secret,
    /// Connect here instead of the backend's port.
    pub port: Option<u16>,
    /// How the connection is secured.
    pub tls: MysqlTls,
    /// Trust only these CAs (instead of the built-in roots) when the
    /// certificate is verified.
    pub ca: Option<CaCerts>,
    /// The name sent as SNI and verified (`verify-full` only); default: the
    /// backend's host.
    pub server_name: Option<String>,
    /// A Donor/Desynced node (state 2, or `wsrep_desync = ON`) stays healthy.
    pub available_when_donor: bool,
    /// A `read_only = ON` server stays healthy.
    pub available_when_read_only: bool,
}

/// `check.tls` of a `mysql` check, as MySQL clients spell `--ssl-mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MysqlTls {
    /// Plain TCP, never TLS.
    Disabled,
    /// TLS when the server offers it, plain TCP when it does not.
    #[default]
    Preferred,
    /// TLS or no connection; the certificate is not verified (unless a `ca`
    /// is given: then its chain is).
    Required,
    /// TLS with the certificate chain verified, not the name.
    VerifyCa,
    /// TLS with the chain and the name verified.
    VerifyFull,
}

impl MysqlTls {
    /// Every mode, as the configuration spells it.
    const ALL: [(&'static str, MysqlTls); 5] = [
        ("disabled", MysqlTls::Disabled),
        ("preferred", MysqlTls::Preferred),
        ("required", MysqlTls::Required),
        ("verify-ca", MysqlTls::VerifyCa),
        ("verify-full", MysqlTls::VerifyFull),
    ];

    /// The configuration's spelling (`"verify-full"`).
    pub fn as_str(self) -> &'static str {
        MysqlTls::ALL
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("preferred", |(s, _)| s)
    }

    fn parse(s: &str) -> Result<MysqlTls, String> {
        MysqlTls::ALL
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                let names: Vec<String> = MysqlTls::ALL
                    .iter()
                    .map(|(n, _)| format!("{n:?}"))
                    .collect();
                format!("must be one of {} (found {s:?})", names.join(", "))
            })
    }
}

/// Reads a `kind = "mysql"` check table (its `port` already read by the
/// caller); every problem goes to `p`.
pub(crate) fn read_mysql_check(
    c: &Reader<'_>,
    port: Field<u16>,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Problems,
) -> Option<Check> {
    if c.has("url") {
        p.push(c.path("url"), "only used by kind = \"galera\" or \"http\"");
    }
    let user = text(c, "user", p).required(&c.path("user"), "the monitor user", p);
    let password = read_password(c, env, CHECK_PASSWORD_ENV, p);
    let tls = c
        .str("tls", p)
        .check(&c.path("tls"), p, |s| MysqlTls::parse(&s))
        .or(MysqlTls::default());
    let ca = c
        .file_path("ca", p)
        .check(&c.path("ca"), p, |path| CaCerts::from_file(&path));
    if tls == MysqlTls::Disabled && !matches!(ca, Field::Missing) {
        p.push(c.path("ca"), "not used with tls = \"disabled\"");
    }
    let server_name = c
        .str("server_name", p)
        .check(&c.path("server_name"), p, check_server_name);
    if tls != MysqlTls::VerifyFull && !matches!(server_name, Field::Missing) {
        p.push(
            c.path("server_name"),
            "only used with tls = \"verify-full\" (the name verified)",
        );
    }
    let available_when_donor = c.bool("available_when_donor", p).or(false);
    let available_when_read_only = c.bool("available_when_read_only", p).or(false);
    Some(Check::Mysql(MysqlCheck {
        user: user?,
        password: password?,
        port: port.opt(),
        tls,
        ca: ca.opt(),
        server_name: server_name.opt(),
        available_when_donor,
        available_when_read_only,
    }))
}

/// Records a problem for every `mysql`-only key of a check of another kind.
pub(crate) fn deny_mysql_keys(c: &Reader<'_>, kind: &str, p: &mut Problems) {
    for key in MYSQL_ONLY_KEYS {
        if c.has(key) {
            p.push(
                c.path(key),
                format!("only used by kind = \"mysql\" (this check is {kind:?})"),
            );
        }
    }
}

#[cfg(test)]
#[path = "mysql_check_tests.rs"]
mod tests;
