//! Accept errors (docs/operations.md): when the proxy runs out of file descriptors,
//! `accept` fails with EMFILE while clients keep queueing in the backlog.
//! The listener must back off rather than spin a core, say so in the log,
//! and recover by itself once descriptors are free again, without the
//! limit being raised.

use std::time::{Duration, Instant};

use switchboard_harness::*;

/// The child's CPU time so far, in clock ticks (utime + stime).
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // The command name (field 2) may contain spaces; count from after it.
    let after = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // Fields 14 and 15 of the whole line are 12 and 13 after the name.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// Sets the child's open-file limit, soft and hard.
fn set_fd_limit(pid: i32, limit: u64) {
    let new = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: prlimit on a process we started, with a valid rlimit.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emfile_on_accept_backs_off_without_spinning_and_recovers() {
    let (sb, [_b0], [_h0]) = Greeters::start([0]).await.switchboard(Builder::new()).await;
    sb.wait_active(Some("b0"), Duration::from_secs(5)).await;
    let pid = sb.pid();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("list /proc/PID/fd")
        .count() as u64;
    // Room for a handful of sessions (two descriptors each), not for 20.
    set_fd_limit(pid, open + 8);

    // Connects complete in the kernel's backlog whatever the proxy does.
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(connect(sb.proxy).await);
    }
    let log_deadline = Instant::now() + Duration::from_secs(5);
    while sb.log_lines("accept failed; backing off").is_empty() {
        assert!(
            Instant::now() < log_deadline,
            "no accept failure was logged: the limit did not bite"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Deliberately let one second pass with EMFILE persisting: a listener
    // that retried at once would burn most of a core in it.
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = cpu_ticks(pid) - before;
    eprintln!("CPU while accept fails: {used} ticks in 1 s");
    assert!(used < 30, "the accept loop spins: {used} ticks in 1 s");
    assert!(!sb.log_lines("accept failed").is_empty());

    // Free the descriptors: the proxy must serve again by itself.
    drop(clients);
    let (mut s, took) = wait_greeting_from(sb.proxy, "b0", Duration::from_secs(15)).await;
    eprintln!("served again {took:?} after the clients left");
    assert_echo(&mut s, "after recovering from EMFILE").await;
}
