//! Black-box tests of the core router: election, failover, hysteresis,
//! routing on/off, the standby port, admin states, operator state, shutdown,
//! accept backoff, the config CLI, the demo, https checks, the MySQL
//! edges (error packets, PROXY protocol), `max_sessions`, systemd's notifications
//! (READY, WATCHDOG, STOPPING), what packaging takes from the binary
//! (`--version`, the generated man pages and completions), and sessions
//! whose peer vanished or never finishes a half-close. Each starts the real binary
//! against loopback backends (`switchboard-harness`).

mod accept_backoff;
mod admin;
mod config_cli;
mod demo;
mod election;
mod failover;
mod https_checks;
mod hysteresis;
mod max_sessions;
mod mysql_edges;
mod operator_state;
mod packaging;
mod reload;
mod reload_load;
mod routing;
mod shutdown;
mod standby;
mod systemd;
mod vanished_peers;
