//! Where the database tests' programs are and how they run: Debian's
//! `mariadbd` and `mariadb-install-db` (found once, with the install hint
//! when missing), the `SWITCHBOARD_SKIP_DB_TESTS` switch, and the user,
//! environment and process group of every program started for a server.
//!
//! As root the servers run as Debian's `mysql` user: rsync SST's daemon,
//! started as root, would switch to `nobody` and fail to write the joiner's
//! data directory. It never starts anything itself.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

/// The environment variable that turns the database tests into loud skips.
pub const SKIP_ENV: &str = "SWITCHBOARD_SKIP_DB_TESTS";

/// Whether a database test must skip: true (after printing why) only when
/// `SWITCHBOARD_SKIP_DB_TESTS=1`. Otherwise a missing `mariadbd` panics
/// with the fix, so a machine without the packages fails instead of
/// passing silently.
pub fn skip_db_tests(test: &str) -> bool {
    if std::env::var(SKIP_ENV).as_deref() == Ok("1") {
        eprintln!("SKIPPED {test}: {SKIP_ENV}=1 (it needs real MariaDB servers)");
        return true;
    }
    let _ = &*BINARIES;
    false
}

/// The programs of Debian's mariadb-server package.
pub(crate) struct Binaries {
    /// The server.
    pub(crate) mariadbd: PathBuf,
    /// Creates a data directory.
    pub(crate) install_db: PathBuf,
}

/// Found once; panics with the install hint when missing.
pub(crate) static BINARIES: LazyLock<Binaries> = LazyLock::new(|| {
    let find = |name: &str| -> PathBuf {
        let path = std::env::var("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(["/usr/sbin".into(), "/usr/bin".into()])
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
            .unwrap_or_else(|| {
                panic!(
                    "{name} not found: run scripts/install-test-databases \
                     (or set {SKIP_ENV}=1 to skip the database tests)"
                )
            })
    };
    Binaries {
        mariadbd: find("mariadbd"),
        install_db: find("mariadb-install-db"),
    }
});

/// The (uid, gid) the servers run as: Debian's `mysql` user when the tests
/// run as root, nobody else (`None`: the current user) otherwise.
pub(crate) static RUN_AS: LazyLock<Option<(u32, u32)>> = LazyLock::new(|| {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let ids = passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > 3 && f[0] == "mysql" {
            Some((f[2].parse().ok()?, f[3].parse().ok()?))
        } else {
            None
        }
    });
    Some(ids.unwrap_or_else(|| {
        panic!("no `mysql` user (mariadb-server creates it): run scripts/install-test-databases")
    }))
});

/// The environment, user and process group of every program run for
/// this server, and death with the thread that starts it.
pub(crate) fn prepare_command(cmd: &mut Command, dir: &Path) {
    let path = std::env::var("PATH").unwrap_or_default();
    // The SST scripts call `mariadb`, `my_print_defaults`, `rsync`, `ss`.
    cmd.env(
        "PATH",
        format!("{path}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"),
    )
    .env("HOME", dir)
    .current_dir(dir)
    .process_group(0);
    if let Some((uid, gid)) = *RUN_AS {
        cmd.uid(uid).gid(gid);
    }
    // SAFETY: prctl is async-signal-safe; nothing else runs in the child.
    // It runs after setuid, which would otherwise clear the setting.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}
