//! systemd integration (`Type=notify`, `WatchdogSec=`): the service
//! notifications of sd_notify(3) sent to the datagram socket named by
//! `NOTIFY_SOCKET`, through the `sd-notify` crate.
//!
//! - [`ready`]: `READY=1` with a `STATUS=` line, sent once `runner::start`
//!   returned (proxy ports bound, first verdicts taken, routing decided),
//!   so `systemctl start` returns only when clients can be served.
//! - [`reloading`] / [`reloaded`]: `RELOADING=1` with `MONOTONIC_USEC=`,
//!   then `READY=1`, around a configuration reload.
//! - [`stopping`] (and [`stopping_on_signal`]): `STOPPING=1` as soon as the
//!   ordered shutdown begins.
//! - [`Watchdog`]: `WATCHDOG=1` every half `WATCHDOG_USEC`, from a task on
//!   the runtime, so a runtime that stops scheduling tasks stops the pings
//!   and systemd restarts the service.
//!
//! Every function is a no-op without `NOTIFY_SOCKET` (not started by
//! systemd), and the watchdog runs only when systemd enabled it for this
//! very process (`WATCHDOG_PID`, when set, is ours). A notification that
//! cannot be sent is logged and never stops the router: it must never
//! fail, block the data path, or change what the router does.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// Sends `states`; logs (never fails) when the socket refuses.
fn notify(what: &str, states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    match sd_notify::notify(states) {
        Ok(()) => debug!(notification = what, "sent to systemd"),
        Err(e) => warn!(notification = what, error = %e, "could not notify systemd"),
    }
}

/// `READY=1` and `STATUS=status`: startup is complete.
pub(crate) fn ready(status: &str) {
    notify(
        "READY=1",
        &[NotifyState::Ready, NotifyState::Status(status)],
    );
}

/// `RELOADING=1` with the monotonic clock (systemd 253's reload protocol):
/// a reload began; [`reloaded`] ends it.
pub(crate) fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify("RELOADING=1", &[NotifyState::Reloading, now]),
        Err(_) => notify("RELOADING=1", &[NotifyState::Reloading]),
    }
}

/// `READY=1` and `STATUS=status` after a reload, applied or refused.
pub(crate) fn reloaded(status: &str) {
    ready(status);
}

/// `STOPPING=1`: the ordered shutdown began.
pub(crate) fn stopping() {
    notify(
        "STOPPING=1",
        &[NotifyState::Stopping, NotifyState::Status("stopping")],
    );
}

/// A task that sends [`stopping`] at the first SIGTERM or SIGINT. The
/// signals are registered here, before it returns, so none is missed; the
/// runner's own handler (which does the shutdown) gets them too.
pub(crate) fn stopping_on_signal() -> std::io::Result<JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        stopping();
    }))
}

/// The watchdog's pings; aborted when dropped (at the process's end).
pub(crate) struct Watchdog(Option<JoinHandle<()>>);

impl Watchdog {
    /// Starts pinging every half `WATCHDOG_USEC` when systemd enabled the
    /// watchdog for this process; otherwise does nothing. Needs a runtime.
    pub(crate) fn start() -> Watchdog {
        if std::env::var_os("NOTIFY_SOCKET").is_none() {
            return Watchdog(None);
        }
        let usec = std::env::var("WATCHDOG_USEC").ok();
        let pid = std::env::var("WATCHDOG_PID").ok();
        let Some(every) = ping_interval(usec.as_deref(), pid.as_deref(), std::process::id()) else {
            return Watchdog(None);
        };
        debug!(every_ms = every.as_millis() as u64, "systemd watchdog on");
        Watchdog(Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut warned = false;
            loop {
                tick.tick().await;
                // One warning, not one per ping, if the socket goes away.
                if let Err(e) = sd_notify::notify(&[NotifyState::Watchdog]) {
                    if !warned {
                        warn!(error = %e, "could not send the systemd watchdog ping");
                        warned = true;
                    }
                }
            }
        })))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// How often to ping: half of `WATCHDOG_USEC` (as sd_watchdog_enabled(3)
/// advises), or `None` when the watchdog is off: no or a zero or unreadable
/// `WATCHDOG_USEC`, or a `WATCHDOG_PID` that is not `own_pid` (the variables
/// were inherited from a parent the watchdog is meant for).
fn ping_interval(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(own_pid) {
            return None;
        }
    }
    Some(Duration::from_micros(usec / 2).max(Duration::from_millis(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_at_half_the_watchdog_timeout() {
        assert_eq!(
            ping_interval(Some("30000000"), None, 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            ping_interval(Some("200000"), Some("7"), 7),
            Some(Duration::from_millis(100))
        );
    }

    #[test]
    fn off_without_a_usable_timeout_or_for_another_process() {
        assert_eq!(ping_interval(None, None, 7), None);
        assert_eq!(ping_interval(Some("0"), None, 7), None);
        assert_eq!(ping_interval(Some("soon"), None, 7), None);
        assert_eq!(ping_interval(Some("200000"), Some("8"), 7), None);
        assert_eq!(ping_interval(Some("200000"), Some("x"), 7), None);
    }

    #[test]
    fn a_tiny_timeout_still_gives_a_usable_interval() {
        assert_eq!(
            ping_interval(Some("1"), None, 7),
            Some(Duration::from_millis(1))
        );
    }
}
