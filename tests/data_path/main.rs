//! The heavy data-path suites, run alone by nextest (.config/nextest.toml):
//! throughput and half-close, the sever race, and bus lag.

mod bus_lag;
mod sever_race;
mod throughput;
