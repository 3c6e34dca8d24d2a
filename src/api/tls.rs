//! The API's TLS identity while it runs (docs/api.md, "TLS"): the
//! certificate the API and springboard listeners present, and the
//! [`TlsHandle`] that swaps it for a re-read one without a restart.
//!
//! Owns the rustls server configuration (ring, TLS 1.2 and 1.3, HTTP/1.1
//! by ALPN, no client certificates) and its certificate resolver, which
//! holds the current key in an `ArcSwap`: every handshake loads it with
//! one atomic read, and a reload stores a new one for the next handshake
//! while open connections keep theirs. The files are read and checked by
//! `switchboard_config::ApiTls`; nothing here parses a PEM. It must never
//! log or return key material, and never switch a listener between TLS and
//! plain HTTP (that needs a new socket, so a restart).

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use switchboard_config::{ApiConfig, ApiTls};

/// Presents whatever certified key is current.
struct Resolver {
    current: ArcSwap<CertifiedKey>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The chain's length only: rustls requires `Debug`, and a key has no
/// business in a debug line.
impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Resolver({} certificate(s))",
            self.current.load().cert.len()
        )
    }
}

/// The running API's certificate, for the config reload: cheap to clone
/// (one `Arc`), usable from any thread.
#[derive(Clone, Debug)]
pub struct TlsHandle {
    /// `None`: the API listeners are plain HTTP.
    resolver: Option<Arc<Resolver>>,
}

impl TlsHandle {
    /// Re-reads the certificate and key files `api.tls` names and serves
    /// them from the next handshake on; open connections are not touched.
    /// On `Err` (a file that cannot be read, a bad PEM, a key that does not
    /// match, or TLS turned on or off, which needs a restart) the current
    /// certificate stays. The message names the key and the path, never the
    /// content. Plain HTTP before and after: `Ok`, nothing to do.
    pub fn reload(&self, api: &ApiConfig) -> Result<(), String> {
        match (&self.resolver, &api.tls) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(
                "api.tls_cert: the API listener was started as plain HTTP; serving it over TLS needs a restart"
                    .into(),
            ),
            (Some(_), None) => Err(
                "api.tls_cert: the API listener was started with TLS; serving it as plain HTTP needs a restart"
                    .into(),
            ),
            (Some(resolver), Some(tls)) => {
                let fresh = tls.reread()?;
                resolver.current.store(fresh.certified_key());
                Ok(())
            }
        }
    }

    /// Whether the API and springboard listeners speak TLS.
    pub fn enabled(&self) -> bool {
        self.resolver.is_some()
    }

    /// The DER of the certificate served now (the server's own), if TLS.
    pub fn current_certificate(&self) -> Option<Vec<u8>> {
        let resolver = self.resolver.as_ref()?;
        let key = resolver.current.load();
        key.cert.first().map(|c| c.as_ref().to_vec())
    }
}

/// The acceptor of the TLS listeners (None: plain HTTP) and the handle
/// that reloads its certificate.
pub(crate) fn setup(tls: Option<&ApiTls>) -> Result<(Option<TlsAcceptor>, TlsHandle), String> {
    let Some(tls) = tls else {
        return Ok((None, TlsHandle { resolver: None }));
    };
    let resolver = Arc::new(Resolver {
        current: ArcSwap::new(tls.certified_key()),
    });
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((
        Some(TlsAcceptor::from(Arc::new(config))),
        TlsHandle {
            resolver: Some(resolver),
        },
    ))
}
