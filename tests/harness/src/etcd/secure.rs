//! The secure side of the [`Etcd`] fixture: a client port served over TLS
//! with client certificates ([`Etcd::start_tls`]: `--cert-file`,
//! `--key-file`, `--trusted-ca-file`, `--client-cert-auth`), and etcd's
//! authentication turned on with a user that may read and write one
//! prefix only ([`Etcd::enable_auth`]), for the tests of `coordination.ca`,
//! `cert`, `key`, `user` and `password` (`tests/coordination/secure_etcd.rs`);
//! [`Etcd::start_tls_with_token_ttl`] shortens the life of a login token
//! (`--auth-token-ttl`) so a test can outlive one.
//!
//! [`EtcdTls`] is a throw-away CA made for one etcd, with the server
//! certificate it signed (for `127.0.0.1` and `localhost`) and one client
//! certificate, all written as PEM files into the etcd's own [`TempDir`].
//! Authentication is set up through etcd's v3 JSON gateway (etcd 3.4
//! paths), so the harness needs no gRPC client. Nothing here is ever
//! written outside that directory; no password is printed (errors name
//! the gateway path and etcd's answer, which carries none).

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use serde_json::{json, Value};

use super::{Etcd, TempDir};

/// How long one gateway call of the auth setup may take (adding a user
/// hashes its password with bcrypt: slow on a busy machine).
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// The password of etcd's `root` user (which `auth enable` requires); the
/// tests never log in as root.
const ROOT_PASSWORD: &str = "root-test-pw";
/// The role granting the switchboard user its prefix.
const ROLE: &str = "switchboard-prefix";

/// A CA, the etcd server's certificate and a client certificate it signed,
/// as PEM files in the etcd's directory.
pub struct EtcdTls {
    /// The CA certificate: `coordination.ca`.
    pub ca: PathBuf,
    /// The client certificate: `coordination.cert`.
    pub client_cert: PathBuf,
    /// The client certificate's private key: `coordination.key`.
    pub client_key: PathBuf,
    /// The server certificate (`--cert-file`).
    server_cert: PathBuf,
    /// Its private key (`--key-file`).
    server_key: PathBuf,
    /// The CA's PEM, which the harness's own clients trust.
    ca_pem: String,
    /// The client certificate and its key in one PEM, the harness's own
    /// client identity (etcd refuses a client without one).
    identity_pem: String,
    /// etcd's `--auth-token-ttl` in seconds (`None`: etcd's 300 s): how
    /// long a login token lives without a request that uses it.
    token_ttl: Option<u64>,
}

impl EtcdTls {
    /// A fresh CA with a server certificate for `127.0.0.1` and
    /// `localhost` (usable as a client certificate too: etcd's gateway
    /// dials its own port with it) and a client certificate, written into
    /// `dir`.
    fn write(dir: &TempDir, token_ttl: Option<u64>) -> EtcdTls {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(
            DnType::CommonName,
            format!("switchboard etcd test CA {}", std::process::id()),
        );
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let leaf = |names: &[&str], cn: &str, usages: Vec<ExtendedKeyUsagePurpose>| {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            let mut params = CertificateParams::new(names).expect("certificate params");
            params.distinguished_name.push(DnType::CommonName, cn);
            params.extended_key_usages = usages;
            let key = KeyPair::generate().expect("a key");
            let cert = params.signed_by(&key, &ca).expect("a certificate");
            (cert.pem(), key.serialize_pem())
        };
        use ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
        let (server_pem, server_key_pem) = leaf(
            &["127.0.0.1", "localhost"],
            "switchboard test etcd",
            vec![ServerAuth, ClientAuth],
        );
        // Its common name is no etcd user: with auth on, etcd takes a
        // certificate's CN as the user of a request that carries no token.
        let (client_pem, client_key_pem) = leaf(&[], "switchboard test client", vec![ClientAuth]);
        let tls = EtcdTls {
            ca: dir.join("ca.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            ca_pem: ca.pem(),
            identity_pem: format!("{client_pem}{client_key_pem}"),
            token_ttl,
        };
        for (path, pem) in [
            (&tls.ca, tls.ca_pem.as_str()),
            (&tls.client_cert, &client_pem),
            (&tls.client_key, &client_key_pem),
            (&tls.server_cert, &server_pem),
            (&tls.server_key, &server_key_pem),
        ] {
            std::fs::write(path, pem).expect("write a certificate file");
        }
        tls
    }

    /// The server's TLS arguments for its client port (and the token
    /// TTL, when set).
    pub(super) fn server_args(&self) -> Vec<String> {
        let path = |p: &PathBuf| p.display().to_string();
        let ttl = self.token_ttl.iter();
        let ttl = ttl.flat_map(|s| ["--auth-token-ttl".to_string(), s.to_string()]);
        vec![
            "--cert-file".into(),
            path(&self.server_cert),
            "--key-file".into(),
            path(&self.server_key),
            "--trusted-ca-file".into(),
            path(&self.ca),
            "--client-cert-auth".into(),
        ]
        .into_iter()
        .chain(ttl)
        .collect()
    }

    /// An HTTPS client trusting the CA and presenting the client
    /// certificate, with `timeout` per request.
    pub(super) fn http_client(&self, timeout: Duration) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("the etcd CA");
        let identity =
            reqwest::Identity::from_pem(self.identity_pem.as_bytes()).expect("the client identity");
        reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(0)
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .identity(identity)
            .build()
            .expect("an HTTPS client")
    }

