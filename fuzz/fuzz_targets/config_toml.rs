//! The native TOML configuration parser (`Config::parse`, `Format::Toml`) on any
//! text; the checks are in `shared/config_check.rs`.
#![no_main]

#[path = "shared/config_check.rs"]
mod config_check;

use libfuzzer_sys::fuzz_target;
use switchboard_config::Format;

fuzz_target!(|data: &[u8]| config_check::check(data, Format::Toml));
