//! Black-box tests of the core router: election, failover, hysteresis,
//! routing on/off, the standby port, admin states, operator state, shutdown,
//! accept backoff, the config CLI, the demo, https checks and the MySQL
//! edges (error packets, PROXY protocol). Each starts the real binary
//! against loopback backends (`switchboard-harness`).

mod accept_backoff;
mod admin;
mod config_cli;
mod demo;
mod election;
mod failover;
mod https_checks;
mod hysteresis;
mod mysql_edges;
mod operator_state;
mod routing;
mod shutdown;
mod standby;
