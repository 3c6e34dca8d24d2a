//! The `switchboard` binary: parses the command line and hands over to
//! `cli::main`, which returns the exit code.

fn main() -> std::process::ExitCode {
    switchboard::cli::main()
}
