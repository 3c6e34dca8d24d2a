//! `OperatorState`: what operators decided, kept across restarts (docs/operations.md).
//!
//! Routing on/off with its message, monitoring on/off and every backend's
//! admin state are written atomically (temporary file, fsync, rename, fsync
//! of the directory) and read back before the proxy ports open. A file that
//! exists but cannot be read or parsed is an error, never a silent reset to
//! "routing on": the caller turns it into a configuration error (exit 2).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bus::AdminState;
use crate::cluster::Truth;

/// The persisted operator decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorState {
    pub routing_enabled: bool,
    #[serde(default)]
    pub routing_message: String,
    /// `None`: the configuration's `[monitor] enabled` decides.
    #[serde(default)]
    pub monitoring_enabled: Option<bool>,
    #[serde(default)]
    pub backends: BTreeMap<String, BackendDecision>,
}

/// One backend's admin state and the operator's reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendDecision {
    pub state: AdminState,
    #[serde(default)]
    pub message: String,
}

impl Default for OperatorState {
    fn default() -> Self {
        OperatorState {
            routing_enabled: true,
            routing_message: String::new(),
            monitoring_enabled: None,
            backends: BTreeMap::new(),
        }
    }
}

impl OperatorState {
    /// The operator part of a truth, ready to save.
    pub fn from_truth(truth: &Truth) -> OperatorState {
        OperatorState {
            routing_enabled: truth.routing.enabled,
            routing_message: truth.routing.message.clone(),
            monitoring_enabled: Some(truth.monitoring.enabled),
            backends: truth
                .backends
                .iter()
                .filter(|b| b.admin != AdminState::Enabled || !b.admin_message.is_empty())
                .map(|b| {
                    let decision = BackendDecision {
                        state: b.admin,
                        message: b.admin_message.clone(),
                    };
                    (b.name.clone(), decision)
                })
                .collect(),
        }
    }

    /// A backend's restored admin state and message (enabled if unknown).
    pub fn backend(&self, name: &str) -> (AdminState, String) {
        self.backends
            .get(name)
            .map(|d| (d.state, d.message.clone()))
            .unwrap_or_default()
    }

    /// Reads the file; a missing file is the default state.
    pub fn load(path: &Path) -> Result<OperatorState, String> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(OperatorState::default()),
            Err(e) => return Err(format!("state.file: cannot read {}: {e}", path.display())),
        };
        OperatorState::parse(&bytes)
            .map_err(|e| format!("state.file: {} is corrupt: {e}", path.display()))
    }

    /// The state in a file's contents, or why they are not a state file
    /// (no path in it: [`Self::load`] adds that). What `load` runs on the
    /// bytes it read; public so that the fuzz targets (`fuzz/`) run it.
    pub fn parse(bytes: &[u8]) -> Result<OperatorState, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }

    /// Writes the file atomically: temporary file, fsync, rename, fsync of
    /// the directory. A failure before the rename (a full disk, a
    /// read-only directory) leaves the old file as it was and removes the
    /// temporary one, so a full disk is not kept full by our own leftover.
    /// Once renamed, the new file is what a restart restores, so the
    /// change must then be made: a directory that cannot be fsynced is
    /// only logged (the rename's durability across a power loss is then
    /// unsure), never reported as "not saved".
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".tmp");
        let tmp = dir.join(tmp_name);
        let body = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        let written = (|| {
            let mut file = File::create(&tmp)?;
            file.write_all(&body)?;
            file.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
            tracing::warn!(dir = %dir.display(), error = %e, "operator state saved, but its directory could not be fsynced");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_corruption() {
        let dir = std::env::temp_dir().join(format!("sb-opstate-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        assert_eq!(
            OperatorState::load(&path).unwrap(),
            OperatorState::default()
        );
        let mut state = OperatorState {
            routing_enabled: false,
            routing_message: "maintenance".into(),
            monitoring_enabled: Some(false),
            ..Default::default()
        };
        state.backends.insert(
            "db-1".into(),
            BackendDecision {
                state: AdminState::Drain,
                message: "upgrade".into(),
            },
        );
        state.save(&path).unwrap();
        assert_eq!(OperatorState::load(&path).unwrap(), state);
        fs::write(&path, "{not json").unwrap();
        assert!(OperatorState::load(&path).unwrap_err().contains("corrupt"));
        // Not UTF-8 is corrupt too (the fuzz target `state_file` drives
        // `parse` on any bytes).
        fs::write(
            &path,
            b"{\"routing_enabled\": true, \"routing_message\": \"\xff\"}",
        )
        .unwrap();
        assert!(OperatorState::load(&path).unwrap_err().contains("corrupt"));
        assert!(OperatorState::parse(b"").is_err());
        assert!(OperatorState::parse(br#"{"routing_enabled": true, "extra": 1}"#).is_err());
        assert_eq!(
            OperatorState::parse(br#"{"routing_enabled": true}"#),
            Ok(OperatorState::default())
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
