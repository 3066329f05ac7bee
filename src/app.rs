//! The commands wired to the runtime: logging, signals, exit codes.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command, DemoArgs, LogArgs, LogFormat, RunArgs, SimulateArgs};
use crate::credentials;
use crate::progress::LogWriter;
use crate::runner::{self, Mode};
use crate::stats::Summary;

/// Exit code for usage or setup errors before any call.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for an interrupted run.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Parse the command line, run the command, map the result to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // One rule for every colour this tool prints (logs, bar, summary).
    console::set_colors_enabled_stderr(colour_on_stderr());
    init_logging(&cli.log);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return usage(&format!("cannot start the async runtime: {e}"));
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(*args, cli.log.log_format).await,
            Command::Demo(args) => demo(args, cli.log.log_format).await,
            Command::Simulate(args) => simulate(*args).await,
            Command::Report(args) => report(&args),
            Command::Completions { shell } => completions(shell),
            Command::Man { command } => man(command.as_deref()),
        }
    });
    // A reader blocked on stdin must not hold the process open.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

/// Whether stderr carries JSON logs: then every line on it is a JSON event,
/// setup errors included.
static JSON_LOGS: AtomicBool = AtomicBool::new(false);

/// A message for the person (or the log collector) outside the run's own
/// events: plain `cdn-unblock: …` text, or with JSON logs one JSON event.
fn say_error(event: &str, message: &str) {
    // Plain text when a RUST_LOG filter would drop the event: an error
    // that stops the run is never silent.
    if JSON_LOGS.load(Ordering::Relaxed) && tracing::enabled!(tracing::Level::ERROR) {
        tracing::error!(event, "{message}");
    } else {
        eprintln!("cdn-unblock: {message}");
    }
}

/// Logging to stderr, around the progress bar; `RUST_LOG` overrides the level.
pub fn init_logging(args: &LogArgs) {
    JSON_LOGS.store(args.log_format == LogFormat::Json, Ordering::Relaxed);
    let level = match (args.quiet, args.verbose) {
        (q, _) if q >= 2 => "error",
        (1, _) => "warn",
        (_, 0) => "info",
        (_, 1) => "warn,cdn_unblock=debug",
        _ => "warn,cdn_unblock=trace",
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogWriter)
        .with_target(false);
    let _ = match args.log_format {
        // Text is for people: the message only (JSON carries every field).
        LogFormat::Text => builder
            .with_ansi(colour_on_stderr())
            .fmt_fields(tracing_subscriber::fmt::format::debug_fn(
                |w, field, value| {
                    if field.name() == "message" {
                        write!(w, "{value:?}")
                    } else {
                        Ok(())
                    }
                },
            ))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

/// Colour only on a terminal, and never with `NO_COLOR`.
pub fn colour_on_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// First SIGINT/SIGTERM: cancel `token` (finish calls in flight); second:
/// exit now. The signals are caught from the moment this returns.
fn spawn_signal_handler(token: CancellationToken) {
    let mut signals = Signals::new();
    tokio::spawn(async move {
        signals.recv().await;
        tracing::warn!(
            event = "interrupted",
            "interrupted: finishing the calls in flight and writing the report (interrupt again to quit at once)"
        );
        token.cancel();
        signals.recv().await;
        say_error(
            "quit",
            "interrupted again: quitting now; re-run with --resume to finish",
        );
        std::process::exit(EXIT_INTERRUPTED.into());
    });
}

/// Print the summary (text logs only: with JSON logs the `summary` event
/// carries it, and stderr stays one JSON object per line).
fn finish(summary: &Summary, log: LogFormat) -> ExitCode {
    if log == LogFormat::Text {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{}", summary.render(colour_on_stderr()));
    }
    ExitCode::from(summary.exit_code)
}

async fn run(args: RunArgs, log: LogFormat) -> ExitCode {
    let (dry_run, yes) = (args.dry_run, args.yes);
    let profile = args.profile.clone();
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => return usage(&e.to_string()),
    };
    let mode = if dry_run {
        Mode::DryRun
    } else {
        match credentials::resolve(|name| std::env::var(name).ok(), profile.as_deref()) {
            Ok(c) => Mode::Send(c),
            Err(e) => return usage(&e.to_string()),
        }
    };
    if let Mode::Send(credentials) = &mode
        && !yes
        && !confirmed(&config, credentials)
    {
        say_error("declined", "nothing sent");
        return ExitCode::from(EXIT_USAGE);
    }
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    match runner::run(&config, mode, shutdown).await {
        Ok(summary) => finish(&summary, log),
        Err(e) => usage(&e.to_string()),
    }
}

async fn demo(args: DemoArgs, log: LogFormat) -> ExitCode {
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    match crate::demo::run(args.progress, shutdown).await {
        // The sample's failures are on purpose: a demo that did what it
        // shows succeeded (and `demo && report` goes on).
        Ok(summary) if summary.ending == crate::stats::Ending::Finished => {
            finish(&summary, log);
            tracing::info!(
                event = "demo_done",
                "demo: the sample holds invalid, duplicate and refused URLs on purpose (a real run would exit {}, the demo exits 0); look at them with: cdn-unblock report {}",
                summary.exit_code,
                crate::demo::REPORT
            );
            ExitCode::SUCCESS
        }
        Ok(summary) => finish(&summary, log),
        Err(e) => usage(&format!("{e:#}")),
    }
}

/// At a terminal, before a large run: show the plan and ask. True when
/// nobody is there to ask (no terminal, or stdin carries the URLs), when the
/// run is small, or when the answer is yes.
fn confirmed(config: &runner::RunConfig, credentials: &credentials::Credentials) -> bool {
    use crate::input::Input;
    let Input::Files(paths) = &config.input else {
        return true;
    };
    if paths.iter().any(|p| p.as_os_str() == "-")
        || !std::io::stdin().is_terminal()
        || !std::io::stderr().is_terminal()
    {
        return true;
    }
    let Some(count) = crate::input::line_counter(&config.input).and_then(|count| count().ok())
    else {
        return true;
    };
    let csv_files = crate::input::open(&config.input, config.input_format)
        .map(|sources| {
            sources
                .iter()
                .filter(|s| s.format == crate::input::Format::Csv)
                .count() as u64
        })
        .unwrap_or(0);
    let urls = count.saturating_sub(csv_files);
    if urls <= crate::plan::LARGE {
        return true;
    }
    let plan = crate::plan::Plan {
        urls: Some(urls),
        inputs: paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        batch_size: config.batch_size,
        qps: config.qps,
        endpoint: config.endpoint.to_string(),
        secret_id: credentials.id_prefix(),
        report: config.report.display().to_string(),
        resume: config.report_mode == crate::report::ReportMode::Append,
    };
    crate::plan::confirm(&plan, &mut std::io::stdin().lock(), &mut std::io::stderr())
}

/// `cdn-unblock report`.
fn report(args: &crate::cli::ReportArgs) -> ExitCode {
    let findings = match crate::inspect::inspect(&args.path) {
        Ok(f) => f,
        Err(e) => return usage(&e.to_string()),
    };
    let mut out = std::io::stdout().lock();
    let written = if args.failed_urls {
        findings
            .not_ok
            .iter()
            .try_for_each(|url| writeln!(out, "{url}"))
    } else {
        write!(out, "{}", crate::inspect::render(&args.path, &findings))
    };
    // A closed pipe (`| head`) is not an error.
    if let Err(e) = written.and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return usage(&format!("cannot write: {e}"));
    }
    ExitCode::from(if findings.all_ok() { 0 } else { 1 })
}

