//! The API listener's own TLS identity: `[api] tls_cert` and `tls_key`
//! (PEM files) in the native format, pxc-release's inline
//! `API.TLS.{Certificate, PrivateKey}` in the Go format
//! (docs/configuration.md).
//!
//! Owns reading, parsing and checking the certificate chain and its private
//! key at configuration time, so that a file that cannot be read, a PEM
//! without a certificate or a key, a key rustls cannot use and a key that
//! does not match the certificate are configuration errors naming the key
//! and the path (exit 2), never a failed handshake later. The API re-reads
//! the same files on reload through [`ApiTls::reread`]. It must never put
//! key material (or any content of a file) into a message or a `Debug`
//! output: every message is a fixed text with the path.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::tree::{Field, Reader};
use super::Problems;

/// The native keys, as problems name them.
const CERT_KEY: &str = "tls_cert";
const KEY_KEY: &str = "tls_key";

/// A certificate chain and its private key, checked to belong together,
/// with where they came from (to read them again on reload).
#[derive(Clone)]
pub struct ApiTls {
    source: Source,
    /// What the API's TLS listener presents.
    key: Arc<CertifiedKey>,
}

/// Where the PEMs came from, with the config paths that name them.
#[derive(Clone, PartialEq, Eq)]
enum Source {
    /// Two files (possibly the same one), re-read on reload.
    Files {
        cert: PathBuf,
        key: PathBuf,
        cert_field: String,
        key_field: String,
    },
    /// Inline PEM text of the config file (pxc's `API.TLS`): a reload
    /// re-reads the config file itself, which parses them again.
    Inline,
}

/// Which of the two a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Cert,
    Key,
}

impl ApiTls {
    /// Reads and checks a certificate file (its first certificate is the
    /// server's, the rest its chain) and a private key file (PKCS#8,
    /// PKCS#1 or SEC1 PEM; the same file as the certificate is fine).
    /// `cert_field` and `key_field` name the keys in messages.
    pub fn from_files(
        cert: &Path,
        key: &Path,
        cert_field: &str,
        key_field: &str,
    ) -> Result<ApiTls, String> {
        let source = Source::Files {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            cert_field: cert_field.to_string(),
            key_field: key_field.to_string(),
        };
        load_files(cert, key)
            .map(|key| ApiTls {
                source,
                key: Arc::new(key),
            })
            .map_err(|(part, e)| match part {
                Part::Cert => format!("{cert_field}: {e}"),
                Part::Key => format!("{key_field}: {e}"),
            })
    }

    /// The certified key the API's TLS listener presents.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        self.key.clone()
    }

    /// The same files read and checked again (a renewed certificate); an
    /// inline identity is returned as it is. The message names the key and
    /// the path, never the content.
    pub fn reread(&self) -> Result<ApiTls, String> {
        match &self.source {
            Source::Files {
                cert,
                key,
                cert_field,
                key_field,
            } => ApiTls::from_files(cert, key, cert_field, key_field),
            Source::Inline => Ok(self.clone()),
        }
    }

    /// The certificate and key files, when the identity came from files.
    pub fn files(&self) -> Option<(&Path, &Path)> {
        match &self.source {
            Source::Files { cert, key, .. } => Some((cert, key)),
            Source::Inline => None,
        }
    }

    /// The certificate chain (DER), the server's own first.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.key.cert
    }
}

/// Same source and same certificates (the key was checked to match them).
impl PartialEq for ApiTls {
    fn eq(&self, other: &ApiTls) -> bool {
        self.source == other.source && self.key.cert == other.key.cert
    }
}

impl Eq for ApiTls {}

/// The files and the chain's length: never the key.
impl fmt::Debug for ApiTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Files { cert, key, .. } => write!(
                f,
                "ApiTls(cert {}, key {}, {} certificate(s))",
                cert.display(),
                key.display(),
                self.key.cert.len()
            ),
            Source::Inline => write!(f, "ApiTls(inline, {} certificate(s))", self.key.cert.len()),
        }
    }
}

/// Reads both files; the error says which one is wrong.
fn load_files(cert: &Path, key: &Path) -> Result<CertifiedKey, (Part, String)> {
    let read = |path: &Path, part| {
        std::fs::read(path).map_err(|e| {
            (
                part,
                format!("cannot read {}: {}", path.display(), e.kind()),
            )
        })
    };
    let cert_pem = read(cert, Part::Cert)?;
    let key_pem = read(key, Part::Key)?;
    let cert_origin = cert.display().to_string();
    let key_origin = key.display().to_string();
    certified_key(&cert_pem, &key_pem, &cert_origin).map_err(|(part, e)| {
        let origin = match part {
            Part::Cert => &cert_origin,
            Part::Key => &key_origin,
        };
        (part, format!("{origin}: {e}"))
    })
}

