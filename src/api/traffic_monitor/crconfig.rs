//! `/publish/CrConfig` and `/api/crconfig-history`: the operator's
//! `[traffic_monitor] crconfig_file`, passed through as Traffic Monitor
//! passes Traffic Ops' snapshot through (`datareq/crconfig.go`), and the
//! history of the versions served (`datareq/crconfighist.go`,
//! `towrap.CRConfigStat`).
//!
//! Owns noticing a new version: every request compares the file's
//! modification time and size with the version served, and only a change
//! reads the file (so no reload hook is needed, and an unchanged file costs
//! one `stat`). A new version is taken when `switchboard_config` checks it
//! good and, as Traffic Monitor's `CRConfigValid` requires, it names the
//! same `CDN_name` and is not older (`date`); otherwise a warning is logged
//! once for that version and the last good one is served on. Never writes
//! the file, never logs its content.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Serialize, Serializer};

use super::super::error::ApiError;
use super::super::{rfc3339, App};
use switchboard_config::{
    crconfig_from_bytes, CrConfigDoc, CrConfigFile, CrConfigStats, FileStamp,
};

/// How many versions `/api/crconfig-history` keeps (Traffic Monitor's
/// `crconfig_history_count` default).
const HISTORY: usize = 100;

/// `request_address` of every entry: where the snapshot came from; Traffic
/// Monitor writes this address for a snapshot read from its own file.
const LOCAL_ADDRESS: &str = "127.0.0.1";

/// The version served, what was refused, and the history.
pub(crate) struct CrConfigSource {
    inner: Mutex<Inner>,
}

struct Inner {
    /// The file and its version served; `None` without `crconfig_file`.
    current: Option<(PathBuf, Arc<CrConfigDoc>)>,
    /// The stamp of the last version refused (or unreadable), so that its
    /// warning is logged once.
    refused: Option<FileStamp>,
    /// Oldest first.
    history: VecDeque<HistoryEntry>,
}

/// One entry of `/api/crconfig-history` (`towrap.CRConfigStat`).
#[derive(Clone, Serialize)]
struct HistoryEntry {
    /// Always `null`: the history lists versions served, and Go decodes
    /// only `null` into `CRConfigStat.Err` (an `error` interface).
    error: Option<()>,
    request_address: &'static str,
    #[serde(serialize_with = "rfc3339::serialize")]
    request_time: SystemTime,
    #[serde(serialize_with = "stats")]
    stats: CrConfigStats,
}

/// `tc.CRConfigStats`: `CDN_name`, `date`, then the `tm_*` strings present.
fn stats<S: Serializer>(s: &CrConfigStats, ser: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = ser.serialize_map(Some(2 + s.strings.len()))?;
    map.serialize_entry("CDN_name", &s.cdn_name)?;
    map.serialize_entry("date", &s.date)?;
    for (key, value) in &s.strings {
        map.serialize_entry(key, value)?;
    }
    map.end()
}

impl HistoryEntry {
    fn of(doc: &CrConfigDoc) -> HistoryEntry {
        HistoryEntry {
            error: None,
            request_address: LOCAL_ADDRESS,
            request_time: doc.read_at,
            stats: doc.stats.clone(),
        }
    }
}

impl Inner {
    /// Lists `doc` in the history unless it has the CDN and date of the
    /// last entry (as `CRConfigHistoryThreadsafe.Add` skips a repeat);
    /// whether it did.
    fn record(&mut self, doc: &CrConfigDoc) -> bool {
        let last = self
            .history
            .back()
            .map(|h| (&h.stats.cdn_name, h.stats.date));
        if last == Some((&doc.stats.cdn_name, doc.stats.date)) {
            return false;
        }
        self.history.push_back(HistoryEntry::of(doc));
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        true
    }
}

