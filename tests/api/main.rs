//! Black-box tests of the HTTP API: the Go switchboard's `/v0`, the read
//! model and its SSE stream, Traffic Monitor, metrics, security, assets, the
//! Go switchboard's config file, and (ignored) latency under load.

mod assets;
mod go_config;
mod latency;
mod metrics;
mod read_model;
mod security;
mod stream;
mod traffic_monitor;
mod v0;
