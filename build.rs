//! Build script of the `switchboard` binary: stamps the git commit the
//! binary was built from into `SWITCHBOARD_BUILD_COMMIT`, which
//! `switchboard --version` prints beside the version
//! (`switchboard 0.1.0 (commit 0123456789ab)`), so an operator can tell
//! exactly which source a running binary or an installed package came from.
//!
//! Where the commit comes from, first match wins:
//! 1. the environment variable `SWITCHBOARD_COMMIT` (packaging from a
//!    tarball, where there is no `.git`);
//! 2. `git rev-parse --short=12 HEAD` in the source tree;
//! 3. `unknown`.
//!
//! It must never fail the build (no git, not a checkout, a git that
//! refuses the directory): every problem ends in `unknown`. It reruns only
//! when the commit can have changed (`.git/HEAD`, the ref HEAD points to,
//! `packed-refs`) or the override changes, never on every source edit.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The override for builds outside a git checkout.
const OVERRIDE: &str = "SWITCHBOARD_COMMIT";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={OVERRIDE}");
    let commit = match std::env::var(OVERRIDE) {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => {
            watch_git_files();
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
    };
    println!("cargo:rustc-env=SWITCHBOARD_BUILD_COMMIT={commit}");
}

/// Runs git in the package's directory; `None` on any failure or empty
/// output.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// Asks cargo to rerun this script when HEAD moves: `HEAD` itself (a
/// checkout of another branch), the ref it points to (a commit on the
/// branch) and `packed-refs` (where the ref lives after `git gc`). Only
/// files that exist are named: cargo reruns a script on every build for a
/// named file that is missing.
fn watch_git_files() {
    let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from) else {
        return;
    };
    // A worktree keeps HEAD in its own git dir and the refs in the common one.
    let common = git(&["rev-parse", "--git-common-dir"])
        .map(|c| absolute(&c))
        .unwrap_or_else(|| git_dir.clone());
    let mut files = vec![git_dir.join("HEAD"), common.join("packed-refs")];
    if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
        files.push(git_dir.join(&head_ref));
        files.push(common.join(&head_ref));
    }
    files.sort();
    files.dedup();
    for file in files {
        if file.is_file() {
            println!("cargo:rerun-if-changed={}", file.display());
        }
    }
}

/// `git rev-parse --git-common-dir` may answer relative to the package
/// directory.
fn absolute(path: &str) -> PathBuf {
    let path = Path::new(path);
    match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) if path.is_relative() => Path::new(&dir).join(path),
        _ => path.to_path_buf(),
    }
}
