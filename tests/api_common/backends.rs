//! Loopback backends for the API tests: a TCP echo server that counts its
//! open connections, and a galera-style health endpoint whose answer the
//! test switches at run time.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::SeqCst};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An echo server on 127.0.0.1.
pub struct EchoBackend {
    pub name: String,
    pub addr: SocketAddr,
    open: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl EchoBackend {
    pub async fn start(name: &str) -> EchoBackend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicU64::new(0));
        let counter = open.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let counter = counter.clone();
                counter.fetch_add(1, SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if stream.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    counter.fetch_sub(1, SeqCst);
                });
            }
        });
        EchoBackend {
            name: name.to_string(),
            addr,
            open,
            task,
        }
    }

    /// Connections currently open on this backend.
    pub fn open(&self) -> u64 {
        self.open.load(SeqCst)
    }
}

impl Drop for EchoBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a health endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Health {
    Healthy = 0,
    Http503 = 1,
    Unhealthy = 2,
}

/// A galera-agent style `/api/v1/status` endpoint.
pub struct HealthEndpoint {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    task: tokio::task::JoinHandle<()>,
}

async fn status(State((mode, index)): State<(Arc<AtomicU8>, u64)>) -> Response {
    match mode.load(SeqCst) {
        0 => Json(serde_json::json!({"healthy": true, "wsrep_local_index": index})).into_response(),
        2 => {
            Json(serde_json::json!({"healthy": false, "wsrep_local_index": index})).into_response()
        }
        _ => (StatusCode::SERVICE_UNAVAILABLE, "down").into_response(),
    }
}

impl HealthEndpoint {
    /// A healthy endpoint reporting `wsrep_local_index = index`.
    pub async fn start(index: u64) -> HealthEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(Health::Healthy as u8));
        let router = Router::new()
            .route("/api/v1/status", get(status))
            .with_state((mode.clone(), index));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        HealthEndpoint { addr, mode, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/api/v1/status", self.addr)
    }

    pub fn set(&self, health: Health) {
        self.mode.store(health as u8, SeqCst);
    }
}

impl Drop for HealthEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}
