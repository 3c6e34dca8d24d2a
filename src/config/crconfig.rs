//! The operator-supplied Traffic Router configuration (`CrConfig`) that
//! `[traffic_monitor] crconfig_file` names, served at `/publish/CrConfig`
//! (docs/configuration.md, docs/api.md).
//!
//! Owns reading one version of that file and deciding whether Traffic
//! Control's own code would take it: it must be a JSON object whose
//! sections decode into `lib/go-tc`'s `CRConfig` (each known section an
//! object) and whose `stats` carry what Traffic Monitor's `CRConfigValid`
//! and Traffic Router's `ConfigHandler` require (`CDN_name`, a string, and
//! `date`, whole seconds). The same check runs at load (a problem is a
//! configuration error) and when the API re-reads a changed file (a problem
//! keeps the last good version). It keeps the bytes exactly as written,
//! since Traffic Router compares snapshots byte for byte, and it never logs:
//! the caller decides what a problem means.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value;

/// The sections of Traffic Control's `CRConfig` that, when present, must be
/// JSON objects for Go's decoder (`lib/go-tc/crconfig.go`).
const OBJECT_SECTIONS: &[&str] = &[
    "config",
    "contentServers",
    "contentRouters",
    "deliveryServices",
    "edgeLocations",
    "trafficRouterLocations",
    "monitors",
    "topologies",
];

/// The optional string fields of `CRConfigStats`.
const STATS_STRINGS: &[&str] = &["tm_host", "tm_path", "tm_user", "tm_version"];

/// `crconfig_file` as loaded: where it is and the version read at load.
#[derive(Debug, Clone)]
pub struct CrConfigFile {
    /// The file (resolved against the configuration file's directory).
    pub path: PathBuf,
    /// The version validated when the configuration was loaded.
    pub initial: Arc<CrConfigDoc>,
}

/// One good version of the file.
pub struct CrConfigDoc {
    /// The bytes exactly as read.
    pub bytes: Arc<[u8]>,
    /// Its `stats` section, as Traffic Monitor's `/api/crconfig-history` shows it.
    pub stats: CrConfigStats,
    /// The file's modification time and size when read: a change of either
    /// means a new version to read.
    pub stamp: FileStamp,
    /// When this version was read.
    pub read_at: SystemTime,
}

/// The bytes can be large; `Debug` shows their size only.
impl fmt::Debug for CrConfigDoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrConfigDoc")
            .field("bytes", &self.bytes.len())
            .field("stats", &self.stats)
            .field("stamp", &self.stamp)
            .finish()
    }
}

/// What tells one version of a file from the next without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub modified: Option<SystemTime>,
    pub len: u64,
}

impl FileStamp {
    /// The stamp of `path` now.
    pub fn of(path: &Path) -> std::io::Result<FileStamp> {
        let meta = std::fs::metadata(path)?;
        Ok(FileStamp::from_metadata(&meta))
    }

    /// The stamp in `meta`.
    pub fn from_metadata(meta: &std::fs::Metadata) -> FileStamp {
        FileStamp {
            modified: meta.modified().ok(),
            len: meta.len(),
        }
    }
}

/// `lib/go-tc`'s `CRConfigStats`: `CDN_name` and `date` are required (as
/// Traffic Monitor's `CRConfigValid` and Traffic Router require them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrConfigStats {
    pub cdn_name: String,
    /// Seconds since the Unix epoch (the snapshot's time).
    pub date: i64,
    /// `tm_host`, `tm_path`, `tm_user`, `tm_version` when present, in that order.
    pub strings: Vec<(&'static str, String)>,
}

/// Reads and checks the file at `path`; the error says what is wrong
/// (never the file's content).
pub fn read_crconfig(path: &Path) -> Result<CrConfigDoc, String> {
    let stamp =
        FileStamp::of(path).map_err(|e| format!("cannot read {}: {}", path.display(), e.kind()))?;
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read {}: {}", path.display(), e.kind()))?;
    crconfig_from_bytes(bytes, stamp).map_err(|e| format!("{}: {e}", path.display()))
}

/// Checks `bytes` (read when the file had `stamp`) as a CrConfig.
pub fn crconfig_from_bytes(bytes: Vec<u8>, stamp: FileStamp) -> Result<CrConfigDoc, String> {
    let stats = check_crconfig(&bytes)?;
    Ok(CrConfigDoc {
        bytes: bytes.into(),
        stats,
        stamp,
        read_at: SystemTime::now(),
    })
}

