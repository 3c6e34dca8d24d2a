//! Tests of the Go switchboard format (docs/configuration.md ("Go switchboard format")): the mapping of every key,
//! YAML and JSON alike, and required keys reported with PascalCase paths.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::*;

/// Shaped like the Go project's own fixture (config/fixtures/validConfig.yml),
/// plus every pxc-release key.
const GO_YAML: &str = r#"
API:
  Port: 80
  AggregatorPort: 8081
  Username: fake-username
  Password: fake-password
  ForceHttps: true
  ProxyURIs:
  - 0-proxy.example.com
  - 1-proxy.example.com
Proxy:
  Port: 3306
  InactiveMysqlPort: 3307
  HealthcheckTimeoutMillis: 5000
  ShutdownDelaySeconds: 7
  Backends:
  - Host: 10.10.10.10
    Port: 3306
    StatusPort: 9200
    StatusEndpoint: galera_healthcheck
    Name: backend-0
  - Host: 10.10.10.11
    Port: 3306
    StatusPort: 9200
    StatusEndpoint: /api/v1/status
    Name: backend-1
HealthPort: 9201
StaticDir: fake-path
BindAddress: 10.0.0.5
Metrics:
  Enabled: true
  Port: 9100
StatusLog:
  Enabled: true
  Interval: 1h
GaleraAgentTLS:
  Enabled: false
SomethingNew: ignored
"#;

const GO_JSON: &str = r#"{
  "API": {"Port": 80, "AggregatorPort": 8081, "Username": "fake-username",
          "Password": "fake-password", "ForceHttps": true,
          "ProxyURIs": ["0-proxy.example.com", "1-proxy.example.com"]},
  "Proxy": {"Port": 3306, "InactiveMysqlPort": 3307, "HealthcheckTimeoutMillis": 5000,
            "ShutdownDelaySeconds": 7,
            "Backends": [
              {"Host": "10.10.10.10", "Port": 3306, "StatusPort": 9200,
               "StatusEndpoint": "galera_healthcheck", "Name": "backend-0"},
              {"Host": "10.10.10.11", "Port": 3306, "StatusPort": 9200,
               "StatusEndpoint": "/api/v1/status", "Name": "backend-1"}]},
  "HealthPort": 9201,
  "StaticDir": "fake-path",
  "BindAddress": "10.0.0.5",
  "Metrics": {"Enabled": true, "Port": 9100},
  "StatusLog": {"Enabled": true, "Interval": "1h"},
  "SomethingNew": "ignored"
}"#;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

