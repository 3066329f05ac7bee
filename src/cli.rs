//! The command line: clap types, and their conversion into validated
//! configuration with no clap types in it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::client::{DEFAULT_ENDPOINT, Endpoint};
use crate::credentials::Secret;
use crate::input::{Column, CsvOptions, Input, InputFormat};
use crate::progress::ProgressMode;
use crate::report::{self, ReportMode};
use crate::runner::RunConfig;
use crate::sim::{Faults, SimConfig};

/// Unblock CDN URLs in bulk through Tencent Cloud's EnableCaches API.
///
/// Reads URL lists (CSV or one per line, files or stdin), sends them in
/// batches at the API's rate cap (40 calls/s per account), retries what is
/// safe to retry, and writes one report row per input URL.
#[derive(Debug, Parser)]
#[command(name = "cdn-unblock", version, about, long_about)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Logging options, for every command.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log lines on stderr as text or JSON (one object per line).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Quieter: warnings and errors only (-qq: errors only).
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,

    /// More verbose: every retry and split (-vv: everything). RUST_LOG also works.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Unblock the URLs in INPUT files (or stdin) and write a report.
    ///
    /// Credentials come from TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY
    /// (plus TENCENTCLOUD_SESSION_TOKEN for temporary keys), else from the
    /// [default] section of the INI file named by TENCENTCLOUD_CREDENTIALS_FILE,
    /// else ~/.tencentcloud/credentials (keys secret_id, secret_key, optional
    /// token; chmod 600). With --profile NAME, only that section of the file
    /// counts: the environment is ignored.
    ///
    /// Examples:
    ///
    ///   cdn-unblock run blocked.csv                      # CSV with a `url` column
    ///   cdn-unblock run --dry-run blocked.csv            # check the input, no calls
    ///   grep -h '^https://' *.txt | cdn-unblock run -o report.jsonl
    ///   cdn-unblock run --endpoint https://cdn.intl.tencentcloudapi.com urls.txt
    ///
    /// Exit codes: 0 all ok; 1 some URLs failed, invalid or unknown (or an
    /// input could not be read to the end); 2 usage or setup error before
    /// any call; 3 aborted by a fatal API answer; 130 interrupted.
    #[command(verbatim_doc_comment)]
    Run(Box<RunArgs>),

    /// Run samples/urls.csv through an in-process simulator: no credentials needed.
    ///
    /// Writes demo-report.csv and prints the summary, so you can see the
    /// progress bar, the report and the summary before touching a real account.
    /// The sample fails some URLs on purpose; the demo still exits 0 when it
    /// ran to the end (3 or 130 as a run would, if it could not).
    ///
    /// Example:
    ///
    ///   cdn-unblock demo && cdn-unblock report demo-report.csv
    #[command(verbatim_doc_comment)]
    Demo(DemoArgs),

    /// Summarise a report: final status per URL, failures by error code.
    ///
    /// Reads a CSV or JSON Lines report, also one a --resume appended to (the
    /// latest row of a URL is its final status). Exit 0 when every URL is ok,
    /// 1 when some are not, 2 when the report cannot be read.
    ///
    /// Examples:
    ///
    ///   cdn-unblock report unblock.csv
    ///   cdn-unblock report --failed-urls unblock.csv | cdn-unblock run - -o retry.csv
    #[command(verbatim_doc_comment)]
    Report(ReportArgs),

    /// Print a shell completion script.
    ///
    /// Examples:
    ///
    ///   cdn-unblock completions bash > /etc/bash_completion.d/cdn-unblock
    ///   cdn-unblock completions zsh > "${fpath[1]}/_cdn-unblock"
    ///   cdn-unblock completions fish > ~/.config/fish/completions/cdn-unblock.fish
    #[command(verbatim_doc_comment)]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print the manual page (roff), for `man`.
    ///
    /// Example:
    ///
    ///   cdn-unblock man > /usr/local/share/man/man1/cdn-unblock.1
    ///   cdn-unblock man run | man -l -
    #[command(verbatim_doc_comment)]
    Man {
        /// A command's own page (run, simulate, demo, report, completions).
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
    },

    /// Run a local stand-in for the EnableCaches API (for rehearsals and tests).
    ///
    /// It checks TC3 signatures, tokens, clock skew, a strict sliding
    /// one-second rate window per SecretId and the request body like the real
    /// API, and can add latency and inject faults. It prints one line,
    /// `listening on http://HOST:PORT`, then serves until SIGINT or SIGTERM.
    ///
    /// Example:
    ///
    ///   cdn-unblock simulate --listen 127.0.0.1:9100 --latency-ms 20-80 --log calls.jsonl
    #[command(verbatim_doc_comment)]
    Simulate(Box<SimulateArgs>),
}

