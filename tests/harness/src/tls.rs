//! TLS for tests: [`TestCa`], a throw-away CA made fresh in each test with
//! one server certificate it signed (also as PEM files, for the API's
//! `tls_cert`/`tls_key`), [`TlsFront`], an `https://` front for a
//! [`super::HealthEndpoint`] (TLS terminated here, bytes relayed to the
//! plain endpoint), so every scripted health answer is also available over
//! TLS and the endpoint's probe counters still count, and
//! [`peer_certificate`], a raw TLS client that reports the certificate a
//! server presents.
//!
//! Only loopback; nothing is ever written outside the test's own temp dir.
//! The front's tasks end when it is dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A CA and one server certificate it signed.
pub struct TestCa {
    /// The CA certificate, PEM: what a check's `ca` file holds.
    pub ca_pem: String,
    /// The server certificate, PEM (an API's `tls_cert` file).
    pub cert_pem: String,
    /// The server certificate's private key, PKCS#8 PEM (`tls_key`).
    pub key_pem: String,
    /// The server certificate (DER).
    cert: CertificateDer<'static>,
    /// The server certificate's private key (PKCS#8 DER).
    key: Vec<u8>,
}

impl TestCa {
    /// A new CA whose server certificate is valid for `names` (DNS names,
    /// or IP literals, which become IP address names).
    pub fn new(names: &[&str]) -> TestCa {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A name of its own: a client that trusts another test CA must not
        // even find this one's issuer (UnknownIssuer, not BadSignature).
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
        ca_params.distinguished_name.push(
            DnType::CommonName,
            format!("switchboard test CA {} {serial}", std::process::id()),
        );
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("CA key");
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");

        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "switchboard test server");
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &ca).expect("server certificate");
        TestCa {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert: cert.der().clone(),
            key: key.serialize_der(),
        }
    }

    /// The server certificate (DER), to compare with what a server presents.
    pub fn cert_der(&self) -> &[u8] {
        self.cert.as_ref()
    }

    /// Writes the server certificate and its key as PEM files (replacing
    /// what they held: a renewed certificate).
    pub fn write_server_files(&self, cert: &Path, key: &Path) {
        std::fs::write(cert, &self.cert_pem).expect("write the certificate file");
        std::fs::write(key, &self.key_pem).expect("write the key file");
    }

    /// Writes the CA's PEM to `path` (a check's `ca` file).
    pub fn write_ca(&self, path: &Path) {
        std::fs::write(path, &self.ca_pem).expect("write the CA file");
    }

    /// A TLS server configuration presenting the server certificate.
    fn server_config(&self) -> rustls::ServerConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], key)
            .expect("server certificate and key")
    }
}

/// An `https://` front on 127.0.0.1 relaying each TLS connection's
/// plaintext to `upstream`.
pub struct TlsFront {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TlsFront {
    /// Starts serving `ca`'s server certificate in front of `upstream`.
    pub async fn start(ca: &TestCa, upstream: SocketAddr) -> TlsFront {
        let acceptor = TlsAcceptor::from(Arc::new(ca.server_config()));
        let listener =
            super::listen(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind TLS front");
        let addr = listener.local_addr().expect("TLS front address");
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A failed handshake (a client that rejects our
                    // certificate) just ends this connection.
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let Ok(mut plain) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsFront { addr, task }
    }

    /// The galera status URL through this front, naming `host` (a name the
    /// certificate may or may not be valid for) and this front's port.
    pub fn url(&self, host: &str) -> String {
        format!("https://{host}:{}/api/v1/status", self.addr.port())
    }
}

/// Connects to `addr` over TLS, trusting the CAs in `roots` (PEM) and
/// naming the server by its IP address, and returns the DER of the
/// certificate it presents; `Err` says why the handshake failed.
pub async fn peer_certificate(addr: SocketAddr, roots: &[&str]) -> Result<Vec<u8>, String> {
    let mut store = rustls::RootCertStore::empty();
    for pem in roots {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            store
                .add(cert.map_err(|e| format!("CA PEM: {e}"))?)
                .map_err(|e| format!("CA: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(store)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let name = ServerName::IpAddress(addr.ip().into());
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let (_, session) = tls.get_ref();
    session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|c| c.as_ref().to_vec())
        .ok_or_else(|| "no peer certificate".to_string())
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}
