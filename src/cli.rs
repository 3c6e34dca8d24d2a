//! The command line of docs/operations.md: `run`, `demo`, `check-config`, the global
//! logging flags, and the exit codes (0 normal, 2 configuration error,
//! 1 any other fatal error), each failure with one clear line on stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use axum::Router;
use switchboard_config::Config;
use switchboard_demo::DemoControl;

use crate::runner::logging::{self, LogFormat};
use crate::runner::{self, systemd, StartError};

mod generate;
mod reload_client;

/// `switchboard --version`: the version and the git commit it was built
/// from (build.rs; `unknown` outside a git checkout).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SWITCHBOARD_BUILD_COMMIT"),
    ")"
);

/// A TCP router that keeps exactly one backend of a database cluster active.
#[derive(Parser, Debug)]
#[command(name = "switchboard", version = VERSION, about)]
struct Cli {
    /// error, warn, info, debug or trace.
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    /// Log lines as text or JSON.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the router from a configuration file (.toml, .yml/.yaml, .json).
    Run {
        /// The configuration file; SIGHUP (or `switchboard reload`) re-reads it.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Everything in one process: demo backends, the router, the dashboard.
    Demo {
        /// How many demo backends.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=32))]
        backends: u16,
        /// The proxy port.
        #[arg(long, default_value = "127.0.0.1:13306")]
        listen: SocketAddr,
        /// The standby proxy port.
        #[arg(long, default_value = "127.0.0.1:13307")]
        standby_listen: SocketAddr,
        /// The API and dashboard.
        #[arg(long, default_value = "127.0.0.1:8080")]
        api_listen: SocketAddr,
    },
    /// Ask the running instance this file configures to re-read it (its
    /// API's POST /v0/reload); exit 0 reloaded, 2 refused, 1 unreachable.
    Reload {
        /// The file the running instance was started with: its [api]
        /// section says where to send the request and with which credentials.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a configuration file, print every problem, exit 0 or 2.
    CheckConfig {
        /// The file to validate.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Write the man pages or shell completions (for packaging).
    #[command(hide = true)]
    Generate {
        #[command(subcommand)]
        target: generate::Target,
    },
}

/// Exit code for configuration errors.
const EXIT_CONFIG: u8 = 2;

/// Parses the command line, runs the command, returns the exit code.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::CheckConfig { config } = &cli.command {
        return check_config(config);
    }
    if let Command::Generate { target } = &cli.command {
        return generate::run(target);
    }
    if let Err(e) = logging::init(&cli.log_level, cli.log_format) {
        eprintln!("switchboard: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fatal(format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async {
        match cli.command {
            Command::Run { config } => match runner::read_config(&config) {
                Ok((cfg, checksum)) => {
                    let source = runner::Source {
                        path: config,
                        checksum,
                    };
                    run(cfg, Some(source), None).await
                }
                Err(errors) => config_errors(&config, &errors.to_string()),
            },
            Command::Reload { config } => reload_client::run(&config).await,
            Command::Demo {
                backends,
                listen,
                standby_listen,
                api_listen,
            } => demo(backends as usize, listen, standby_listen, api_listen).await,
            Command::CheckConfig { .. } | Command::Generate { .. } => {
                unreachable!("handled above")
            }
        }
    })
}

async fn run(
    config: Config,
    source: Option<runner::Source>,
    extra_routes: Option<Router>,
) -> ExitCode {
    let running = match runner::start(config, source, extra_routes).await {
        Ok(r) => r,
        Err(StartError::Config(e)) => {
            eprintln!("switchboard: configuration error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
        Err(StartError::Fatal(e)) => return fatal(e),
    };
    // `start` returned: the proxy ports are bound and the first verdicts
    // decided routing, which is what systemd's READY=1 promises.
    let stopping = match systemd::stopping_on_signal() {
        Ok(task) => task,
        Err(e) => return fatal(format!("signal handling failed: {e}")),
    };
    systemd::ready(&format!(
        "serving: proxy {}{}, api {}",
        running.proxy_addr,
        running
            .standby_addr
            .map_or(String::new(), |s| format!(", standby {s}")),
        running.api_addr
    ));
    let _watchdog = systemd::Watchdog::start();
    let result = running.run_until_signal().await;
    stopping.abort();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fatal(format!("signal handling failed: {e}")),
    }
}

async fn demo(n: usize, listen: SocketAddr, standby: SocketAddr, api: SocketAddr) -> ExitCode {
    // A port already taken is named with the flag that moves it, before
    // anything starts (and before any election log line).
    for (addr, what, flag) in [
        (listen, "proxy port", "--listen"),
        (standby, "standby proxy port", "--standby-listen"),
        (api, "API and dashboard port", "--api-listen"),
    ] {
        if let Err(e) = std::net::TcpListener::bind(addr) {
            return fatal(format!(
                "cannot bind the {what} {addr}: {e}; choose another with {flag} ADDR:PORT"
            ));
        }
    }
    let control = match DemoControl::start(n).await {
        Ok(c) => c,
        Err(e) => return fatal(format!("cannot start demo backends: {e}")),
    };
    let password = "switchboard";
    let config = control.config(listen, Some(standby), api, password);
    let running = match runner::start(config, None, Some(control.api_routes())).await {
        Ok(r) => r,
        Err(StartError::Config(e)) | Err(StartError::Fatal(e)) => return fatal(e),
    };
    println!("switchboard demo is running with {n} backends.\n");
    println!("  proxy (active):  {}", running.proxy_addr);
    if let Some(s) = running.standby_addr {
        println!("  proxy (standby): {s}");
    }
    println!(
        "  dashboard & API: http://{}/  (user admin, password {password})",
        running.api_addr
    );
    println!();
    for b in control.backends.iter() {
        println!(
            "  {}: data {}  health http://{}/api/v1/status",
            b.name, b.echo_addr, b.health_addr
        );
    }
    let first = &control.backends[0];
    println!();
    println!("Try it (bash):");
    println!(
        "  cat < /dev/tcp/{}/{}   # greets with the active backend's name, stays connected",
        running.proxy_addr.ip(),
        running.proxy_addr.port()
    );
    println!(
        "  curl -X POST http://{}/mode/503      # break {}: the session above is severed, cat exits",
        first.health_addr, first.name
    );
    println!(
        "  cat < /dev/tcp/{}/{}   # now greeted by the next backend",
        running.proxy_addr.ip(),
        running.proxy_addr.port()
    );
    println!(
        "  curl -X POST http://{}/mode/healthy  # heal it again",
        first.health_addr
    );
    println!(
        "  curl -s -u admin:{password} http://{}/v0/state   # the merged state, with reasons",
        running.api_addr
    );
    println!("  (modes: healthy, 503, hang, unhealthy)\n");
    println!("Press Ctrl-C to stop.");
    match running.run_until_signal().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fatal(format!("signal handling failed: {e}")),
    }
}

fn check_config(path: &std::path::Path) -> ExitCode {
    match Config::load(path) {
        Ok(config) => {
            if let Some(why) = runner::unsupported(&config) {
                return config_errors(path, &why);
            }
            println!(
                "{}: OK ({} backends, proxy {}, api {})",
                path.display(),
                config.backends.len(),
                config.proxy.listen,
                config.api.listen
            );
            ExitCode::SUCCESS
        }
        Err(errors) => config_errors(path, &errors.to_string()),
    }
}

fn config_errors(path: &std::path::Path, errors: &str) -> ExitCode {
    eprintln!("switchboard: configuration error in {}:", path.display());
    for line in errors.lines() {
        eprintln!("  {line}");
    }
    ExitCode::from(EXIT_CONFIG)
}

fn fatal(message: String) -> ExitCode {
    eprintln!("switchboard: {message}");
    ExitCode::from(1)
}
