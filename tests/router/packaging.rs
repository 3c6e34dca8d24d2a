//! What the Debian package takes from the binary itself: `--version` names
//! the version and the git commit, and the hidden `generate` command writes
//! the man pages and the shell completions from the CLI definition (hidden
//! from `--help`, with no page of its own). scripts/test-package checks the
//! package built from them.

use std::time::Duration;

use switchboard_harness::*;

const WITHIN: Duration = Duration::from_secs(20);

#[test]
fn version_names_the_version_and_the_commit() {
    let (code, out, err) = run_cli(&["--version"], WITHIN);
    assert_eq!(code, Some(0), "{err}");
    let line = out.trim();
    let commit = line
        .strip_prefix(&format!(
            "switchboard {} (commit ",
            env!("CARGO_PKG_VERSION")
        ))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("--version printed {line:?}"));
    // In a git checkout the commit is `git rev-parse --short=12 HEAD`;
    // elsewhere `unknown`, or SWITCHBOARD_COMMIT as the build was given it.
    let from_git = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match (from_git, std::env::var("SWITCHBOARD_COMMIT")) {
        (_, Ok(given)) if !given.trim().is_empty() => assert_eq!(commit, given.trim()),
        (Some(head), _) => assert_eq!(commit, head, "--version names another commit"),
        (None, _) => assert_eq!(commit, "unknown"),
    }
}

#[test]
fn generate_writes_man_pages_and_completions_and_stays_hidden() {
    let dir = TempDir::new("generate");
    let man = dir.join("man");
    let (code, out, err) = run_cli(&["generate", "man", "--out", man.to_str().unwrap()], WITHIN);
    assert_eq!(code, Some(0), "{err}");
    let page = std::fs::read_to_string(man.join("switchboard.1")).unwrap();
    for needle in [
        ".TH switchboard 1",
        "check\\-config",
        "EXIT STATUS",
        "SWITCHBOARD_API_PASSWORD",
    ] {
        assert!(page.contains(needle), "switchboard.1 lacks {needle:?}");
    }
    for sub in ["run", "demo", "check-config"] {
        let name = format!("switchboard-{sub}.1");
        assert!(man.join(&name).is_file(), "no {name}; wrote:\n{out}");
    }
    assert!(!man.join("switchboard-generate.1").exists());
    assert!(
        !page.contains("generate"),
        "the hidden command is in the man page"
    );

    let completions = dir.join("completions");
    let (code, _, err) = run_cli(
        &[
            "generate",
            "completions",
            "bash",
            "zsh",
            "fish",
            "--out",
            completions.to_str().unwrap(),
        ],
        WITHIN,
    );
    assert_eq!(code, Some(0), "{err}");
    for (file, needle) in [
        ("switchboard.bash", "check-config"),
        ("_switchboard", "#compdef switchboard"),
        ("switchboard.fish", "complete -c switchboard"),
    ] {
        let text = std::fs::read_to_string(completions.join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(text.contains(needle), "{file} lacks {needle:?}");
    }

    let (code, help, _) = run_cli(&["--help"], WITHIN);
    assert_eq!(code, Some(0));
    assert!(!help.contains("generate"), "--help lists generate:\n{help}");
    let out = completions.to_str().unwrap();
    let (code, _, err) = run_cli(&["generate", "completions", "--out", out], WITHIN);
    assert_eq!(code, Some(2), "completions without a shell: {err}");
}

/// The configuration the package installs as a conffile passes
/// check-config (with its two absolute paths moved into a temp dir), so a
/// renamed or removed key cannot ship unnoticed.
#[test]
fn the_packaged_configuration_is_valid() {
    let dir = TempDir::new("packaged-config");
    let packaged = concat!(env!("CARGO_MANIFEST_DIR"), "/debian/switchboard.toml");
    let text = std::fs::read_to_string(packaged).unwrap();
    for path in [
        "/etc/switchboard/api-password",
        "/var/lib/switchboard/state.json",
    ] {
        assert!(
            text.contains(path),
            "the packaged config no longer names {path}"
        );
    }
    let password = dir.join("api-password");
    std::fs::write(&password, "generated-at-install\n").unwrap();
    let text = text
        .replace("/etc/switchboard/api-password", password.to_str().unwrap())
        .replace(
            "/var/lib/switchboard/state.json",
            dir.join("state.json").to_str().unwrap(),
        );
    let config = dir.join("switchboard.toml");
    std::fs::write(&config, text).unwrap();
    let (code, out, err) = run_cli(
        &["check-config", "--config", config.to_str().unwrap()],
        WITHIN,
    );
    assert_eq!(code, Some(0), "{out}{err}");
}
