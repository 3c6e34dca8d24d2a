//! The `switchboard` binary: the command line (`cli`) and the runner that
//! wires the parts together (`runner`). Everything else lives in the
//! workspace's crates: `switchboard-config`, `switchboard-core`,
//! `switchboard-monitor`, `switchboard-bridge`, `switchboard-api` and
//! `switchboard-demo` (see ARCHITECTURE.md, "Who may import whom").

mod cli;
mod runner;

fn main() -> std::process::ExitCode {
    cli::main()
}
