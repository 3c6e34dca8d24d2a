//! Spawning the real `switchboard` binary: one [`spawn`] for every start
//! (output to files, a clean environment, the child dying with the thread
//! that started it), the `run --config` arguments, and [`run_cli`], which
//! runs the binary to completion for the commands that exit by themselves
//! (`check-config`, a `run` that must fail).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use super::TempDir;

/// The binary under test: `SWITCHBOARD_BIN`, or the `switchboard` that
/// cargo built beside the running test binary (`target/<profile>/`, whose
/// `deps/` holds the test binaries).
pub static BIN: LazyLock<PathBuf> = LazyLock::new(|| {
    if let Some(bin) = std::env::var_os("SWITCHBOARD_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("the test binary's own path");
    let deps = exe.parent().expect("the test binary's folder");
    let profile = if deps.ends_with("deps") {
        deps.parent().expect("the profile folder")
    } else {
        deps
    };
    let bin = profile.join("switchboard");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with cargo (it builds the binary first) or set SWITCHBOARD_BIN",
        bin.display()
    );
    bin
});
/// The API user of every config the harness writes.
pub const USER: &str = "admin";

/// Starts the binary with `args` and `env`, stdin closed, stdout and stderr
/// into the given files. `RUST_LOG` and `SWITCHBOARD_API_PASSWORD` are
/// removed from the inherited environment before `env` is applied.
pub fn spawn(args: &[String], env: &[(String, String)], stdout: &Path, stderr: &Path) -> Child {
    let mut cmd = command();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(std::fs::File::create(stdout).unwrap())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .expect("spawn switchboard")
}

/// The binary with a clean environment, no stdin, dying with its parent.
fn command() -> Command {
    let mut cmd = Command::new(&*BIN);
    die_with_parent(&mut cmd);
    cmd.env_remove("RUST_LOG")
        .env_remove("SWITCHBOARD_API_PASSWORD")
        .stdin(Stdio::null());
    cmd
}

/// Makes the child die with the thread that started it (Linux), so a test
/// process that aborts (and never runs `Drop`) leaves no switchboard behind.
pub(crate) fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; nothing else runs in the child.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// `run --config <path>`.
pub fn run_args(path: &Path) -> Vec<String> {
    vec!["run".into(), "--config".into(), path.display().to_string()]
}

/// Runs the binary with `args` to completion (killed after `timeout`);
/// returns (exit code, stdout, stderr).
pub fn run_cli(args: &[&str], timeout: Duration) -> (Option<i32>, String, String) {
    let dir = TempDir::new("cli");
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let mut child = spawn(&args, &[], &out, &err);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > timeout {
            // SAFETY: kill(2) on the pid of a child this harness spawned.
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (status.and_then(|s| s.code()), read(&out), read(&err))
}