    /// The `ca`, `cert` and `key` lines of a `[coordination]` table.
    pub fn coordination_toml(&self) -> String {
        format!(
            "ca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"",
            self.ca.display(),
            self.client_cert.display(),
            self.client_key.display()
        )
    }
}

impl Etcd {
    /// [`Etcd::start`] with TLS on the client port: only clients with a
    /// certificate of this member's own CA are served
    /// (`--client-cert-auth`); [`Etcd::endpoint`] is `https://...` and
    /// [`Etcd::tls`] has the files a client needs.
    pub async fn start_tls() -> Etcd {
        Etcd::start_secure(None).await
    }

    /// [`Etcd::start_tls`] whose login tokens (once [`Etcd::enable_auth`]
    /// turned auth on) expire after `secs` without a request that uses
    /// them (`--auth-token-ttl`), so a test can outlive one.
    pub async fn start_tls_with_token_ttl(secs: u64) -> Etcd {
        Etcd::start_secure(Some(secs)).await
    }

    /// A TLS member with this `--auth-token-ttl` (etcd's default: `None`).
    async fn start_secure(token_ttl: Option<u64>) -> Etcd {
        let dir = TempDir::new("etcd-tls");
        let tls = EtcdTls::write(&dir, token_ttl);
        Etcd::launch(dir, Some(tls)).await
    }

    /// The CA and client certificate files when the client port speaks
    /// TLS.
    pub fn tls(&self) -> Option<&EtcdTls> {
        self.tls.as_ref()
    }

    /// Turns etcd's authentication on: a `root` user (which etcd requires),
    /// a role that may read and write every key under `prefix` (views,
    /// decision, election and operator keys all live there), granted to
    /// `user` with `password`. Then checks that a read which passed before
    /// is refused now, and (plain `http://` only) that `user` can log in
    /// and read its prefix with the token. `Err` says which step failed.
    ///
    /// With TLS the login is not checked here: once auth is on, etcd 3.4
    /// refuses every gateway request that came in with a client
    /// certificate and no token ("CommonName of client sending a request
    /// against gateway will be ignored..."), a login included. gRPC
    /// clients (switchboard) are not affected.
    pub async fn enable_auth(
        &self,
        prefix: &str,
        user: &str,
        password: &str,
    ) -> Result<(), String> {
        let mut end = prefix.as_bytes().to_vec();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let steps = [
            (
                "auth/user/add",
                json!({"name": "root", "password": ROOT_PASSWORD}),
            ),
            ("auth/user/grant", json!({"user": "root", "role": "root"})),
            ("auth/role/add", json!({"name": ROLE})),
            (
                "auth/role/grant",
                json!({"name": ROLE, "perm": {
                    "permType": "READWRITE",
                    "key": b64(prefix.as_bytes()),
                    "range_end": b64(&end),
                }}),
            ),
            ("auth/user/add", json!({"name": user, "password": password})),
            ("auth/user/grant", json!({"user": user, "role": ROLE})),
        ];
        for (path, body) in steps {
            self.auth_call(path, body, None).await?;
        }
        let inside = json!({"key": b64(format!("{prefix}/x").as_bytes())});
        self.auth_call("kv/range", inside.clone(), None)
            .await
            .map_err(|e| format!("before auth enable: {e}"))?;
        self.auth_call("auth/enable", json!({}), None).await?;
        if let Ok(answer) = self.auth_call("kv/range", inside.clone(), None).await {
            return Err(format!(
                "auth is not on: a read without a token got {answer}"
            ));
        }
        if self.tls.is_some() {
            return Ok(());
        }
        let login = json!({"name": user, "password": password});
        let token = self.auth_call("auth/authenticate", login, None).await?["token"]
            .as_str()
            .map(str::to_string)
            .ok_or("auth/authenticate: no token in the answer")?;
        self.auth_call("kv/range", inside, Some(&token))
            .await
            .map(|_| ())
            .map_err(|e| format!("{user} cannot read its own prefix: {e}"))
    }

    /// One gateway call (`POST <endpoint>/v3/<path>`) with the fixture's
    /// own client (its certificate when TLS is on) and `token` when given.
    async fn auth_call(
        &self,
        path: &str,
        body: Value,
        token: Option<&str>,
    ) -> Result<Value, String> {
        let http = match &self.tls {
            Some(tls) => tls.http_client(AUTH_TIMEOUT),
            None => reqwest::Client::builder()
                .timeout(AUTH_TIMEOUT)
                .build()
                .map_err(|e| e.to_string())?,
        };
        let mut request = http
            .post(format!("{}/v3/{path}", self.endpoint()))
            .body(body.to_string());
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        let response = request.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| format!("{path}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{path}: {status}: {text}"));
        }
        let answer: Value =
            serde_json::from_str(&text).map_err(|e| format!("{path}: {e}: {text}"))?;
        // The gateway answers some errors with 200 and an `error` field.
        if answer.get("error").is_some() || answer.get("code").is_some_and(|c| c != 0) {
            return Err(format!("{path}: {text}"));
        }
        Ok(answer)
    }
}