fn ok(result: Result<Config, ConfigErrors>) -> Config {
    match result {
        Ok(cfg) => cfg,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

fn err(result: Result<Config, ConfigErrors>) -> ConfigErrors {
    match result {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    }
}

fn assert_go_example(cfg: &Config) {
    assert_eq!(cfg.proxy.listen, addr("10.0.0.5:3306"));
    assert_eq!(cfg.proxy.standby_listen, Some(addr("10.0.0.5:3307")));
    assert_eq!(cfg.proxy.connect_timeout, Duration::from_secs(2));
    assert_eq!(cfg.proxy.shutdown_delay, Duration::from_secs(7));
    assert_eq!(cfg.proxy.drain_timeout, Duration::ZERO);
    assert!(cfg.proxy.sever_on_failover);

    assert_eq!(cfg.monitor.timeout, Duration::from_millis(5000));
    assert_eq!(cfg.monitor.interval, Duration::from_millis(1000));
    assert_eq!((cfg.monitor.rise, cfg.monitor.fall), (1, 1));
    assert!(cfg.monitor.failback);
    assert!(cfg.monitor.enabled);

    assert_eq!(cfg.api.listen, addr("10.0.0.5:80"));
    assert_eq!(cfg.api.aggregator_listen, Some(addr("10.0.0.5:8081")));
    assert_eq!(cfg.api.username, "fake-username");
    assert_eq!(cfg.api.password.expose(), "fake-password");
    assert!(cfg.api.force_https);
    assert!(!cfg.api.public_reads);
    assert!(!cfg.api.public_metrics);
    assert_eq!(
        cfg.api.proxy_uris,
        vec![
            "0-proxy.example.com".to_string(),
            "1-proxy.example.com".to_string()
        ]
    );
    assert_eq!(cfg.api.health_listen, Some(addr("10.0.0.5:9201")));
    assert_eq!(cfg.api.static_dir, Some(PathBuf::from("fake-path")));
    assert_eq!(cfg.api.metrics_listen, Some(addr("127.0.0.1:9100")));

    assert_eq!(cfg.state.file, None);
    assert_eq!(cfg.traffic_monitor.cluster, "db");
    assert_eq!(cfg.traffic_monitor.publish, Publish::Health);
    assert!(cfg.traffic_monitor.public);

    assert_eq!(cfg.backends.len(), 2);
    let b = &cfg.backends[0];
    assert_eq!(
        (b.name.as_str(), b.host.as_str(), b.port),
        ("backend-0", "10.10.10.10", 3306)
    );
    assert_eq!(
        b.check,
        Check::Galera {
            url: "http://10.10.10.10:9200/galera_healthcheck".into(),
            tls: HttpTls::default(),
        }
    );
    assert_eq!(
        cfg.backends[1].check,
        Check::Galera {
            url: "http://10.10.10.11:9200/api/v1/status".into(),
            tls: HttpTls::default(),
        }
    );
}

#[test]
fn go_yaml_maps_every_field() {
    assert_go_example(&ok(parse_yaml(GO_YAML)));
}

#[test]
fn go_json_maps_every_field() {
    assert_go_example(&ok(parse_json(GO_JSON)));
}

#[test]
fn optional_keys_take_defaults() {
    let yaml = GO_YAML
        .replace("  InactiveMysqlPort: 3307\n", "  InactiveMysqlPort: 0\n")
        .replace("  ShutdownDelaySeconds: 7\n", "")
        .replace("StaticDir: fake-path\n", "StaticDir: \"\"\n")
        .replace("BindAddress: 10.0.0.5\n", "")
        .replace("  Enabled: true\n  Port: 9100\n", "  Enabled: false\n")
        .replace("  ForceHttps: true\n", "");
    let cfg = ok(parse_yaml(&yaml));
    assert_eq!(cfg.proxy.listen, addr("0.0.0.0:3306"));
    assert_eq!(cfg.proxy.standby_listen, None);
    assert_eq!(cfg.proxy.shutdown_delay, Duration::ZERO);
    assert_eq!(cfg.api.static_dir, None);
    assert_eq!(cfg.api.metrics_listen, None);
    assert!(!cfg.api.force_https);
}

#[test]
fn health_port_equal_to_api_port_is_served_by_the_api() {
    let cfg = ok(parse_yaml(
        &GO_YAML.replace("HealthPort: 9201", "HealthPort: 80"),
    ));
    assert_eq!(cfg.api.health_listen, None);
}

#[test]
fn the_example_file_maps() {
    let cfg = ok(parse_yaml(include_str!("../../examples/switchboard.yml")));
    assert_eq!(cfg.proxy.listen, addr("127.0.0.1:3306"));
    assert_eq!(cfg.backends.len(), 3);
    let ports: Vec<u16> = cfg.backends.iter().map(|b| b.port).collect();
    assert_eq!(ports, vec![13306, 13307, 13308]);
    assert_eq!(
        cfg.backends[2].check,
        Check::Galera {
            url: "http://127.0.0.1:19202/api/v1/status".into(),
            tls: HttpTls::default(),
        }
    );
}

#[test]
fn missing_required_keys_use_pascal_case_paths() {
    let yaml = r#"
API:
  Port: 0
  Username: ""
Proxy:
  Backends:
  - Host: 10.0.0.1
    Port: 3306
    StatusEndpoint: status
    Name: backend-0
  - Host: 10.0.0.2
    Port: 3306
    StatusPort: 9200
    StatusEndpoint: status
"#;
    let e = err(parse_yaml(yaml));
    assert_eq!(
        e.paths(),
        vec![
            "Proxy.Port",
            "Proxy.HealthcheckTimeoutMillis",
            "Proxy.Backends[0].StatusPort",
            "Proxy.Backends[1].Name",
            "API.Port",
            "API.AggregatorPort",
            "API.Username",
            "API.Password",
            "HealthPort",
        ],
        "{e}"
    );
    assert!(e.problems().iter().all(|p| p.message == "required"), "{e}");
}

#[test]
fn empty_file_reports_everything_required() {
    let e = err(parse_yaml(""));
    assert_eq!(
        e.paths(),
        vec![
            "Proxy.Port",
            "Proxy.HealthcheckTimeoutMillis",
            "Proxy.Backends",
            "API.Port",
            "API.AggregatorPort",
            "API.Username",
            "API.Password",
            "HealthPort",
        ],
        "{e}"
    );
    assert_eq!(err(parse_json("{}")).len(), 8);
}

#[test]
fn bad_values_are_reported_without_the_password() {
    let json = GO_JSON
        .replace(
            "\"Port\": 3306, \"InactiveMysqlPort\"",
            "\"Port\": 70000, \"InactiveMysqlPort\"",
        )
        .replace(
            "\"BindAddress\": \"10.0.0.5\"",
            "\"BindAddress\": \"db.example\"",
        )
        .replace(
            "\"Password\": \"fake-password\"",
            "\"Password\": [\"fake-password\"]",
        )
        .replace("\"Name\": \"backend-1\"", "\"Name\": \"backend-0\"");
    let e = err(parse_json(&json));
    assert_eq!(
        e.paths(),
        vec![
            "BindAddress",
            "Proxy.Port",
            "Proxy.Backends[1].Name",
            "API.Password"
        ],
        "{e}"
    );
    assert!(!e.to_string().contains("fake-password"), "{e}");
}

#[test]
fn colliding_ports_are_reported() {
    let e = err(parse_yaml(
        &GO_YAML.replace("AggregatorPort: 8081", "AggregatorPort: 3306"),
    ));
    assert_eq!(e.paths(), vec!["API.AggregatorPort"], "{e}");
}

#[test]
fn syntax_errors_are_single() {
    assert_eq!(err(parse_json("{\"API\": ")).len(), 1);
    assert_eq!(err(parse_yaml("API: [unclosed\n")).len(), 1);
    assert_eq!(err(parse_yaml("- just\n- a list\n")).len(), 1);
}

#[test]
fn numeric_password_in_yaml_is_text() {
    let cfg = ok(parse_yaml(
        &GO_YAML.replace("Password: fake-password", "Password: 12345"),
    ));
    assert_eq!(cfg.api.password.expose(), "12345");
}

/// pxc's `GaleraAgentTLS` (inline PEM CA, YAML block scalar) on top of `yaml`.
fn with_galera_tls(yaml: &str, tls: &str) -> String {
    yaml.replace("GaleraAgentTLS:\n  Enabled: false\n", tls)
}

#[test]
fn galera_agent_tls_makes_every_check_https_with_its_ca_and_server_name() {
    let pem: String = include_str!("test_ca.pem")
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect();
    let yaml = with_galera_tls(
        GO_YAML,
        &format!(
            "GaleraAgentTLS:\n  Enabled: true\n  ServerName: galera-agent.internal\n  CA: |\n{pem}"
        ),
    );
    let cfg = ok(parse_yaml(&yaml));
    for b in &cfg.backends {
        let Check::Galera { url, tls } = &b.check else {
            panic!("a galera check: {:?}", b.check)
        };
        assert!(url.starts_with("https://10.10.10.1"), "{url}");
        assert_eq!(tls.server_name.as_deref(), Some("galera-agent.internal"));
        let ca = tls.ca.as_ref().expect("the inline CA");
        assert_eq!(ca.certificates().len(), 1);
        assert_eq!(ca.origin(), "GaleraAgentTLS.CA");
    }
    assert_eq!(
        cfg.backends[1].check,
        Check::Galera {
            url: "https://10.10.10.11:9200/api/v1/status".into(),
            tls: match &cfg.backends[0].check {
                Check::Galera { tls, .. } => tls.clone(),
                other => panic!("{other:?}"),
            },
        }
    );
}

#[test]
fn galera_agent_tls_needs_a_parsable_ca() {
    let e = err(parse_yaml(&with_galera_tls(
        GO_YAML,
        "GaleraAgentTLS:\n  Enabled: true\n",
    )));
    assert_eq!(
        e.to_string(),
        "GaleraAgentTLS.CA: required when GaleraAgentTLS.Enabled is true (the CA's PEM)"
    );
    let e = err(parse_yaml(&with_galera_tls(
        GO_YAML,
        "GaleraAgentTLS:\n  Enabled: true\n  CA: PEM Cert\n",
    )));
    assert!(
        e.to_string()
            .starts_with("GaleraAgentTLS.CA: cannot parse the PEM: no PEM certificate found"),
        "{e}"
    );
}

/// pxc's `API.TLS` on top of `GO_YAML` (its mapping is tested in
/// `api_tls_tests.rs`): a bad PEM is reported without the key's bytes.
#[test]
fn api_tls_with_a_bad_certificate_is_refused_and_disabled_is_accepted() {
    let secret_key =
        "      -----BEGIN PRIVATE KEY-----\n      c2VjcmV0\n      -----END PRIVATE KEY-----\n";
    let api_tls = |enabled: bool| {
        GO_YAML.replace(
            "  ForceHttps: true\n",
            &format!(
                "  ForceHttps: true\n  TLS:\n    Enabled: {enabled}\n    Certificate: cert\n    PrivateKey: |\n{secret_key}"
            ),
        )
    };
    let e = err(parse_yaml(&api_tls(true)));
    assert_eq!(e.paths(), vec!["API.TLS.Certificate"]);
    assert!(e.to_string().contains("no PEM certificate found"), "{e}");
    assert!(
        !e.to_string().contains("c2VjcmV0"),
        "the key never shows: {e}"
    );
    let cfg = ok(parse_yaml(&api_tls(false)));
    assert_eq!(cfg.api.listen, addr("10.0.0.5:80"));
}
