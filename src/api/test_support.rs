//! Unit-test helpers: an [`ApiContext`] over `n` fake backends, with no
//! monitor and no bridge running, so handlers can be called directly; a
//! coordinated one with a fake coordinator and a sample coordination
//! status; and [`call`], which sends one request through the API router.
//! Compiled only for tests; nothing here listens on a socket.

use std::sync::Arc;
use std::time::Duration;

use super::ApiContext;
use switchboard_config::*;
use switchboard_core::bus::Bus;
use switchboard_core::cluster::{Cluster, CommandError, OperatorState};
use switchboard_core::combiner::Combiner;
use switchboard_core::coordination::{
    CombinedHealth, CoordinationHandle, CoordinationRole, CoordinationStatus, Decision,
    OperatorChange, OperatorRequest, PeerBackend, PeerView,
};
use switchboard_core::counters::SessionCounters;
use switchboard_core::live_config::LiveConfig;
use tokio::sync::mpsc;

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
        coordination: Default::default(),
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
        coordination: None,
    }
}

/// [`config`]`(n)` with `[coordination] kind = "etcd"`, instance `proxy-0`.
pub(crate) fn etcd_config(n: usize) -> Config {
    let mut config = config(n);
    config.coordination = CoordinationConfig {
        kind: CoordinationKind::Etcd(EtcdCoordination {
            endpoints: vec!["http://127.0.0.1:2379".into()],
            prefix: DEFAULT_ETCD_PREFIX.into(),
            instance: "proxy-0".into(),
            lease_ttl: DEFAULT_LEASE_TTL,
            combine: Combine::Majority,
            on_coordinator_lost: OnCoordinatorLost::Hold,
            tls: None,
            user: None,
            password: None,
        }),
    };
    config
}

/// A coordinated context over [`etcd_config`]`(n)` and the receiver a
/// fake coordinator answers from (see [`answer_requests`]).
pub(crate) fn coordinated(n: usize) -> (ApiContext, mpsc::Receiver<OperatorRequest>) {
    let (handle, requests) = CoordinationHandle::new();
    let mut ctx = context_with(etcd_config(n));
    ctx.coordination = Some(handle);
    (ctx, requests)
}

/// A fake coordinator: applies every request through `cluster` as the real
/// one does once its watch sees the change, then answers `answer` (on
/// `Err`, nothing is applied). Ends when the API's handle is dropped.
pub(crate) fn answer_requests(
    mut requests: mpsc::Receiver<OperatorRequest>,
    cluster: Cluster,
    answer: Result<Vec<String>, CommandError>,
) -> tokio::task::JoinHandle<Vec<OperatorChange>> {
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(request) = requests.recv().await {
            seen.push(request.change.clone());
            let reply = match &answer {
                Err(e) => Err(e.clone()),
                Ok(instances) => {
                    apply(&cluster, request.change, &request.actor).map(|()| instances.clone())
                }
            };
            let _ = request.reply.send(reply);
        }
        seen
    })
}

/// Applies one operator change to `cluster`.
fn apply(cluster: &Cluster, change: OperatorChange, actor: &str) -> Result<(), CommandError> {
    match change {
        OperatorChange::Flags {
            routing,
            monitoring,
        } => cluster.set_flags(
            routing.as_ref().map(|(on, m)| (*on, m.as_str())),
            monitoring,
            actor,
        ),
        OperatorChange::Admin {
            backend,
            state,
            message,
        } => cluster.set_admin(&backend, state, &message, actor),
    }
}

/// A status with `proxy-0` (this instance, leader) and `proxy-1` live, and
/// a decision on db-0 made from both views: db-1 is healthy only in
/// `proxy-1`'s view, so it is unhealthy when combined.
pub(crate) fn sample_status() -> CoordinationStatus {
    let backend = |name: &str, healthy: Option<bool>, index: u64| PeerBackend {
        name: name.into(),
        healthy,
        index,
        reason: if healthy == Some(true) {
            "healthy".into()
        } else {
            "HTTP 503".into()
        },
    };
    let view = |instance: &str, db1: Option<bool>| PeerView {
        instance: instance.into(),
        backends: vec![backend("db-0", Some(true), 0), backend("db-1", db1, 1)],
        active: Some("db-0".into()),
        standby: None,
        epoch: 4,
        acknowledged: 17,
    };
    let combined = |name: &str, healthy: bool, healthy_views: usize| CombinedHealth {
        name: name.into(),
        healthy: Some(healthy),
        index: 0,
        healthy_views,
        views: 2,
    };
    let mut status =
        CoordinationStatus::joining("proxy-0", Combine::Majority, OnCoordinatorLost::Hold);
    status.role = CoordinationRole::Leader;
    status.leader = Some("proxy-0".into());
    status.views = vec![view("proxy-0", Some(false)), view("proxy-1", Some(true))];
    status.decision = Some(Decision {
        active: Some("db-0".into()),
        standby: None,
        epoch: 4,
        leader: "proxy-0".into(),
        reason: "db-0 healthy in 2 of 2 views".into(),
        combined: vec![combined("db-0", true, 2), combined("db-1", false, 1)],
    });
    status.lost_count = 1;
    status
}

/// Calls `app`'s API router as a client with the right credentials would,
/// and reads the answer as JSON (`Value::Null` for a body that is not).
pub(crate) async fn call(
    app: &super::App,
    method: &str,
    uri: &str,
) -> (axum::http::StatusCode, serde_json::Value) {
    use base64::Engine as _;
    use tower_service::Service as _;
    let mut router = super::api_router(app);
    let auth = base64::engine::general_purpose::STANDARD.encode("admin:pw");
    let request = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Basic {auth}"))
        .body(axum::body::Body::empty())
        .unwrap();
    std::future::poll_fn(|cx| {
        tower_service::Service::<axum::http::Request<axum::body::Body>>::poll_ready(&mut router, cx)
    })
    .await
    .unwrap();
    let response = router.call(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}