/// Whether Traffic Control's decoder and validity rules take `bytes`; its
/// `stats` when they do.
pub fn check_crconfig(bytes: &[u8]) -> Result<CrConfigStats, String> {
    // serde_json's messages give a position, never the offending text.
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Object(doc) = doc else {
        return Err("must be a JSON object (a Traffic Ops CDN snapshot)".into());
    };
    for section in OBJECT_SECTIONS {
        match doc.get(*section) {
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(_) => return Err(format!("`{section}` must be an object")),
        }
    }
    let Some(Value::Object(stats)) = doc.get("stats") else {
        return Err("`stats` must be an object with `CDN_name` and `date`".into());
    };
    let cdn_name = match stats.get("CDN_name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err("`stats.CDN_name` must be a non-empty string".into()),
    };
    let date = match stats.get("date").and_then(Value::as_i64) {
        Some(d) => d,
        None => return Err("`stats.date` must be a whole number of seconds".into()),
    };
    let mut strings = Vec::new();
    for key in STATS_STRINGS {
        match stats.get(*key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => strings.push((*key, s.clone())),
            Some(_) => return Err(format!("`stats.{key}` must be a string")),
        }
    }
    Ok(CrConfigStats {
        cdn_name,
        date,
        strings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_what_traffic_control_takes() {
        let good = br#"{"config":{},"monitors":{"sb":{"fqdn":"sb.example","port":8080,"status":"ONLINE"}},
            "stats":{"CDN_name":"cdn1","date":1700000000,"tm_host":"to.example","tm_version":"8"}}"#;
        let stats = check_crconfig(good).unwrap();
        assert_eq!(stats.cdn_name, "cdn1");
        assert_eq!(stats.date, 1_700_000_000);
        assert_eq!(
            stats.strings,
            [
                ("tm_host", "to.example".to_string()),
                ("tm_version", "8".to_string())
            ]
        );
        for (bad, says) in [
            (&b"{not json"[..], "not valid JSON"),
            (b"[]", "JSON object"),
            (br#"{"stats":{"date":1}}"#, "CDN_name"),
            (br#"{"stats":{"CDN_name":"c","date":"1"}}"#, "stats.date"),
            (br#"{"stats":{"CDN_name":"c","date":1.5}}"#, "stats.date"),
            (
                br#"{"monitors":[],"stats":{"CDN_name":"c","date":1}}"#,
                "monitors",
            ),
            (
                br#"{"stats":{"CDN_name":"c","date":1,"tm_host":2}}"#,
                "tm_host",
            ),
        ] {
            let e = check_crconfig(bad).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }

    /// A missing or invalid file is a configuration error naming the key;
    /// a good one is loaded with its bytes as written.
    #[test]
    fn crconfig_file_is_checked_at_load() {
        let dir = std::env::temp_dir().join(format!("sb-config-crconfig-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("crconfig.json");
        let config = |path: &Path| {
            format!(
                "[proxy]\nlisten = \"127.0.0.1:3306\"\n[api]\npassword = \"pw\"\n\
                 [traffic_monitor]\ncrconfig_file = {:?}\n\
                 [[backends]]\nname = \"db-0\"\nhost = \"127.0.0.1\"\nport = 3306\ncheck = {{ kind = \"tcp\" }}\n",
                path.display().to_string()
            )
        };
        let parse = |text: &str| crate::native::parse_with_env(text, &|_| None);

        let e = parse(&config(&dir.join("nope.json")))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("traffic_monitor.crconfig_file: cannot read"),
            "{e}"
        );
        std::fs::write(&file, "{\"stats\": ").expect("write");
        let e = parse(&config(&file)).unwrap_err().to_string();
        assert!(e.contains("crconfig.json: not valid JSON"), "{e}");

        let text = "{\"stats\": {\"CDN_name\": \"cdn1\", \"date\": 7}}\n";
        std::fs::write(&file, text).expect("write");
        let cfg = parse(&config(&file)).expect("valid");
        let loaded = cfg.traffic_monitor.crconfig.expect("crconfig");
        assert_eq!(loaded.path, file);
        assert_eq!(&loaded.initial.bytes[..], text.as_bytes());
        assert_eq!(loaded.initial.stats.date, 7);
        assert_eq!(loaded.initial.stamp.len, text.len() as u64);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
