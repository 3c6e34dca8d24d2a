//! Tests of the API's TLS identity (docs/configuration.md, `api.tls_cert`,
//! `api.tls_key`, pxc's `API.TLS`): both or neither, relative paths,
//! every unusable file or PEM reported with its key and path, a key that
//! is not the certificate's refused, re-reading, and that no byte of a
//! private key ever shows in a message or a `Debug`.

use std::path::PathBuf;

use super::super::native::parse_in;
use super::super::switchboard::parse_yaml;
use super::super::{Config, ConfigErrors};
use super::ApiTls;

/// A self-signed P-256 certificate (`localhost`, 127.0.0.1) and its key,
/// made with `openssl req -x509 -newkey ec`; and another, unrelated key.
const CERT: &str = include_str!("test_api_cert.pem");
const KEY: &str = include_str!("test_api_key.pem");
const OTHER_KEY: &str = include_str!("test_other_key.pem");

/// A line of base64 from inside each key: must never appear in output.
fn key_lines() -> Vec<&'static str> {
    [KEY, OTHER_KEY]
        .iter()
        .flat_map(|k| k.lines().filter(|l| !l.starts_with("-----")))
        .collect()
}

fn assert_no_key_material(text: &str) {
    for line in key_lines() {
        assert!(!text.contains(line), "key material shown: {text}");
    }
    assert!(!text.contains("PRIVATE KEY-----\n"), "a PEM shown: {text}");
}

