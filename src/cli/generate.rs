//! The hidden `switchboard generate` command: writes the man pages and the
//! shell completions from the very clap definition that parses the command
//! line, so they can never disagree with `--help`. `scripts/package` runs
//! it before `cargo deb`; nothing it writes is committed.
//!
//! It writes only into the directory it is given (creating it), prints each
//! file it wrote, and never starts the router or reads a configuration.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Subcommand};
use clap_complete::Shell;

/// What `generate` writes.
#[derive(Subcommand, Debug)]
pub(super) enum Target {
    /// Man pages: switchboard.1 and one switchboard-COMMAND.1 per command.
    Man {
        /// The directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Shell completion scripts (bash: switchboard.bash, zsh: _switchboard,
    /// fish: switchboard.fish).
    Completions {
        /// The shells to write completions for.
        #[arg(required = true, value_enum)]
        shells: Vec<Shell>,
        /// The directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs `generate`; exit 1 with one line on stderr if a file cannot be
/// written.
pub(super) fn run(target: &Target) -> ExitCode {
    let result = match target {
        Target::Man { out } => man(out),
        Target::Completions { shells, out } => completions(shells, out),
    };
    match result {
        Ok(files) => {
            for file in files {
                println!("{}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("switchboard: generate: {e}");
            ExitCode::from(1)
        }
    }
}

/// What switchboard(1) says beyond the clap definition, in roff: signals,
/// exit codes, environment, files (the Debian package's paths), where the
/// full documentation is.
const MAN_EXTRA: &str = r#".SH SIGNALS
.TP
\fBSIGTERM\fR, \fBSIGINT\fR
The ordered shutdown: the API stops, the proxy ports serve on for
\fIproxy.shutdown_delay\fR, open sessions get \fIproxy.drain_timeout\fR,
the rest are severed, exit 0.
.TP
\fBSIGHUP\fR
Re-read the configuration file (\fBswitchboard reload\fR asks over the API).
.SH EXIT STATUS
0 normal end; 2 configuration error (every problem on stderr, with its path);
1 any other fatal error (one line on stderr naming the cause).
.SH ENVIRONMENT
.TP
\fBSWITCHBOARD_API_PASSWORD\fR
The API password when the file sets neither \fIapi.password\fR nor \fIapi.password_file\fR.
.TP
\fBSWITCHBOARD_CHECK_PASSWORD\fR
The \fImysql\fR check's password when its check sets neither \fIpassword\fR nor \fIpassword_file\fR.
.TP
\fBRUST_LOG\fR
A tracing filter that replaces \fB\-\-log\-level\fR.
.TP
\fBNOTIFY_SOCKET\fR, \fBWATCHDOG_USEC\fR
Set by systemd (Type=notify): READY=1 once the proxy ports are bound and routing is decided,
WATCHDOG=1 every half WATCHDOG_USEC, STOPPING=1 at shutdown.
.SH FILES
.TP
\fI/etc/switchboard/switchboard.toml\fR
The configuration of the packaged service.
.TP
\fI/etc/switchboard/api\-password\fR
Its API password (\fIapi.password_file\fR).
.TP
\fI/var/lib/switchboard/state.json\fR
Operator decisions that survive restarts (\fIstate.file\fR).
.SH SEE ALSO
\fBsystemctl\fR(1), \fBjournalctl\fR(1);
the configuration reference, the operator's guide, the HTTP API and SECURITY.md in
\fI/usr/share/doc/switchboard/\fR.
"#;

/// The man pages of the command and of every visible subcommand (the
/// hidden `generate` has none); switchboard.1 gets [`MAN_EXTRA`] too.
fn man(out: &Path) -> Result<Vec<PathBuf>, String> {
    create_dir(out)?;
    let written = |e: std::io::Error| format!("cannot write man pages into {}: {e}", out.display());
    clap_mangen::generate_to(super::Cli::command(), out).map_err(written)?;
    let mut cmd = super::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let man = clap_mangen::Man::new(cmd);
    let mut page = Vec::new();
    man.render(&mut page).map_err(written)?;
    page.extend_from_slice(MAN_EXTRA.as_bytes());
    std::fs::write(out.join(man.get_filename()), page).map_err(written)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(out)
        .map_err(|e| format!("cannot list {}: {e}", out.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "1"))
        .collect();
    files.sort();
    Ok(files)
}

/// One completion script per shell, for the binary name `switchboard`.
fn completions(shells: &[Shell], out: &Path) -> Result<Vec<PathBuf>, String> {
    create_dir(out)?;
    let mut cmd = super::Cli::command();
    shells
        .iter()
        .map(|shell| {
            clap_complete::generate_to(*shell, &mut cmd, "switchboard", out)
                .map_err(|e| format!("cannot write {shell} completions: {e}"))
        })
        .collect()
}

/// Creates `dir` and its parents.
fn create_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}
