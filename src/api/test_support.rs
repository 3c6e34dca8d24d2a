//! Unit-test helpers: an [`ApiContext`] over `n` fake backends, with no
//! monitor and no bridge running, so handlers can be called directly.
//! Compiled only for tests; nothing here listens on a socket.

use std::sync::Arc;
use std::time::Duration;

use super::ApiContext;
use switchboard_config::*;
use switchboard_core::bus::Bus;
use switchboard_core::cluster::{Cluster, OperatorState};
use switchboard_core::combiner::Combiner;
use switchboard_core::counters::SessionCounters;
use switchboard_core::live_config::LiveConfig;

/// A configuration with `n` tcp-checked backends `db-0..` on 127.0.0.1.
pub(crate) fn config(n: usize) -> Config {
    Config {
        proxy: ProxyConfig {
            listen: "127.0.0.1:3306".parse().unwrap(),
            standby_listen: None,
            connect_timeout: Duration::from_secs(2),
            shutdown_delay: Duration::ZERO,
            drain_timeout: Duration::ZERO,
            sever_on_failover: true,
            refuse_with: RefuseWith::Close,
            tcp_keepalive: Some(TcpKeepalive::default()),
            half_close_timeout: DEFAULT_HALF_CLOSE_TIMEOUT,
            max_sessions: None,
        },
        monitor: MonitorConfig::default(),
        api: ApiConfig {
            listen: "127.0.0.1:8080".parse().unwrap(),
            username: "admin".into(),
            password: Secret::new("pw"),
            public_reads: false,
            force_https: false,
            public_metrics: false,
            health_listen: None,
            static_dir: None,
            metrics_listen: None,
            aggregator_listen: None,
            proxy_uris: vec![
                "proxy-0.example.com".into(),
                "https://proxy-1.example.com/x".into(),
            ],
            tls: None,
            limits: ApiLimits::default(),
        },
        state: StateConfig::default(),
        traffic_monitor: TrafficMonitorConfig::default(),
        log: LogConfig::default(),
        backends: (0..n)
            .map(|i| BackendConfig {
                name: format!("db-{i}"),
                host: "127.0.0.1".into(),
                port: 13306 + i as u16,
                check: Check::Tcp { port: None },
                proxy_protocol: ProxyProtocol::Off,
            })
            .collect(),
    }
}

/// A context over [`config`]`(n)` with a fresh bus, no demo.
pub(crate) fn context(n: usize) -> ApiContext {
    context_with(config(n))
}

/// A context over [`config`]`(n)` and the counters its read model reads.
pub(crate) fn context_and_counters(n: usize) -> (ApiContext, Arc<SessionCounters>) {
    let config = config(n);
    let counters = Arc::new(SessionCounters::new());
    (context_over(config, counters.clone()), counters)
}

/// A context over the given configuration.
pub(crate) fn context_with(config: Config) -> ApiContext {
    let counters = Arc::new(SessionCounters::new());
    context_over(config, counters)
}

/// A context over `config` whose read model reads `counters`.
fn context_over(config: Config, counters: Arc<SessionCounters>) -> ApiContext {
    let cluster = Cluster::new(&config, &OperatorState::default(), Bus::new(64, 64));
    let combiner = Combiner::new(cluster.clone(), counters.clone());
    ApiContext {
        config: LiveConfig::fixed(config),
        cluster,
        combiner,
        extra_routes: None,
        progress: None,
    }
}