impl CrConfigSource {
    /// Starts from the version the configuration loaded.
    pub(crate) fn new(file: Option<&CrConfigFile>) -> CrConfigSource {
        let current = file.map(|f| (f.path.clone(), f.initial.clone()));
        let history = current
            .iter()
            .map(|(_, doc)| HistoryEntry::of(doc))
            .collect();
        CrConfigSource {
            inner: Mutex::new(Inner {
                current,
                refused: None,
                history,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update is applied whole, so a poisoned lock's data is good.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The version to serve now: the served one, or a newer good version
    /// of the file when it changed. `None` without `crconfig_file`.
    pub(super) async fn current(&self, file: Option<&CrConfigFile>) -> Option<Arc<CrConfigDoc>> {
        let file = file?;
        let served = {
            let mut inner = self.lock();
            // A reload that names another file starts from its load.
            if inner.current.as_ref().map(|(p, _)| p) != Some(&file.path) {
                inner.current = Some((file.path.clone(), file.initial.clone()));
                inner.refused = None;
                inner.record(&file.initial);
            }
            let (_, doc) = inner.current.as_ref()?;
            doc.clone()
        };
        let stamp = match tokio::fs::metadata(&file.path).await {
            Ok(meta) => FileStamp::from_metadata(&meta),
            Err(e) => {
                let gone = FileStamp {
                    modified: None,
                    len: 0,
                };
                self.refuse(&file.path, gone, &format!("cannot read it: {}", e.kind()));
                return Some(served);
            }
        };
        if stamp == served.stamp || self.lock().refused == Some(stamp) {
            return Some(served);
        }
        let checked = match tokio::fs::read(&file.path).await {
            Ok(bytes) => crconfig_from_bytes(bytes, stamp).and_then(|doc| newer(&served, doc)),
            Err(e) => Err(format!("cannot read it: {}", e.kind())),
        };
        match checked {
            Ok(doc) => {
                let doc = Arc::new(doc);
                let mut inner = self.lock();
                inner.refused = None;
                if inner.record(&doc) {
                    tracing::info!(
                        path = %file.path.display(),
                        cdn = %doc.stats.cdn_name,
                        date = doc.stats.date,
                        "traffic_monitor.crconfig_file: serving a new version"
                    );
                }
                inner.current = Some((file.path.clone(), doc.clone()));
                Some(doc)
            }
            Err(why) => {
                self.refuse(&file.path, stamp, &why);
                Some(served)
            }
        }
    }

    /// Logs once per version that `path` (at `stamp`) is refused, and why.
    fn refuse(&self, path: &Path, stamp: FileStamp, why: &str) {
        let mut inner = self.lock();
        if inner.refused != Some(stamp) {
            inner.refused = Some(stamp);
            tracing::warn!(
                path = %path.display(),
                problem = why,
                "traffic_monitor.crconfig_file: new version refused; serving the last good one"
            );
        }
    }
}

/// Traffic Monitor's `CRConfigValid`: the same CDN, not older.
fn newer(served: &CrConfigDoc, doc: CrConfigDoc) -> Result<CrConfigDoc, String> {
    if doc.stats.cdn_name != served.stats.cdn_name {
        return Err(format!(
            "stats.CDN_name {:?} differs from the served {:?}",
            doc.stats.cdn_name, served.stats.cdn_name
        ));
    }
    if doc.stats.date < served.stats.date {
        return Err(format!(
            "stats.date {} is older than the served {}",
            doc.stats.date, served.stats.date
        ));
    }
    Ok(doc)
}

/// `GET /publish/CrConfig` (Traffic Router asks `?json`): the file's bytes
/// as written, `application/json`, with `Age` (seconds since this version
/// was read), as `datareq.WrapAgeErr` answers.
pub(crate) async fn cr_config(State(app): State<App>) -> Response {
    let tm = &app.traffic_monitor;
    match tm
        .crconfig
        .current(app.ctx.config.get().traffic_monitor.crconfig.as_ref())
        .await
    {
        Some(doc) => {
            let age = SystemTime::now()
                .duration_since(doc.read_at)
                .map_or(0, |d| d.as_secs());
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/json".to_string()),
                    (header::AGE, age.to_string()),
                ],
                Bytes::from_owner(doc.bytes.clone()),
            )
                .into_response()
        }
        None => {
            tm.count_error();
            ApiError::not_found("no CrConfig: set [traffic_monitor] crconfig_file", None)
                .into_response()
        }
    }
}

/// `GET /api/crconfig-history`: the versions served, oldest first.
pub(crate) async fn history(State(app): State<App>) -> Response {
    let tm = &app.traffic_monitor;
    // Notice a changed file here too, as Traffic Monitor's poller would.
    let _ = tm
        .crconfig
        .current(app.ctx.config.get().traffic_monitor.crconfig.as_ref())
        .await;
    let entries: Vec<HistoryEntry> = tm.crconfig.lock().history.iter().cloned().collect();
    Json(entries).into_response()
}