/// `cdn-unblock run` options.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Files of URLs, read in order; `-` or nothing reads stdin.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// `auto`: `.csv` files are CSV, everything else (and stdin) one URL per line.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto, help_heading = "Input")]
    pub input_format: InputFormat,

    /// CSV column holding the URL: a header name (any case) or a 1-based number
    /// [default: the `url` column, else column 1]
    #[arg(long, value_name = "NAME|N", help_heading = "Input")]
    pub column: Option<Column>,

    /// The CSV has no header row.
    #[arg(long, help_heading = "Input")]
    pub no_header: bool,

    /// Report file: `.jsonl`/`.ndjson` for JSON Lines, anything else CSV
    /// [default: cdn-unblock-report-<UTC time>.csv]
    #[arg(short = 'o', long, value_name = "PATH", help_heading = "Report")]
    pub report: Option<PathBuf>,

    /// Continue an existing report: skip URLs already ok, send the rest, append.
    #[arg(long, requires = "report", help_heading = "Report")]
    pub resume: bool,

    /// Overwrite an existing report.
    #[arg(long, conflicts_with = "resume", help_heading = "Report")]
    pub force: bool,

    /// Also write the end-of-run summary as JSON here.
    #[arg(long, value_name = "PATH", help_heading = "Report")]
    pub summary_json: Option<PathBuf>,

    /// URLs per call.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1000), help_heading = "Sending")]
    pub batch_size: u64,

    /// Calls per second, at most 40 (the API's limit per account).
    #[arg(long, value_name = "N", default_value_t = 40, value_parser = parse_qps, help_heading = "Sending")]
    pub qps: u32,

    /// Calls in flight at most.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1024), help_heading = "Sending")]
    pub concurrency: u64,

    /// API calls for one batch before its URLs are recorded as failed.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100), help_heading = "Sending")]
    pub max_attempts: u32,

    /// Per-call timeout in seconds.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_timeout, help_heading = "Sending")]
    pub timeout: Duration,

    /// Check and report everything, but make no call (needs no credentials).
    #[arg(long, help_heading = "Sending")]
    pub dry_run: bool,

    /// API endpoint; the international site is https://cdn.intl.tencentcloudapi.com.
    /// Plain http:// only to loopback (for `cdn-unblock simulate`).
    #[arg(long, value_name = "URL", default_value = DEFAULT_ENDPOINT, help_heading = "API")]
    pub endpoint: String,

    /// Send X-TC-Region (EnableCaches needs none).
    #[arg(long, value_name = "R", help_heading = "API")]
    pub region: Option<String>,

    /// Send the API's optional `Date` (YYYY-MM-DD, the blocking date).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date, help_heading = "API")]
    pub date: Option<String>,

    /// Use this section of the credentials file ($TENCENTCLOUD_CREDENTIALS_FILE or
    /// ~/.tencentcloud/credentials) instead of the environment [default: the
    /// environment, then the file's [default] section]
    #[arg(long, value_name = "NAME", help_heading = "API")]
    pub profile: Option<String>,

    /// Progress bar on stderr; `auto` draws it only on a terminal (otherwise a
    /// progress log line every 10 seconds).
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,

    /// Do not ask before a large run (more than 1,000 URLs) at a terminal.
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Lock file that keeps two runs of the same job apart; a second run
    /// exits 2 naming the first one's PID [default: the report's path + .lock]
    #[arg(long, value_name = "PATH", help_heading = "Report")]
    pub lock: Option<PathBuf>,
}

