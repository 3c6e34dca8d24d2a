//! `[coordination]` of the native format: whether this instance decides
//! alone (`kind = "none"`) or agrees with the other instances through etcd
//! (SPEC 13, docs/configuration.md).
//!
//! Owns the section's types, defaults and every rule that makes its values
//! ones the coordination code can honour: etcd client URLs of one scheme
//! with nothing but a host and a port, a prefix and an instance name etcd
//! keys can carry, a lease in whole seconds (etcd's unit), TLS files that
//! exist, a password only with a user, and no key that the chosen kind
//! would ignore. This file holds the types and the key list; reading is in
//! `coordination_read.rs`, endpoint syntax in `coordination_endpoints.rs`.
//! None of them connects to etcd or parses the TLS files (the coordination
//! code loads them); none may put the password, or an endpoint (which
//! could carry credentials), into a message.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::Secret;

/// The environment variable that supplies the etcd password when
/// `coordination.user` is set and the file sets neither
/// `coordination.password` nor `coordination.password_file`.
pub const ETCD_PASSWORD_ENV: &str = "SWITCHBOARD_ETCD_PASSWORD";

/// `coordination.prefix` when the file sets none.
pub const DEFAULT_ETCD_PREFIX: &str = "/switchboard";

/// `coordination.lease_ttl` when the file sets none: a dead instance's view
/// and leadership disappear within 3 s, well above etcd's minimum.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(3);

/// The keys of `[coordination]`.
pub(crate) const COORDINATION_KEYS: &[&str] = &[
    "kind",
    "endpoints",
    "prefix",
    "instance",
    "lease_ttl",
    "combine",
    "on_coordinator_lost",
    "ca",
    "cert",
    "key",
    "user",
    "password",
    "password_file",
];

/// `[coordination]`: how this instance agrees with the others on the active
/// backend. The Go switchboard format always gets the default (alone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoordinationConfig {
    /// Alone, or through etcd with its settings.
    pub kind: CoordinationKind,
}

impl CoordinationConfig {
    /// The etcd settings, when `kind = "etcd"`.
    pub fn etcd(&self) -> Option<&EtcdCoordination> {
        match &self.kind {
            CoordinationKind::None => None,
            CoordinationKind::Etcd(etcd) => Some(etcd),
        }
    }
}

/// `coordination.kind`.
// One per configuration, read at start: its size does not matter, and the
// variant is matched on directly by the coordination code.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CoordinationKind {
    /// `"none"`: this instance probes, elects and routes alone; operator
    /// state lives in `state.file`.
    #[default]
    None,
    /// `"etcd"`: views, the leader's decision and operator state live in
    /// etcd (v3 API), shared by every instance with the same prefix.
    Etcd(EtcdCoordination),
}

/// The settings of `kind = "etcd"`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdCoordination {
    /// etcd client URLs, each `http://host:port` or `https://host:port`, all
    /// of one scheme; at least one.
    pub endpoints: Vec<String>,
    /// The key prefix of this database cluster (one prefix per cluster):
    /// starts with `/`, no trailing `/`, no `//`, printable ASCII.
    pub prefix: String,
    /// This instance's name, unique among the instances of a prefix:
    /// 1..=63 characters of `[A-Za-z0-9._-]`; the host name by default.
    pub instance: String,
    /// The lease that carries this instance's view and leadership: whole
    /// seconds, 2 s..=60 s.
    pub lease_ttl: Duration,
    /// How the live views of a backend's health combine.
    pub combine: Combine,
    /// What routing does while etcd is unreachable.
    pub on_coordinator_lost: OnCoordinatorLost,
    /// With `https://` endpoints (and only then): the CA and client
    /// certificate files.
    pub tls: Option<EtcdTls>,
    /// etcd authentication user; with it, `password` is always `Some`.
    pub user: Option<String>,
    /// The user's password; `Debug` and `Display` print `***`.
    pub password: Option<Secret>,
}

/// TLS to etcd: present exactly when the endpoints are `https://`. The
/// files are checked to exist and be readable, not parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdTls {
    /// `coordination.ca`: trust only these CAs (PEM); `None`: the system's
    /// root certificates.
    pub ca: Option<PathBuf>,
    /// `coordination.cert` and `key`: a client certificate for etcd's
    /// `--client-cert-auth`; `None`: no client certificate.
    pub client: Option<EtcdClientCert>,
}

/// A client certificate and its private key (both PEM files; `cert` may
/// hold intermediates after the client's own certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdClientCert {
    /// `coordination.cert`.
    pub cert: PathBuf,
    /// `coordination.key`; its content is never read here.
    pub key: PathBuf,
}

/// `coordination.combine`: how the leader turns every live instance's view
/// of one backend into the health the election runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Combine {
    /// Healthy when more than half of the live views say so.
    #[default]
    Majority,
    /// Healthy when at least one live view says so.
    Any,
    /// Healthy only when every live view says so.
    All,
}

impl Combine {
    /// Every value, as the configuration spells it.
    pub(crate) const ALL: [(&'static str, Combine); 3] = [
        ("majority", Combine::Majority),
        ("any", Combine::Any),
        ("all", Combine::All),
    ];

    /// The configuration's spelling (`"majority"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Combine::Majority => "majority",
            Combine::Any => "any",
            Combine::All => "all",
        }
    }
}

impl fmt::Display for Combine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `coordination.on_coordinator_lost`: routing while etcd has been
/// unreachable for longer than the lease.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnCoordinatorLost {
    /// Keep routing to the last decision while that backend stays healthy
    /// in the local view; fail over nowhere alone.
    #[default]
    Hold,
    /// Stop routing (accept and close) until etcd answers again.
    Refuse,
}

impl OnCoordinatorLost {
    /// Every value, as the configuration spells it.
    pub(crate) const ALL: [(&'static str, OnCoordinatorLost); 2] = [
        ("hold", OnCoordinatorLost::Hold),
        ("refuse", OnCoordinatorLost::Refuse),
    ];

    /// The configuration's spelling (`"hold"`).
    pub fn as_str(self) -> &'static str {
        match self {
            OnCoordinatorLost::Hold => "hold",
            OnCoordinatorLost::Refuse => "refuse",
        }
    }
}

impl fmt::Display for OnCoordinatorLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
