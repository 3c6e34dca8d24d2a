//! Waits for the signals that end the process (SIGTERM, SIGINT), and keeps
//! SIGHUP from ending it: its default action would kill the router (and
//! every session) without the ordered shutdown, which a terminal hangup or
//! an operator used to `kill -HUP` for a reload must never do. Reloading the
//! configuration is not built yet, so SIGHUP is logged and ignored.

use tracing::warn;

/// Resolves with the name of the first terminating signal received.
pub(super) async fn terminated() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok("SIGTERM"),
            _ = int.recv() => return Ok("SIGINT"),
            _ = hup.recv() => warn!(
                "SIGHUP received: reloading the configuration is not supported yet; ignored (SIGTERM stops)"
            ),
        }
    }
}