/// A usage error found while turning options into a configuration: exit 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl RunArgs {
    /// Validate and convert into the run's configuration.
    pub fn into_config(self) -> Result<RunConfig, UsageError> {
        let endpoint =
            Endpoint::parse(&self.endpoint).map_err(|e| UsageError(format!("--endpoint {e}")))?;
        let input = if self.inputs.is_empty()
            || (self.inputs.len() == 1 && self.inputs[0].as_os_str() == "-")
        {
            Input::Stdin
        } else {
            if self.inputs.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
                return Err(UsageError("stdin (`-`) can be read only once".into()));
            }
            Input::Files(self.inputs)
        };
        let (report, report_mode) = match self.report {
            Some(path) if self.resume => (path, ReportMode::Append),
            Some(path) if self.force => (path, ReportMode::Overwrite),
            Some(path) => (path, ReportMode::New),
            None => (report::default_path(), ReportMode::New),
        };
        let lock = self
            .lock
            .unwrap_or_else(|| crate::lock::default_path(&report));
        Ok(RunConfig {
            input,
            input_format: self.input_format,
            csv: CsvOptions {
                column: self.column,
                no_header: self.no_header,
            },
            report,
            report_mode,
            batch_size: self.batch_size as usize,
            qps: self.qps,
            concurrency: self.concurrency as usize,
            max_attempts: self.max_attempts,
            timeout: self.timeout,
            endpoint,
            region: self.region,
            date: self.date,
            progress: self.progress,
            summary_json: self.summary_json,
            lock,
        })
    }
}

/// `cdn-unblock demo` options.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Progress bar on stderr (`auto`: only on a terminal).
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

/// `cdn-unblock report` options.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The report (CSV, or JSON Lines for .jsonl/.ndjson).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,

    /// Print only the URLs that are not ok (failed, unknown, not sent in a
    /// dry run), one per line, ready for `cdn-unblock run -`.
    #[arg(long)]
    pub failed_urls: bool,
}

/// 1..=40 calls per second.
pub fn parse_qps(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(n @ 1..=40) => Ok(n),
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Err(format!(
            "{n} is over 40, the API's limit per account: more calls would only be throttled"
        )),
        Err(_) => Err(format!("`{s}` is not a number of calls per second")),
    }
}

/// Seconds, fractions allowed, more than zero.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 3600.0 => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!(
            "`{s}` is not a number of seconds between 0 and 3600"
        )),
    }
}

/// `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<String, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), format)
        .map(|_| s.trim().to_string())
        .map_err(|_| format!("`{s}` is not a date written YYYY-MM-DD"))
}

/// `cdn-unblock simulate` options.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to listen on (HOST:PORT, a name like localhost works); port 0
    /// picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9100", value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// The one SecretId the simulator knows.
    #[arg(long, value_name = "ID", default_value = "AKIDsimulator")]
    pub secret_id: String,

    /// Its SecretKey.
    #[arg(long, value_name = "KEY", default_value = "simulator-secret")]
    pub secret_key: Secret,

    /// Require this session token in X-TC-Token (temporary credentials).
    #[arg(long, value_name = "T")]
    pub token: Option<Secret>,

    /// Calls accepted per SecretId in any sliding one-second window; 0 = unlimited.
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub qps: u32,

    /// The error code of a throttled call.
    #[arg(
        long,
        value_name = "CODE",
        default_value = "UnauthorizedOperation.OperationTooOften"
    )]
    pub throttle_code: String,

    /// Most URLs accepted in one call.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_urls: u64,

    /// URLs containing this come back in FailUrls.
    #[arg(long, value_name = "S", default_value = "__fail__")]
    pub fail_marker: String,

    /// A call holding a URL that contains this is refused whole with --reject-code.
    #[arg(long, value_name = "S", default_value = "__reject__")]
    pub reject_marker: String,

    /// The error code of a call refused for --reject-marker.
    #[arg(
        long,
        value_name = "CODE",
        default_value = "ResourceNotFound.CdnHostNotExists"
    )]
    pub reject_code: String,

    /// Latency added to every answer, uniform in A-B milliseconds (or exactly A).
    #[arg(long, value_name = "A-B", default_value = "0", value_parser = parse_range_ms)]
    pub latency_ms: (u64, u64),

    /// Probability of an HTTP 500 (not processed).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub p_http_500: f64,

    /// Probability of an HTTP 502 (not processed).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub p_http_502: f64,

    /// Probability of closing the connection without an answer (not processed).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub p_drop: f64,

    /// Probability of InternalError.CdnSystemError (not processed).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub p_internal: f64,

    /// Probability of HTTP 200 with a non-JSON body (not processed).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub p_garbage: f64,

    /// Probability of a slow answer: processed, then answered --slow-ms late.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub p_slow: f64,

    /// How late a slow answer comes, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 35_000)]
    pub slow_ms: u64,

    /// Seed for latency and faults, for repeatable runs.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Write one JSON line per request here: time, elapsed_ms, SecretId,
    /// action, outcome, code, URLs, date, TaskId, RequestId.
    #[arg(long, value_name = "PATH")]
    pub log: Option<PathBuf>,
}

