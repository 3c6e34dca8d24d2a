//! `[log]`: the log level the file asks for (docs/configuration.md), so a
//! reload can change it without a restart.
//!
//! Only validates the spelling; the binary applies it (`RUST_LOG`, when
//! set, still wins: it is the per-module override for debugging).

use super::tree::Reader;
use super::Problems;

pub(crate) const LOG_KEYS: &[&str] = &["level"];

/// The levels `--log-level` and `log.level` accept.
pub const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

/// `[log]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogConfig {
    /// `None`: the `--log-level` flag decides.
    pub level: Option<String>,
}

/// Reads `[log]`.
pub(crate) fn read_log(r: &Reader<'_>, p: &mut Problems) -> LogConfig {
    r.deny_unknown(LOG_KEYS, p);
    LogConfig {
        level: r
            .str("level", p)
            .check(&r.path("level"), p, |level| {
                if LOG_LEVELS.contains(&level.as_str()) {
                    Ok(level)
                } else {
                    Err(format!(
                        "must be one of {} (found {level:?})",
                        LOG_LEVELS.join(", ")
                    ))
                }
            })
            .opt(),
    }
}
