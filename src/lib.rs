//! switchboard: a TCP router that keeps exactly one backend of a database
//! cluster active. See `ARCHITECTURE.md` for the map; start reading at
//! `runner`, which wires the parts together.

pub mod api;
pub mod bridge;
pub mod bus;
pub mod cli;
pub mod cluster;
pub mod combiner;
pub mod config;
pub mod monitor;
pub mod runner;
