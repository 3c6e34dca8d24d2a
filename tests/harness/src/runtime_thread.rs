//! A tokio runtime on a thread of its own, for fixtures that must keep
//! serving however busy the test's runtime is (the cut relays in front of
//! etcd, the recording backends): a test that saturates its own workers
//! with load must never make etcd's clients or a backend look slow.
//!
//! It never ends: the thread parks in `block_on(pending)` for the life of
//! the test process, and every fixture that uses it aborts its own tasks
//! on drop.

use tokio::runtime::Handle;

/// Starts a current-thread runtime on a new thread named `name` and hands
/// back its handle (tasks spawned on it run on that thread only).
pub(crate) fn spawn(name: &str) -> Handle {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a fixture runtime");
    let handle = rt.handle().clone();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || rt.block_on(std::future::pending::<()>()))
        .expect("spawn a fixture runtime thread");
    handle
}