/// A directory of its own per test, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let dir =
            std::env::temp_dir().join(format!("sb-config-api-tls-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Dir(dir)
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).expect("write fixture");
        path
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A native file whose `[api]` has `api_lines`, parsed in `dir`.
fn native(dir: &Dir, api_lines: &str) -> Result<Config, ConfigErrors> {
    let text = format!(
        "[proxy]\nlisten = \"127.0.0.1:13306\"\n[api]\npassword = \"pw\"\n{api_lines}\n\
         [[backends]]\nname = \"a\"\nhost = \"10.0.0.1\"\nport = 3306\ncheck = {{ kind = \"tcp\" }}\n"
    );
    parse_in(&text, &|_| None, Some(&dir.0))
}

fn problems(result: Result<Config, ConfigErrors>) -> Vec<String> {
    match result {
        Ok(_) => panic!("expected problems"),
        Err(e) => {
            assert_no_key_material(&e.to_string());
            e.problems().iter().map(|p| p.to_string()).collect()
        }
    }
}

#[test]
fn relative_files_are_read_from_the_config_files_directory() {
    let dir = Dir::new("relative");
    dir.write("api.crt", CERT);
    dir.write("api.key", KEY);
    let cfg = native(&dir, "tls_cert = \"api.crt\"\ntls_key = \"api.key\"").expect("valid");
    let tls = cfg.api.tls.as_ref().expect("TLS configured");
    assert_eq!(
        tls.files(),
        Some((
            dir.0.join("api.crt").as_path(),
            dir.0.join("api.key").as_path()
        ))
    );
    assert_eq!(tls.certificates().len(), 1);
    let debug = format!("{cfg:?}");
    assert_no_key_material(&debug);
    assert!(
        debug.contains(&format!("ApiTls(cert {}", dir.path("api.crt"))),
        "{debug}"
    );
    let none = native(&dir, "").expect("valid");
    assert!(none.api.tls.is_none());
}

#[test]
fn one_file_may_hold_both_and_a_chain_is_kept_in_order() {
    let dir = Dir::new("combined");
    let both = dir.write("both.pem", &format!("{CERT}{KEY}"));
    let tls = ApiTls::from_files(&both, &both, "c", "k").expect("combined file");
    assert_eq!(tls.certificates().len(), 1);
    let chain = dir.write(
        "chain.pem",
        &format!("{CERT}{}", include_str!("test_ca.pem")),
    );
    let key = dir.write("key.pem", KEY);
    let tls = ApiTls::from_files(&chain, &key, "c", "k").expect("chain");
    assert_eq!(tls.certificates().len(), 2);
}

#[test]
fn both_or_neither_naming_the_missing_one() {
    let dir = Dir::new("pair");
    dir.write("api.crt", CERT);
    dir.write("api.key", KEY);
    assert_eq!(
        problems(native(&dir, "tls_cert = \"api.crt\"")),
        vec!["api.tls_key: required with api.tls_cert (the private key's PEM file)"]
    );
    assert_eq!(
        problems(native(&dir, "tls_key = \"api.key\"")),
        vec!["api.tls_cert: required with api.tls_key (the certificate's PEM file)"]
    );
    assert_eq!(
        problems(native(&dir, "tls_cert = \"\"\ntls_key = 7")),
        vec![
            "api.tls_cert: must not be empty",
            "api.tls_key: expected a string, found a number"
        ]
    );
}

#[test]
fn unreadable_and_unparsable_files_are_errors_with_their_paths() {
    let dir = Dir::new("bad");
    dir.write("api.crt", CERT);
    dir.write("api.key", KEY);
    dir.write("junk.pem", "hello");
    let broken = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0!!!\n-----END PRIVATE KEY-----\n";
    dir.write("broken.key", broken);
    let case = |cert: &str, key: &str| {
        problems(native(
            &dir,
            &format!("tls_cert = \"{cert}\"\ntls_key = \"{key}\""),
        ))
    };
    assert_eq!(
        case("missing.crt", "api.key"),
        vec![format!(
            "api.tls_cert: cannot read {}: entity not found",
            dir.path("missing.crt")
        )]
    );
    assert_eq!(
        case("api.crt", "missing.key"),
        vec![format!(
            "api.tls_key: cannot read {}: entity not found",
            dir.path("missing.key")
        )]
    );
    assert_eq!(
        case("junk.pem", "api.key"),
        vec![format!(
            "api.tls_cert: {}: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)",
            dir.path("junk.pem")
        )]
    );
    let got = case("api.crt", "api.crt");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(&format!(
            "api.tls_key: {}: no PEM private key found",
            dir.path("api.crt")
        )),
        "{got:?}"
    );
    let got = case("api.crt", "broken.key");
    assert_eq!(
        got,
        vec![format!(
            "api.tls_key: {}: malformed PEM private key",
            dir.path("broken.key")
        )]
    );
    assert!(!got[0].contains("c2VjcmV0"), "{got:?}");
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused() {
    let dir = Dir::new("mismatch");
    dir.write("api.crt", CERT);
    dir.write("other.key", OTHER_KEY);
    assert_eq!(
        problems(native(
            &dir,
            "tls_cert = \"api.crt\"\ntls_key = \"other.key\""
        )),
        vec![format!(
            "api.tls_key: {}: does not match the certificate of {}",
            dir.path("other.key"),
            dir.path("api.crt")
        )]
    );
}

#[test]
fn reread_reads_the_files_again() {
    let dir = Dir::new("reread");
    let cert = dir.write("api.crt", CERT);
    let key = dir.write("api.key", KEY);
    let tls = ApiTls::from_files(&cert, &key, "api.tls_cert", "api.tls_key").expect("valid");
    assert_eq!(tls.reread().as_ref(), Ok(&tls));
    dir.write("api.key", OTHER_KEY);
    let e = tls.reread().expect_err("mismatched key");
    assert_eq!(
        e,
        format!(
            "api.tls_key: {}: does not match the certificate of {}",
            key.display(),
            cert.display()
        )
    );
    std::fs::remove_file(&cert).expect("remove cert");
    let e = tls.reread().expect_err("no cert");
    assert_eq!(
        e,
        format!(
            "api.tls_cert: cannot read {}: entity not found",
            cert.display()
        )
    );
    assert_no_key_material(&e);
}

/// The Go format's test file with `API.TLS` set to `tls` (YAML lines
/// under `TLS:`).
fn go(tls: &str) -> Result<Config, ConfigErrors> {
    let yaml = format!(
        "API:\n  Port: 80\n  AggregatorPort: 81\n  Username: u\n  Password: p\n  TLS:\n{tls}\
         Proxy:\n  Port: 3306\n  HealthcheckTimeoutMillis: 5000\n  Backends:\n  \
         - {{Host: h, Port: 3306, StatusPort: 9200, StatusEndpoint: s, Name: b}}\nHealthPort: 9201\n"
    );
    parse_yaml(&yaml)
}

/// A PEM as a YAML block scalar under a key, indented for `API.TLS`.
fn block(key: &str, pem: &str) -> String {
    let body: String = pem.lines().map(|l| format!("      {l}\n")).collect();
    format!("    {key}: |\n{body}")
}

#[test]
fn pxc_api_tls_carries_inline_pems() {
    let cfg = go(&format!(
        "    Enabled: true\n{}{}",
        block("Certificate", CERT),
        block("PrivateKey", KEY)
    ))
    .expect("valid");
    let tls = cfg.api.tls.as_ref().expect("TLS");
    assert_eq!(tls.files(), None);
    assert_eq!(tls.certificates().len(), 1);
    assert_eq!(tls.reread().as_ref(), Ok(tls));
    assert_no_key_material(&format!("{cfg:?}"));

    // Disabled: neither PEM is read, junk or not.
    let off =
        go("    Enabled: false\n    Certificate: cert\n    PrivateKey: key\n").expect("valid");
    assert!(off.api.tls.is_none());
}

#[test]
fn pxc_api_tls_problems_name_their_keys() {
    assert_eq!(
        problems(go("    Enabled: true\n")),
        vec![
            "API.TLS.Certificate: required when API.TLS.Enabled is true (the certificate's PEM)",
            "API.TLS.PrivateKey: required when API.TLS.Enabled is true (the private key's PEM)",
        ]
    );
    assert_eq!(
        problems(go(&format!(
            "    Enabled: true\n    Certificate: cert\n{}",
            block("PrivateKey", KEY)
        ))),
        vec![
            "API.TLS.Certificate: cannot use the PEM: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)"
        ]
    );
    assert_eq!(
        problems(go(&format!(
            "    Enabled: true\n{}{}",
            block("Certificate", CERT),
            block("PrivateKey", OTHER_KEY)
        ))),
        vec![
            "API.TLS.PrivateKey: cannot use the PEM: does not match the certificate of API.TLS.Certificate"
        ]
    );
}
