//! The open-file limit: every proxied session holds two sockets (and, while
//! bulk data flows on Linux, two pipes per direction), so 10,000 sessions
//! need more than 20,000 descriptors, far above the usual soft limit of
//! 1,024. The runner raises the soft limit to the hard one at startup.

use std::io;

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
    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let (soft, hard) = super::raise_fd_limit().expect("getrlimit/setrlimit");
        assert_eq!(soft, hard);
        // Idempotent.
        assert_eq!(super::raise_fd_limit().unwrap(), (soft, hard));
    }
}
