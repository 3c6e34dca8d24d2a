//! The open-file limit: every proxied session holds two sockets (and, while
//! bulk data flows on Linux, two pipes per direction), so 10,000 sessions
//! need more than 20,000 descriptors, far above the usual soft limit of
//! 1,024. The runner raises the soft limit to the hard one at startup.
//!
//! It also derives the session limit when `proxy.max_sessions` is not set
//! ([`sessions_allowed`]), as HAProxy derives its `maxconn` from `ulimit
//! -n`: as many sessions as the descriptors left after everything else the
//! process may need, so that sessions alone never run it out of
//! descriptors (EMFILE would also refuse the API's and the probes'
//! connections).

use std::io;

use switchboard_config::Config;

/// Descriptors kept for what is neither a session nor an API connection:
/// the listening sockets, the runtimes' epoll and wake-up descriptors, the
/// closer thread, the state file, logs, and the pipes of the sessions that
/// move bulk data at that moment (four each; without one a session copies
/// instead, `splice.rs`).
pub(crate) const RESERVED: u64 = 256;

/// Descriptors kept per backend: its probe's connection (a kept `mysql`
/// one, an HTTP one) and a second while it reconnects.
pub(crate) const PER_BACKEND: u64 = 2;

/// The session limit `config` gets when `proxy.max_sessions` is not set,
/// for an open-file limit of `fd_limit`: two descriptors per session
/// (client and backend sockets) out of what is left after [`RESERVED`],
/// [`PER_BACKEND`] per backend and every API listener's
/// `api.max_connections`; at least 1.
pub(crate) fn sessions_allowed(config: &Config, fd_limit: u64) -> u64 {
    let api = &config.api;
    let listeners = 1 + [api.health_listen, api.metrics_listen, api.aggregator_listen]
        .iter()
        .filter(|l| l.is_some())
        .count() as u64;
    let reserved = RESERVED
        + PER_BACKEND * config.backends.len() as u64
        + listeners * api.limits.max_connections as u64;
    (fd_limit.saturating_sub(reserved) / 2).max(1)
}

/// The soft open-file limit now (`u64::MAX` for unlimited); `None` where
/// it cannot be read.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every Unix
pub(crate) fn open_file_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit on a valid, local rlimit struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    Some(if lim.rlim_cur == libc::RLIM_INFINITY {
        u64::MAX
    } else {
        lim.rlim_cur as u64
    })
}

#[cfg(not(unix))]
pub(crate) fn open_file_limit() -> Option<u64> {
    None
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the new
/// `(soft, hard)`. Never lowers anything. Elsewhere than Unix it does
/// nothing and returns `(0, 0)`.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every Unix
pub fn raise_fd_limit() -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a valid, local rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                return Err(io::Error::last_os_error());
            }
            lim = raised;
        }
    }
    Ok((lim.rlim_cur as u64, lim.rlim_max as u64))
}

#[cfg(not(unix))]
pub fn raise_fd_limit() -> io::Result<(u64, u64)> {
    Ok((0, 0))
}

#[cfg(all(test, unix))]
mod tests {
    use switchboard_config::{Config, Format};

    #[test]
    fn the_derived_session_limit_leaves_the_api_and_probes_their_descriptors() {
        let text = "[proxy]\nlisten = \"127.0.0.1:3306\"\n[api]\npassword = \"pw\"\n\
                    health_listen = \"127.0.0.1:1936\"\n\
                    [[backends]]\nname = \"a\"\nhost = \"h\"\nport = 1\ncheck = { kind = \"tcp\" }\n";
        let config = Config::parse(text, Format::Toml).expect("valid");
        // 256 reserved + 2 for the backend + 2 listeners × 256.
        assert_eq!(super::sessions_allowed(&config, 20_000), (20_000 - 770) / 2);
        assert_eq!(super::sessions_allowed(&config, 100), 1, "never 0");
        assert!(super::open_file_limit().is_some_and(|n| n > 0));
    }

    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let (soft, hard) = super::raise_fd_limit().expect("getrlimit/setrlimit");
        assert_eq!(soft, hard);
        // Idempotent.
        assert_eq!(super::raise_fd_limit().unwrap(), (soft, hard));
    }
}
