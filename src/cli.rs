//! The command line: clap types, and their conversion into validated
//! configuration with no clap types in it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::credentials::Secret;
use crate::sim::{Faults, SimConfig};

/// Unblock CDN URLs in bulk through Tencent Cloud's EnableCaches API.
#[derive(Debug, Parser)]
#[command(name = "cdn-unblock", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
    Simulate(SimulateArgs),
}

/// `cdn-unblock simulate` options.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9100")]
    pub listen: SocketAddr,

    /// The one SecretId the simulator knows.
    #[arg(long, value_name = "ID", default_value = "AKIDsimulator")]
    pub secret_id: String,

    /// Its SecretKey.
    #[arg(long, value_name = "KEY", default_value = "simulator-secret")]
    pub secret_key: String,

    /// Require this session token in X-TC-Token (temporary credentials).
    #[arg(long, value_name = "T")]
    pub token: Option<String>,

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

    /// Write one JSON line per request here.
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
            secret_key: Secret::new(self.secret_key),
            token: self.token.map(Secret::new),
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

    #[test]
    fn simulate_defaults_are_the_contract() {
        let cli = Cli::try_parse_from(["cdn-unblock", "simulate"]).unwrap();
        let Command::Simulate(args) = cli.command;
        let c = args.into_config().unwrap();
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
        let Command::Simulate(args) = cli.command;
        assert!(args.into_config().unwrap_err().contains("--p-*"));
    }
}
