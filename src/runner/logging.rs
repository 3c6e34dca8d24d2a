//! Log output: `tracing` as text or JSON lines on stderr.
//!
//! The level comes from `--log-level` (or `RUST_LOG` when set, for
//! per-module filters). Nothing logged anywhere may contain a secret: the
//! password is a `config::Secret` and request headers are never logged.

use tracing_subscriber::EnvFilter;

/// The two line formats of docs/operations.md ("Logs").
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber; `level` is `error|warn|info|debug|trace`.
pub(crate) fn init(level: &str, format: LogFormat) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::try_new(spec),
        _ => EnvFilter::try_new(format!("warn,switchboard={level}")),
    }
    .map_err(|e| format!("--log-level {level}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| e.to_string())
}
