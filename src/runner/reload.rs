//! Reload (docs/operations.md, "Reload"): SIGHUP, `POST /v0/reload` and
//! `switchboard reload` re-read the file the process was started with and
//! apply it without a restart.
//!
//! Every step that can fail runs before anything changes: the file is read
//! and validated, restart-only settings are refused, moved proxy ports are
//! bound, the API certificate is re-read. Only then is the new
//! configuration put in force, in this order: the `LiveConfig` (what the
//! next connection, request and reconcile read), the cluster (the backend
//! list, rise/fall, election settings; it publishes `config_reloaded`), the
//! probe tasks (restarted with the new checks, interval and timeout), the
//! proxy ports (the new socket accepts before the old one closes). Sessions
//! of kept backends are never touched; the bridge severs only those of the
//! backends that left. Must never log or answer a secret.

use std::path::Path;
use std::time::{Instant, SystemTime};

use sha2::{Digest, Sha256};
use tracing::{info, warn};

use switchboard_config::{Config, ConfigErrors, Format};
use switchboard_core::live_config::{Loaded, ReloadOutcome};

use super::{config_diff, systemd, Running};

/// Reads and validates `path`; the checksum is that of the bytes parsed.
pub(crate) fn read(path: &Path) -> Result<(Config, String), ConfigErrors> {
    match (Format::from_path(path), std::fs::read_to_string(path)) {
        (Some(format), Ok(text)) => {
            let config = Config::parse_in(&text, format, path.parent())?;
            Ok((config, checksum(text.as_bytes())))
        }
        // `load` words the problem (unknown extension, unreadable file).
        _ => {
            let config = Config::load(path)?;
            let bytes = std::fs::read(path).unwrap_or_default();
            Ok((config, checksum(&bytes)))
        }
    }
}

/// SHA-256, hex.
fn checksum(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Running {
    /// Re-reads the configuration file and applies it, or changes nothing
    /// and returns every problem.
    pub(crate) async fn reload(&mut self, actor: &str) -> ReloadOutcome {
        let began = Instant::now();
        systemd::reloading();
        let outcome = self.try_reload(actor);
        let elapsed_ms = began.elapsed().as_secs_f64() * 1000.0;
        match &outcome {
            Ok(summary) => {
                info!(actor, elapsed_ms, summary = %summary, "configuration reloaded");
                systemd::reloaded("serving; configuration reloaded");
            }
            Err(problems) => {
                self.live.count_refused();
                for problem in problems {
                    warn!(actor, problem = %problem, "configuration not reloaded");
                }
                systemd::reloaded("serving; the last reload was refused");
            }
        }
        outcome
    }

    fn try_reload(&mut self, actor: &str) -> ReloadOutcome {
        let loaded = self.live.loaded();
        let Some(path) = loaded.path.clone() else {
            return Err(vec![
                "config: this process was not started from a file (demo); nothing to re-read"
                    .into(),
            ]);
        };
        let (config, checksum) = read(&path).map_err(|e| {
            e.to_string()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })?;
        let old = loaded.config.clone();
        let problems = config_diff::restart_only(&old, &config);
        if !problems.is_empty() {
            return Err(problems);
        }
        let ports = self
            .bridge
            .bind_for(&config)
            .map_err(|e| vec![format!("proxy.listen: {e}")])?;
        self.tls.reload(&config.api).map_err(|e| vec![e])?;

        // Nothing below fails: the new configuration goes in force.
        let summary = config_diff::summary(&old, &config);
        let config = std::sync::Arc::new(config);
        self.live.store(Loaded {
            config: config.clone(),
            checksum,
            loaded_at: SystemTime::now(),
            path: Some(path),
        });
        if old.log != config.log {
            if let Some(level) = super::logging::set_level(config.log.level.as_deref()) {
                info!(level = %level, "log level changed");
            }
        }
        let changed = self.cluster.reconfigure(&config, &summary, actor);
        self.monitor_stop.cancel();
        self.monitor_stop = self.stop_background.child_token();
        switchboard_monitor::spawn(
            &config,
            &self.cluster,
            &self.tasks,
            self.monitor_stop.clone(),
        );
        let port_changes = self.bridge.reconfigure(&config, ports);
        for change in &port_changes {
            info!(change = %change, "proxy port reloaded");
        }
        if !changed.removed.is_empty() {
            info!(removed = ?changed.removed, "backends left the configuration; their sessions are severed");
        }
        Ok(summary)
    }
}
