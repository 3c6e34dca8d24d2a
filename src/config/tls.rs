//! TLS settings of the `galera` and `http` checks: which CA an `https://`
//! check verifies its server with (`ca`) and which name it sends and
//! verifies (`server_name`), as docs/configuration.md describes.
//!
//! Owns reading and validating CA certificates at configuration time, so a
//! CA that cannot be read or parsed is a configuration error with its path
//! (exit 2 at `check-config` and at start), never a probe failure later.
//! It must never hold or print a private key, and never put the content of
//! a file into a message.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use super::tree::{Field, Reader};
use super::Problems;

/// The TLS settings of one HTTP check. Both default to none: the system
/// roots verify the URL's own host name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpTls {
    /// Trust only these CAs instead of the system roots.
    pub ca: Option<CaCerts>,
    /// Send this name as SNI and verify the certificate for it, while still
    /// connecting to the URL's host.
    pub server_name: Option<String>,
}

/// CA certificates (DER), already checked to be usable as trust anchors.
#[derive(Clone, PartialEq, Eq)]
pub struct CaCerts {
    /// Where they came from (a file path, or the key of an inline PEM), for
    /// messages.
    origin: String,
    /// Every certificate of the bundle, in file order.
    der: Arc<[Vec<u8>]>,
}

impl CaCerts {
    /// Parses a PEM bundle; every `CERTIFICATE` block must be a usable trust
    /// anchor and there must be at least one. `origin` names the source in
    /// messages (the content never appears in one).
    pub fn from_pem(pem: &[u8], origin: &str) -> Result<CaCerts, String> {
        let mut der = Vec::new();
        for (i, cert) in CertificateDer::pem_slice_iter(pem).enumerate() {
            let cert = cert.map_err(|e| format!("{origin}: certificate {}: {e}", i + 1))?;
            let mut store = rustls::RootCertStore::empty();
            store.add(cert.clone()).map_err(|e| {
                format!(
                    "{origin}: certificate {} cannot be used as a CA: {e}",
                    i + 1
                )
            })?;
            der.push(cert.as_ref().to_vec());
        }
        if der.is_empty() {
            return Err(format!(
                "{origin}: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)"
            ));
        }
        Ok(CaCerts {
            origin: origin.to_string(),
            der: der.into(),
        })
    }

    /// Reads and parses a PEM file; the message names the path.
    pub fn from_file(path: &Path) -> Result<CaCerts, String> {
        let origin = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| format!("cannot read {origin}: {}", e.kind()))?;
        CaCerts::from_pem(&pem, &origin)
    }

    /// Where the certificates came from (a path, or the key of an inline PEM).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The DER of every certificate, in file order (at least one).
    pub fn certificates(&self) -> &[Vec<u8>] {
        &self.der
    }
}

/// The origin and the count: the certificates themselves are noise in a log.
impl fmt::Debug for CaCerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CaCerts({}, {} certificate(s))",
            self.origin,
            self.der.len()
        )
    }
}

/// A `server_name`: a DNS name (SNI cannot carry an IP address).
pub(crate) fn check_server_name(name: String) -> Result<String, String> {
    match ServerName::try_from(name.as_str()) {
        Ok(ServerName::DnsName(_)) => Ok(name),
        Ok(_) => Err("must be a DNS name, not an IP address (SNI carries names only)".into()),
        Err(_) => Err("must be a valid DNS name".into()),
    }
}

