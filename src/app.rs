//! The commands wired to the runtime: logging, signals, exit codes.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, SimulateArgs};

/// Exit code for usage or setup errors before any call.
pub const EXIT_USAGE: u8 = 2;

/// Parse the command line, run the command, map the result to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cdn-unblock: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Simulate(args) => simulate(args).await,
        }
    })
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn simulate(args: SimulateArgs) -> ExitCode {
    init_logging();
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cdn-unblock simulate: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let handle = match crate::sim::start(config).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("cdn-unblock simulate: {e:#}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // Exactly one line on stdout: scripts read the port from it.
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "listening on {}", handle.endpoint());
    let _ = stdout.flush();
    let token = handle.shutdown_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        token.cancel();
    });
    handle.wait().await;
    ExitCode::SUCCESS
}

/// Resolves on the first SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
