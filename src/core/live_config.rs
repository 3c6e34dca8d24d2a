//! [`LiveConfig`]: the configuration in force, what a reload replaces, and
//! the queue through which the API asks the runner for a reload.
//!
//! Every part that honours a setting "from the next probe, connection or
//! request on" reads it here at that moment (one atomic load), so a reload
//! is one swap. The runner is the only writer: it parses the file, applies
//! the parts that need more than a swap (the backend set, the listeners, the
//! probe tasks, certificates) and then stores the new [`Loaded`]. The API
//! cannot import the runner; it sends a [`ReloadRequest`] and awaits the
//! answer. Must never hold a secret outside the `Config` (whose secrets are
//! redacted) and never parse a file itself.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot};

use switchboard_config::Config;

/// One loaded configuration with where and when it came from.
#[derive(Debug)]
pub struct Loaded {
    pub config: Arc<Config>,
    /// SHA-256 of the file's bytes (hex); `"built-in"` for the demo's.
    pub checksum: String,
    pub loaded_at: SystemTime,
    /// The file reloads re-read; `None` when there is none (the demo).
    pub path: Option<PathBuf>,
}

/// What a reload did: a summary, or every problem of a file that was not
/// applied.
pub type ReloadOutcome = Result<String, Vec<String>>;

/// A reload asked for by someone other than the runner's signal handler.
#[derive(Debug)]
pub struct ReloadRequest {
    /// Who asked (the API's caller), for the log and the event.
    pub actor: String,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<ReloadOutcome>,
}

/// Shared handle; cheap to clone.
#[derive(Clone)]
pub struct LiveConfig {
    inner: Arc<Inner>,
}

struct Inner {
    current: ArcSwap<Loaded>,
    /// Reloads applied / refused.
    applied: AtomicU64,
    refused: AtomicU64,
    requests: mpsc::Sender<ReloadRequest>,
    /// Taken once by the runner.
    receiver: Mutex<Option<mpsc::Receiver<ReloadRequest>>>,
}

/// Pending reload requests beyond the one being applied are refused rather
/// than queued without bound.
const QUEUE: usize = 8;

impl LiveConfig {
    pub fn new(loaded: Loaded) -> LiveConfig {
        let (requests, receiver) = mpsc::channel(QUEUE);
        LiveConfig {
            inner: Arc::new(Inner {
                current: ArcSwap::from_pointee(loaded),
                applied: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                requests,
                receiver: Mutex::new(Some(receiver)),
            }),
        }
    }

    /// A handle over a fixed configuration (unit tests, tools).
    pub fn fixed(config: Config) -> LiveConfig {
        LiveConfig::new(Loaded {
            config: Arc::new(config),
            checksum: "built-in".into(),
            loaded_at: SystemTime::now(),
            path: None,
        })
    }

    /// The configuration in force.
    pub fn get(&self) -> Arc<Config> {
        self.inner.current.load().config.clone()
    }

    /// The configuration in force with its checksum and load time.
    pub fn loaded(&self) -> Arc<Loaded> {
        self.inner.current.load_full()
    }

    /// Puts a reloaded configuration in force and counts the reload.
    pub fn store(&self, loaded: Loaded) {
        self.inner.current.store(Arc::new(loaded));
        self.inner.applied.fetch_add(1, Relaxed);
    }

    /// Counts a reload whose file was refused.
    pub fn count_refused(&self) {
        self.inner.refused.fetch_add(1, Relaxed);
    }

    /// (applied, refused) reloads since start.
    pub fn reloads(&self) -> (u64, u64) {
        (
            self.inner.applied.load(Relaxed),
            self.inner.refused.load(Relaxed),
        )
    }

    /// Asks the runner for a reload and waits for its outcome; `None` when
    /// no runner takes requests (unit tests) or too many are queued.
    pub async fn request_reload(&self, actor: &str) -> Option<ReloadOutcome> {
        let (reply, outcome) = oneshot::channel();
        let request = ReloadRequest {
            actor: actor.to_string(),
            reply,
        };
        self.inner.requests.try_send(request).ok()?;
        outcome.await.ok()
    }

    /// The request queue, for the runner (once).
    pub fn take_requests(&self) -> Option<mpsc::Receiver<ReloadRequest>> {
        self.inner
            .receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}