/// `ca` (a PEM file) and `server_name` of a `galera` or `http` check whose
/// URL is `url` (None when the URL itself is missing or bad: its problem is
/// already recorded). Both need an `https://` URL.
pub(crate) fn read_http_tls(c: &Reader<'_>, url: Option<&str>, p: &mut Problems) -> HttpTls {
    let ca = c
        .file_path("ca", p)
        .check(&c.path("ca"), p, |path| CaCerts::from_file(&path));
    let server_name = c
        .str("server_name", p)
        .check(&c.path("server_name"), p, check_server_name);
    let plain = url.is_some_and(|u| !u.starts_with("https://"));
    for (key, given) in [
        ("ca", !matches!(ca, Field::Missing)),
        ("server_name", !matches!(server_name, Field::Missing)),
    ] {
        if plain && given {
            p.push(c.path(key), "only used with an https:// url");
        }
    }
    HttpTls {
        ca: ca.opt(),
        server_name: server_name.opt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed CA made with `openssl req -x509 -newkey ec` (P-256).
    const CA_PEM: &str = include_str!("test_ca.pem");

    #[test]
    fn a_pem_bundle_parses_into_its_certificates() {
        let two = format!("{CA_PEM}\n{CA_PEM}");
        let ca = CaCerts::from_pem(two.as_bytes(), "ca.pem").expect("valid bundle");
        assert_eq!(ca.certificates().len(), 2);
        assert_eq!(ca.origin(), "ca.pem");
        assert_eq!(format!("{ca:?}"), "CaCerts(ca.pem, 2 certificate(s))");
    }

    #[test]
    fn no_certificate_or_a_broken_one_is_an_error_naming_the_origin() {
        let e = CaCerts::from_pem(b"not a pem file", "/etc/x.pem").unwrap_err();
        assert!(e.starts_with("/etc/x.pem: no PEM certificate found"), "{e}");
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let e = CaCerts::from_pem(broken.as_bytes(), "/etc/y.pem").unwrap_err();
        assert!(
            e.starts_with("/etc/y.pem: certificate 1 cannot be used as a CA"),
            "{e}"
        );
        let e = CaCerts::from_file(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert_eq!(e, "cannot read /nonexistent/ca.pem: entity not found");
    }

    /// The native check keys: a relative `ca` is read from the config
    /// file's directory; problems name their paths.
    mod native_keys {
        use super::super::super::native::parse_in;
        use super::super::super::{Check, ConfigErrors};
        use super::*;

        const HEAD: &str = "[proxy]\nlisten = \"127.0.0.1:13306\"\n[api]\npassword = \"pw\"\n";

        /// A directory of its own per test, removed at the end.
        struct Dir(std::path::PathBuf);
        impl Dir {
            fn new(tag: &str) -> Dir {
                let dir = std::env::temp_dir()
                    .join(format!("sb-config-tls-{tag}-{}", std::process::id()));
                std::fs::create_dir_all(&dir).expect("temp dir");
                Dir(dir)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }

        fn parse(dir: &Dir, check: &str) -> Result<crate::Config, ConfigErrors> {
            let text = format!(
                "{HEAD}[[backends]]\nname = \"a\"\nhost = \"10.0.0.1\"\nport = 3306\ncheck = {check}\n"
            );
            parse_in(&text, &|_| None, Some(&dir.0))
        }

        fn problems(dir: &Dir, check: &str) -> Vec<String> {
            match parse(dir, check) {
                Ok(_) => Vec::new(),
                Err(e) => e.problems().iter().map(|p| p.to_string()).collect(),
            }
        }

        #[test]
        fn an_https_check_reads_its_ca_relative_to_the_config_file() {
            let dir = Dir::new("relative");
            std::fs::write(dir.0.join("db-ca.pem"), CA_PEM).expect("write ca");
            let cfg = parse(
                &dir,
                r#"{ kind = "galera", url = "https://10.0.0.1:9200/api/v1/status", ca = "db-ca.pem", server_name = "db-0.example" }"#,
            )
            .expect("valid");
            let Check::Galera { url, tls } = &cfg.backends[0].check else {
                panic!("a galera check: {:?}", cfg.backends[0].check)
            };
            assert_eq!(url, "https://10.0.0.1:9200/api/v1/status");
            let ca = tls.ca.as_ref().expect("a CA");
            assert_eq!(ca.origin(), dir.0.join("db-ca.pem").display().to_string());
            assert_eq!(ca.certificates().len(), 1);
            assert_eq!(tls.server_name.as_deref(), Some("db-0.example"));
        }

        #[test]
        fn an_unreadable_or_unparsable_ca_is_an_error_with_its_path() {
            let dir = Dir::new("bad");
            std::fs::write(dir.0.join("junk.pem"), "hello").expect("write junk");
            let missing = dir.0.join("missing.pem").display().to_string();
            let junk = dir.0.join("junk.pem").display().to_string();
            assert_eq!(
                problems(
                    &dir,
                    r#"{ kind = "http", url = "https://h/", ca = "missing.pem" }"#
                ),
                vec![format!(
                    "backends[0].check.ca: cannot read {missing}: entity not found"
                )]
            );
            let got = problems(
                &dir,
                r#"{ kind = "http", url = "https://h/", ca = "junk.pem" }"#,
            );
            assert_eq!(got.len(), 1, "{got:?}");
            assert!(
                got[0].starts_with(&format!("backends[0].check.ca: {junk}: no PEM certificate")),
                "{got:?}"
            );
        }

        #[test]
        fn tls_keys_need_an_https_url_and_no_tcp_check() {
            let dir = Dir::new("misplaced");
            std::fs::write(dir.0.join("ca.pem"), CA_PEM).expect("write ca");
            assert_eq!(
                problems(
                    &dir,
                    r#"{ kind = "galera", url = "http://h:9200/", ca = "ca.pem", server_name = "db" }"#
                ),
                vec![
                    "backends[0].check.ca: only used with an https:// url",
                    "backends[0].check.server_name: only used with an https:// url",
                ]
            );
            assert_eq!(
                problems(
                    &dir,
                    r#"{ kind = "tcp", ca = "ca.pem", server_name = "db" }"#
                ),
                vec![
                    "backends[0].check.ca: not used by kind = \"tcp\"",
                    "backends[0].check.server_name: not used by kind = \"tcp\"",
                ]
            );
            assert_eq!(
                problems(&dir, r#"{ kind = "http", url = "https://h/", server_name = "10.1.1.1" }"#),
                vec![
                    "backends[0].check.server_name: must be a DNS name, not an IP address (SNI carries names only)"
                ]
            );
        }
    }

    #[test]
    fn server_names_are_dns_names() {
        assert_eq!(
            check_server_name("db-0.example".into()).as_deref(),
            Ok("db-0.example")
        );
        assert!(check_server_name("10.0.0.1".into())
            .unwrap_err()
            .contains("not an IP address"));
        assert!(check_server_name("bad name!".into()).is_err());
    }
}