/// `cdn-unblock completions SHELL`.
fn completions(shell: clap_complete::Shell) -> ExitCode {
    use clap::CommandFactory;
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "cdn-unblock", &mut std::io::stdout());
    ExitCode::SUCCESS
}

/// `cdn-unblock man [COMMAND]`.
fn man(name: Option<&str>) -> ExitCode {
    use clap::CommandFactory;
    let root = Cli::command();
    let command = match name {
        None => root,
        Some(name) => match root.find_subcommand(name) {
            Some(sub) => sub.clone().name(format!("cdn-unblock-{name}")),
            None => return usage(&format!("man: there is no command `{name}`")),
        },
    };
    let mut out = Vec::new();
    if let Err(e) = clap_mangen::Man::new(command).render(&mut out) {
        return usage(&format!("man: {e}"));
    }
    let _ = std::io::stdout().write_all(&out);
    ExitCode::SUCCESS
}

fn usage(message: &str) -> ExitCode {
    say_error("usage_error", message);
    ExitCode::from(EXIT_USAGE)
}

async fn simulate(args: SimulateArgs) -> ExitCode {
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => return usage(&format!("simulate: {e}")),
    };
    let handle = match crate::sim::start(config).await {
        Ok(h) => h,
        Err(e) => return usage(&format!("simulate: {e:#}")),
    };
    // Caught before the line below, so a script may signal as soon as it reads it.
    let mut signals = Signals::new();
    // Exactly one line on stdout: scripts read the port from it.
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "listening on {}", handle.endpoint());
    let _ = stdout.flush();
    let token = handle.shutdown_token();
    tokio::spawn(async move {
        signals.recv().await;
        token.cancel();
    });
    handle.wait().await;
    ExitCode::SUCCESS
}

/// SIGINT and SIGTERM, caught from the moment this is made (even when
/// the process started with SIGINT ignored, as a script's background job).
struct Signals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn new() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = signal(SignalKind::interrupt())
                .and_then(|int| Ok((int, signal(SignalKind::terminate())?)));
            if let Err(e) = &streams {
                tracing::warn!(event = "signals", "cannot catch SIGINT/SIGTERM: {e}");
            }
            Signals {
                streams: streams.ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// The next SIGINT or SIGTERM.
    async fn recv(&mut self) {
        #[cfg(unix)]
        match &mut self.streams {
            Some((int, term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            None => std::future::pending().await,
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
