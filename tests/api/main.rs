//! Black-box tests of the HTTP API: the Go switchboard's `/v0`, the read
//! model and its SSE stream, the 15-minute history, Traffic Monitor, metrics
//! (and the Grafana dashboard's queries), security, the API over TLS,
//! assets, the Go switchboard's config file, the OpenAPI document against
//! the routes, bad input (wrong methods, malformed queries and bodies, path
//! traversal, unknown backends) and operator messages with any Unicode or
//! control character, the API's limits (slowloris, header size, request
//! time, connections), and (ignored) latency under load.

mod assets;
mod bad_input;
mod bad_paths;
mod go_config;
mod grafana;
mod history;
mod latency;
mod limits;
mod messages;
mod metrics;
mod openapi;
mod read_model;
mod security;
mod stream;
mod tls;
mod traffic_monitor;
mod v0;