/// Parses a PEM certificate chain and a PEM private key and checks that
/// the key is the certificate's. Messages are fixed texts (no byte of
/// either PEM); `cert_origin` names the certificate in the mismatch
/// message.
fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_origin: &str,
) -> Result<CertifiedKey, (Part, String)> {
    let mut chain = Vec::new();
    for (i, cert) in CertificateDer::pem_slice_iter(cert_pem).enumerate() {
        let cert =
            cert.map_err(|_| (Part::Cert, format!("certificate {}: malformed PEM", i + 1)))?;
        chain.push(cert);
    }
    if chain.is_empty() {
        return Err((
            Part::Cert,
            "no PEM certificate found (expected -----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    let key =
        match PrivateKeyDer::from_pem_slice(key_pem) {
            Ok(key) => key,
            Err(pem::Error::NoItemsFound) => return Err((
                Part::Key,
                "no PEM private key found (expected -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY \
                 or EC PRIVATE KEY; an encrypted key is not supported)"
                    .into(),
            )),
            Err(_) => return Err((Part::Key, "malformed PEM private key".into())),
        };
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider.key_provider.load_private_key(key).map_err(|_| {
        (
            Part::Key,
            "not a usable private key (RSA, ECDSA P-256/P-384 or Ed25519)".into(),
        )
    })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(_)) => Err((
            Part::Key,
            format!("does not match the certificate of {cert_origin}"),
        )),
        Err(_) => Err((
            Part::Cert,
            "the first certificate cannot be parsed as X.509".into(),
        )),
    }
}

/// `api.tls_cert` and `api.tls_key` of the native `[api]` table: both or
/// neither, both read and checked now.
pub(crate) fn read_native(r: &Reader<'_>, p: &mut Problems) -> Option<ApiTls> {
    let cert = r.file_path(CERT_KEY, p);
    let key = r.file_path(KEY_KEY, p);
    match (cert, key) {
        (Field::Got(cert), Field::Got(key)) => {
            let (cert_field, key_field) = (r.path(CERT_KEY), r.path(KEY_KEY));
            match load_files(&cert, &key) {
                Ok(certified) => Some(ApiTls {
                    source: Source::Files {
                        cert,
                        key,
                        cert_field,
                        key_field,
                    },
                    key: Arc::new(certified),
                }),
                Err((Part::Cert, e)) => {
                    p.push(cert_field, e);
                    None
                }
                Err((Part::Key, e)) => {
                    p.push(key_field, e);
                    None
                }
            }
        }
        (Field::Got(_), Field::Missing) => {
            p.push(
                r.path(KEY_KEY),
                format!(
                    "required with {} (the private key's PEM file)",
                    r.path(CERT_KEY)
                ),
            );
            None
        }
        (Field::Missing, Field::Got(_)) => {
            p.push(
                r.path(CERT_KEY),
                format!(
                    "required with {} (the certificate's PEM file)",
                    r.path(KEY_KEY)
                ),
            );
            None
        }
        _ => None,
    }
}

/// pxc's `API.TLS` (`r`): when `Enabled`, the inline PEMs `Certificate`
/// and `PrivateKey` are required and checked; otherwise neither is read.
pub(crate) fn read_go(r: &Reader<'_>, p: &mut Problems) -> Option<ApiTls> {
    if !r.bool("Enabled", p).or(false) {
        return None;
    }
    let mut pem_of = |key: &str, what: &str| match r.str(key, p) {
        Field::Got(pem) if !pem.trim().is_empty() => Some(pem),
        Field::Bad => None,
        Field::Got(_) | Field::Missing => {
            p.push(
                r.path(key),
                format!("required when {} is true ({what})", r.path("Enabled")),
            );
            None
        }
    };
    let cert = pem_of("Certificate", "the certificate's PEM");
    let key = pem_of("PrivateKey", "the private key's PEM");
    let (cert, key) = (cert?, key?);
    let (cert_field, key_field) = (r.path("Certificate"), r.path("PrivateKey"));
    match certified_key(cert.as_bytes(), key.as_bytes(), &cert_field) {
        Ok(key) => Some(ApiTls {
            source: Source::Inline,
            key: Arc::new(key),
        }),
        Err((part, e)) => {
            let path = match part {
                Part::Cert => cert_field,
                Part::Key => key_field,
            };
            p.push(path, format!("cannot use the PEM: {e}"));
            None
        }
    }
}

#[cfg(test)]
#[path = "api_tls_tests.rs"]
mod tests;