impl SimulateArgs {
    /// Validate and convert into the simulator's configuration.
    pub fn into_config(self) -> Result<SimConfig, String> {
        let faults = Faults {
            http_500: self.p_http_500,
            http_502: self.p_http_502,
            drop: self.p_drop,
            internal: self.p_internal,
            garbage: self.p_garbage,
            slow: self.p_slow,
        };
        if faults.total() > 1.0 + 1e-9 {
            return Err(format!(
                "the fault probabilities (--p-*) add up to {:.3}; they must not exceed 1",
                faults.total()
            ));
        }
        Ok(SimConfig {
            listen: self.listen,
            secret_id: self.secret_id,
            secret_key: self.secret_key,
            token: self.token,
            qps: self.qps,
            throttle_code: self.throttle_code,
            max_urls: self.max_urls as usize,
            fail_marker: self.fail_marker,
            reject_marker: self.reject_marker,
            reject_code: self.reject_code,
            latency_ms: self.latency_ms,
            faults,
            slow_ms: self.slow_ms,
            seed: self.seed,
            log: self.log,
            record: false,
        })
    }
}

/// `--listen`: an address, or a host name and port (its IPv4 address when
/// it has one, so `localhost:9100` serves `http://127.0.0.1:9100`).
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    let addrs: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| format!("expected HOST:PORT, like 127.0.0.1:9100 ({e})"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{s} resolves to no address"))
}

/// `A-B` or `A` milliseconds, A ≤ B.
pub fn parse_range_ms(s: &str) -> Result<(u64, u64), String> {
    let parse = |x: &str| {
        x.trim()
            .parse::<u64>()
            .map_err(|_| format!("`{s}` is not A-B milliseconds (e.g. 20-80)"))
    };
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let v = parse(s)?;
            (v, v)
        }
    };
    if lo > hi {
        return Err(format!("`{s}`: the low end is above the high end"));
    }
    Ok((lo, hi))
}

