//! A disk that refuses the state-file write (docs/operations.md,
//! "Operator state"): an operator change is saved before it takes effect,
//! so when the save fails the PATCH answers a clear 5xx, the state file
//! keeps its last content (and no temporary file is left behind), and
//! nothing changed in memory: `/v0/state` shows the same routing,
//! monitoring, admin states and active, no event was published, no
//! session was severed. Once the disk takes writes again, the same PATCH
//! works.
//!
//! Two disks: a tmpfs of 64 KiB the test mounts and fills (ENOSPC), and
//! the state directory under a read-only bind mount (EROFS). Both need
//! root; `SWITCHBOARD_SKIP_MOUNTS=1` skips them loudly elsewhere.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use switchboard_harness::mounts::{can_mount, ReadOnly, TinyDisk};
use switchboard_harness::*;

use super::{events_since, last_event, num};

/// What an operator change may touch, from one `/v0/state`.
fn operator_view(s: &Value) -> Value {
    let backends: Vec<Value> = s["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .map(|b| json!([b["name"], b["adminState"], b["adminMessage"]]))
        .collect();
    json!({
        "routing": [s["routing"]["enabled"], s["routing"]["message"]],
        "monitoring": s["monitoring"]["enabled"],
        "active": s["active"],
        "backends": backends,
        "lastEventIndex": s["lastEventIndex"],
        "severed": s["totals"]["severed"],
    })
}

/// Every write the refused disk must refuse: routing off, monitoring off,
/// both at once, a backend disabled, a drain message changed.
const REFUSED: [(&str, &str); 5] = [
    ("/v0/cluster", "trafficEnabled=false&message=disk%20full"),
    ("/v0/cluster", "monitoringEnabled=false"),
    (
        "/v0/cluster",
        "trafficEnabled=false&message=both&monitoringEnabled=false",
    ),
    ("/v0/backends/db-0", "state=disabled&message=off"),
    ("/v0/backends/db-1", "state=drain&message=another%20reason"),
];

/// Runs the refused writes against `sb` (whose state file is `file`,
/// already saved once) while `refuse` holds; `why` is the OS error text
/// the answers must carry. Returns the session that must have survived.
async fn refused_writes_change_nothing(sb: &Switchboard, file: &Path, why: &str) {
    let saved = std::fs::read_to_string(file).expect("the saved state file");
    let mut session = open_session(sb.proxy).await;
    let before = operator_view(&sb.state().await);
    let since = last_event(sb).await;
    for (path, query) in REFUSED {
        let (status, body) = sb.patch(&format!("{path}?{query}"), None).await;
        assert!(
            (500..600).contains(&status),
            "PATCH {path}?{query} on a refusing disk answered {status}: {body}"
        );
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("nothing was changed") && error.contains(why),
            "PATCH {path}?{query}: the error should say nothing changed and why: {body}"
        );
        println!("FAULT state disk ({why}): PATCH {path}?{query} -> {status} {error:?}");
    }
    let state = sb.state().await;
    assert_eq!(
        operator_view(&state),
        before,
        "a refused PATCH changed the state"
    );
    // No event but the sessions' own (the ticker reports the sessions
    // opened above, up to 100 ms late).
    let events: Vec<Value> = events_since(sb, since)
        .await
        .into_iter()
        .filter(|e| e["type"] != "sessions_changed")
        .collect();
    assert_eq!(
        events,
        Vec::<Value>::new(),
        "a refused PATCH published events"
    );
    assert_echo(&mut session, "a session opened before the refused PATCHes").await;
    let mut fresh = open_session(sb.proxy).await;
    assert_echo(&mut fresh, "routing is still on").await;
    assert_eq!(std::fs::read_to_string(file).expect("state file"), saved);
    let tmp = PathBuf::from(format!("{}.tmp", file.display()));
    assert!(!tmp.exists(), "a failed save left {} behind", tmp.display());
}

/// Starts a fleet of two with its state file at `file` and saves one
/// decision (db-1 drained), so the file exists with known content.
async fn start(fleet: &Fleet, file: &Path) -> Switchboard {
    let sb = fleet
        .switchboard(Builder::new().state_file(file.to_path_buf()))
        .await;
    let (status, body) = sb
        .patch("/v0/backends/db-1?state=drain&message=before", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(std::fs::read_to_string(file)
        .expect("state file")
        .contains("before"));
    sb
}

/// After the disk takes writes again: the refused change now works.
async fn works_again(sb: &Switchboard, file: &Path) {
    let (status, body) = sb
        .patch("/v0/cluster?trafficEnabled=false&message=disk%20back", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let state = sb.state().await;
    assert_eq!(state["routing"]["enabled"], false);
    assert!(std::fs::read_to_string(file)
        .expect("state file")
        .contains("disk back"));
    sb.wait_state(
        Duration::from_secs(3),
        "routing off severed the sessions",
        |s| num(s, "/totals/sessions") == 0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_the_patch_and_changes_nothing() {
    if !can_mount("a_full_disk_refuses_the_patch_and_changes_nothing") {
        return;
    }
    let disk = TinyDisk::mount(64);
    let file = disk.path().join("state.json");
    let fleet = Fleet::start(2).await;
    let sb = start(&fleet, &file).await;
    let filled = disk.fill();
    assert!(filled > 0, "the tmpfs took no filler");
    refused_writes_change_nothing(&sb, &file, "No space left on device").await;
    disk.free();
    works_again(&sb, &file).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_state_directory_refuses_the_patch_and_changes_nothing() {
    if !can_mount("a_read_only_state_directory_refuses_the_patch_and_changes_nothing") {
        return;
    }
    let dir = TempDir::new("state-ro");
    let file = dir.join("state.json");
    let fleet = Fleet::start(2).await;
    let sb = start(&fleet, &file).await;
    let read_only = ReadOnly::over(dir.path());
    refused_writes_change_nothing(&sb, &file, "Read-only file system").await;
    read_only.undo();
    works_again(&sb, &file).await;
}
