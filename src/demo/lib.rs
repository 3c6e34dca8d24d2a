//! `switchboard demo`: N in-process demo backends and the configuration that
//! puts the router in front of them.
//!
//! Each demo backend is a TCP echo server that greets with its name (so a
//! user with `nc` sees where they landed) and a galera-style health endpoint
//! whose answer can be switched with `curl` or from the dashboard:
//! `healthy`, `503`, `hang` (never answers) or `unhealthy` (`healthy:false`).
//! This crate is for people trying switchboard out; nothing in the router
//! depends on it. It hands the API an opaque router ([`DemoControl::api_routes`])
//! for the dashboard's break/heal buttons (`routes.rs`).

mod routes;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use switchboard_config::*;

/// What a demo backend's health endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum HealthMode {
    Healthy = 0,
    Http503 = 1,
    Hang = 2,
    Unhealthy = 3,
}

impl HealthMode {
    pub const ALL: [HealthMode; 4] = [
        HealthMode::Healthy,
        HealthMode::Http503,
        HealthMode::Hang,
        HealthMode::Unhealthy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HealthMode::Healthy => "healthy",
            HealthMode::Http503 => "503",
            HealthMode::Hang => "hang",
            HealthMode::Unhealthy => "unhealthy",
        }
    }

    pub fn parse(s: &str) -> Option<HealthMode> {
        HealthMode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// One demo backend.
pub struct DemoBackend {
    pub name: String,
    pub echo_addr: SocketAddr,
    pub health_addr: SocketAddr,
    mode: AtomicU8,
}

impl DemoBackend {
    pub fn mode(&self) -> HealthMode {
        let m = self.mode.load(Relaxed);
        HealthMode::ALL
            .into_iter()
            .find(|h| *h as u8 == m)
            .unwrap_or(HealthMode::Healthy)
    }

    pub fn set_mode(&self, mode: HealthMode) {
        self.mode.store(mode as u8, Relaxed);
    }
}

/// The demo backends, shared with the API so the dashboard can break them.
#[derive(Clone)]
pub struct DemoControl {
    pub backends: Arc<[Arc<DemoBackend>]>,
}

impl DemoControl {
    /// Starts `n` demo backends on loopback, on ports the OS picks.
    pub async fn start(n: usize) -> std::io::Result<DemoControl> {
        let mut backends = Vec::with_capacity(n);
        for i in 0..n {
            let echo = TcpListener::bind("127.0.0.1:0").await?;
            let health = TcpListener::bind("127.0.0.1:0").await?;
            let backend = Arc::new(DemoBackend {
                name: format!("demo-{i}"),
                echo_addr: echo.local_addr()?,
                health_addr: health.local_addr()?,
                mode: AtomicU8::new(HealthMode::Healthy as u8),
            });
            tokio::spawn(echo_loop(echo, backend.name.clone()));
            let router = Router::new()
                .route("/api/v1/status", get(status))
                .route("/mode", get(show_mode))
                .route("/mode/{mode}", post(set_mode).put(set_mode))
                .with_state((backend.clone(), i as u64));
            tokio::spawn(async move { axum::serve(health, router).await });
            backends.push(backend);
        }
        Ok(DemoControl {
            backends: backends.into(),
        })
    }

    /// `GET /v0/demo` and `POST /v0/demo/backends/{name}/health/{mode}`,
    /// for the API to mount behind its front door.
    pub fn api_routes(&self) -> Router {
        routes::routes(self.clone())
    }

    /// The backend with this name.
    pub fn backend(&self, name: &str) -> Option<&Arc<DemoBackend>> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// A configuration routing to the demo backends.
    pub fn config(
        &self,
        listen: SocketAddr,
        standby: Option<SocketAddr>,
        api: SocketAddr,
        password: &str,
    ) -> Config {
        Config {
            proxy: ProxyConfig {
                listen,
                standby_listen: standby,
                connect_timeout: Duration::from_secs(2),
                shutdown_delay: Duration::ZERO,
                drain_timeout: Duration::from_secs(10),
                sever_on_failover: true,
                refuse_with: RefuseWith::Close,
                tcp_keepalive: Some(TcpKeepalive::default()),
                half_close_timeout: DEFAULT_HALF_CLOSE_TIMEOUT,
                max_sessions: None,
            },
            monitor: MonitorConfig {
                interval: Duration::from_millis(500),
                timeout: Duration::from_millis(250),
                rise: 1,
                fall: 1,
                failback: true,
                failback_after: Duration::ZERO,
                enabled: true,
            },
            api: ApiConfig {
                listen: api,
                username: "admin".into(),
                password: Secret::new(password),
                public_reads: false,
                force_https: false,
                public_metrics: true,
                health_listen: None,
                static_dir: None,
                metrics_listen: None,
                aggregator_listen: None,
                proxy_uris: Vec::new(),
                tls: None,
                limits: ApiLimits::default(),
            },
            state: StateConfig::default(),
            traffic_monitor: TrafficMonitorConfig {
                cluster: "demo".into(),
                publish: Publish::Health,
                public: true,
                crconfig: None,
            },
            log: Default::default(),
            coordination: Default::default(),
            backends: self
                .backends
                .iter()
                .map(|b| BackendConfig {
                    name: b.name.clone(),
                    host: b.echo_addr.ip().to_string(),
                    port: b.echo_addr.port(),
                    check: Check::Galera {
                        url: format!("http://{}/api/v1/status", b.health_addr),
                        tls: HttpTls::default(),
                    },
                    proxy_protocol: ProxyProtocol::Off,
                })
                .collect(),
        }
    }
}

async fn echo_loop(listener: TcpListener, name: String) {
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(echo(stream, format!("hello from {name}\n")));
        }
    }
}

async fn echo(mut stream: TcpStream, greeting: String) -> std::io::Result<()> {
    stream.write_all(greeting.as_bytes()).await?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return stream.shutdown().await;
        }
        stream.write_all(&buf[..n]).await?;
    }
}

async fn status(
    State((backend, index)): State<(Arc<DemoBackend>, u64)>,
) -> axum::response::Response {
    let body = |healthy: bool| {
        Json(serde_json::json!({
            "wsrep_local_state": if healthy { 4 } else { 2 },
            "wsrep_local_state_comment": if healthy { "Synced" } else { "Donor/Desynced" },
            "wsrep_local_index": index,
            "healthy": healthy,
        }))
    };
    match backend.mode() {
        HealthMode::Healthy => body(true).into_response(),
        HealthMode::Unhealthy => body(false).into_response(),
        HealthMode::Http503 => (
            StatusCode::SERVICE_UNAVAILABLE,
            "demo: failing on purpose\n",
        )
            .into_response(),
        HealthMode::Hang => {
            std::future::pending::<()>().await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}

async fn show_mode(State((backend, _)): State<(Arc<DemoBackend>, u64)>) -> String {
    format!("{}\n", backend.mode().as_str())
}

async fn set_mode(
    State((backend, _)): State<(Arc<DemoBackend>, u64)>,
    Path(mode): Path<String>,
) -> (StatusCode, String) {
    match HealthMode::parse(&mode) {
        Some(m) => {
            backend.set_mode(m);
            (
                StatusCode::OK,
                format!("{} health is now {}\n", backend.name, m.as_str()),
            )
        }
        None => (
            StatusCode::BAD_REQUEST,
            "unknown mode; use healthy, 503, hang or unhealthy\n".into(),
        ),
    }
}
