//! Waits for the signals that end the process (SIGTERM, SIGINT).

/// Resolves with the name of the first terminating signal received.
pub(super) async fn terminated() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}
