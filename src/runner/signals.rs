//! The signals the runner acts on: SIGTERM and SIGINT end the process (the
//! ordered shutdown), SIGHUP reloads the configuration. SIGHUP's default
//! action would kill the router and every session without the ordered
//! shutdown; a terminal hangup or an operator's `kill -HUP` must never do
//! that, so it is always caught.

use tokio::signal::unix::{signal, Signal as Stream, SignalKind};

/// What a received signal asks for.
pub(super) enum Signal {
    /// Stop, in order (the name, for the log).
    Terminate(&'static str),
    /// Re-read the configuration file.
    Reload,
}

/// The registered signal streams (registered at once, so none is missed).
pub(super) struct Signals {
    term: Stream,
    int: Stream,
    hup: Stream,
}

impl Signals {
    pub(super) fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal.
    pub(super) async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Terminate("SIGTERM"),
            _ = self.int.recv() => Signal::Terminate("SIGINT"),
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}