/// A probability in 0..=1.
pub fn parse_probability(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("`{s}` is not a probability between 0 and 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ranges_and_probabilities() {
        assert_eq!(parse_range_ms("20-80"), Ok((20, 80)));
        assert_eq!(parse_range_ms("50"), Ok((50, 50)));
        assert!(parse_range_ms("80-20").is_err());
        assert!(parse_range_ms("x").is_err());
        assert_eq!(parse_probability("0.05"), Ok(0.05));
        assert!(parse_probability("1.5").is_err());
        assert!(parse_probability("-0.1").is_err());
    }

    fn run_args(args: &[&str]) -> Result<RunArgs, clap::Error> {
        let mut all = vec!["cdn-unblock", "run"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all)?.command {
            Command::Run(args) => Ok(*args),
            _ => unreachable!(),
        }
    }

    #[test]
    fn run_defaults_are_the_contract() {
        let c = run_args(&[]).unwrap().into_config().unwrap();
        assert_eq!(c.input, Input::Stdin);
        assert_eq!(c.batch_size, 100);
        assert_eq!(c.qps, 40);
        assert_eq!(c.concurrency, 64);
        assert_eq!(c.max_attempts, 10);
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert_eq!(c.endpoint.host(), "cdn.tencentcloudapi.com");
        assert_eq!(c.report_mode, ReportMode::New);
        assert!(
            c.report
                .to_str()
                .unwrap()
                .starts_with("cdn-unblock-report-")
        );
        assert_eq!(c.input_format, InputFormat::Auto);
        let c = run_args(&["-"]).unwrap().into_config().unwrap();
        assert_eq!(c.input, Input::Stdin);
        let c = run_args(&["a.csv", "b.txt", "-o", "r.jsonl", "--force"])
            .unwrap()
            .into_config()
            .unwrap();
        assert_eq!(c.input, Input::Files(vec!["a.csv".into(), "b.txt".into()]));
        assert_eq!(c.report_mode, ReportMode::Overwrite);
    }

    #[test]
    fn run_refuses_what_cannot_work() {
        let e = run_args(&["--qps", "41"]).unwrap_err().to_string();
        assert!(e.contains("over 40"), "{e}");
        assert!(run_args(&["--qps", "0"]).is_err());
        assert!(run_args(&["--batch-size", "1001"]).is_err());
        assert!(run_args(&["--batch-size", "0"]).is_err());
        assert!(run_args(&["--date", "2021/06/01"]).is_err());
        assert!(run_args(&["--timeout", "0"]).is_err());
        assert!(run_args(&["--resume"]).is_err(), "--resume needs --report");
        assert!(run_args(&["--resume", "--force", "-o", "r.csv"]).is_err());
        let e = run_args(&["--endpoint", "http://cdn.tencentcloudapi.com"])
            .unwrap()
            .into_config()
            .unwrap_err();
        assert!(
            e.0.contains("--endpoint") && e.0.contains("loopback"),
            "{e}"
        );
        let e = run_args(&["-", "-"]).unwrap().into_config().unwrap_err();
        assert!(e.0.contains("once"));
    }

    #[test]
    fn listen_takes_addresses_and_host_names() {
        assert_eq!(
            parse_listen("127.0.0.1:0").unwrap().to_string(),
            "127.0.0.1:0"
        );
        assert_eq!(
            parse_listen("[::1]:9100").unwrap().to_string(),
            "[::1]:9100"
        );
        assert!(parse_listen("localhost:9100").unwrap().ip().is_loopback());
        assert!(parse_listen("localhost").unwrap_err().contains("HOST:PORT"));
        assert!(parse_listen("127.0.0.1:99999").is_err());
    }

    #[test]
    fn simulate_options_never_show_the_key_or_token() {
        let cli = Cli::try_parse_from([
            "cdn-unblock",
            "simulate",
            "--secret-key",
            "k-e-y-1234",
            "--token",
            "t-o-k-5678",
        ])
        .unwrap();
        let Command::Simulate(args) = cli.command else {
            unreachable!()
        };
        let shown = format!("{args:?}");
        assert!(!shown.contains("k-e-y-1234") && !shown.contains("t-o-k-5678"));
        let c = (*args).into_config().unwrap();
        assert_eq!(c.secret_key.expose(), "k-e-y-1234");
        assert_eq!(c.token.unwrap().expose(), "t-o-k-5678");
    }

    #[test]
    fn simulate_defaults_are_the_contract() {
        let cli = Cli::try_parse_from(["cdn-unblock", "simulate"]).unwrap();
        let Command::Simulate(args) = cli.command else {
            unreachable!()
        };
        let c = (*args).into_config().unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9100");
        assert_eq!(c.secret_id, "AKIDsimulator");
        assert_eq!(c.secret_key.expose(), "simulator-secret");
        assert_eq!(c.qps, 40);
        assert_eq!(c.throttle_code, "UnauthorizedOperation.OperationTooOften");
        assert_eq!(c.max_urls, 100);
        assert_eq!(c.fail_marker, "__fail__");
        assert_eq!(c.reject_marker, "__reject__");
        assert_eq!(c.reject_code, "ResourceNotFound.CdnHostNotExists");
    }

    #[test]
    fn fault_probabilities_must_not_exceed_one() {
        let cli = Cli::try_parse_from([
            "cdn-unblock",
            "simulate",
            "--p-drop",
            "0.6",
            "--p-http-502",
            "0.6",
        ])
        .unwrap();
        let Command::Simulate(args) = cli.command else {
            unreachable!()
        };
        assert!(args.into_config().unwrap_err().contains("--p-*"));
    }
}
