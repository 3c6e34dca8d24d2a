//! File descriptors and memory of a process, for the exhaustion faults
//! (`tests/faults/exhaustion.rs`): how many descriptors the binary holds
//! (`/proc/PID/fd`), its open-file limit set from outside with `prlimit(2)`
//! (soft and hard: the binary raises its soft limit to the hard one at
//! start, so only the hard one binds), the test process's own limit raised
//! for tests that hold tens of thousands of sockets, and a process's
//! resident memory. Only processes this harness started are touched.

/// Descriptors process `pid` has open now.
pub fn fd_count(pid: i32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("list /proc/{pid}/fd: {e}"))
        .count() as u64
}

/// Sets process `pid`'s open-file limit, soft and hard, to `limit`.
pub fn set_fd_limit(pid: i32, limit: u64) {
    let new = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: prlimit on a process this harness started, with a valid rlimit.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit({pid}): {}", std::io::Error::last_os_error());
}

/// Raises this process's open-file limit (soft and hard) to at least
/// `want`; `Err` says why it could not (raising the hard limit needs
/// root). Children started afterwards inherit it.
pub fn raise_own_fd_limit(want: u64) -> Result<(), String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a valid, local rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        if lim.rlim_cur >= want && lim.rlim_max >= want {
            return Ok(());
        }
        let new = libc::rlimit {
            rlim_cur: want.max(lim.rlim_cur),
            rlim_max: want.max(lim.rlim_max),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &new) != 0 {
            return Err(format!(
                "setrlimit(RLIMIT_NOFILE, {want}): {} (the hard limit is {})",
                std::io::Error::last_os_error(),
                lim.rlim_max
            ));
        }
    }
    Ok(())
}

/// This process's hard open-file limit (`u64::MAX` when unlimited).
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every Unix
pub fn own_hard_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit on a valid, local rlimit struct.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(rc, 0, "getrlimit: {}", std::io::Error::last_os_error());
    if lim.rlim_max == libc::RLIM_INFINITY {
        u64::MAX
    } else {
        lim.rlim_max as u64
    }
}

/// Process `pid`'s resident memory in KiB (`VmRSS`).
pub fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}
