//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::time::Duration;

use cdn_unblock::client::{Client, ClientConfig, Endpoint};
use cdn_unblock::credentials::{Credentials, Secret};
use cdn_unblock::sim::{self, SimConfig, SimHandle};

/// The simulator's default keys.
pub fn sim_credentials() -> Credentials {
    Credentials {
        secret_id: "AKIDsimulator".into(),
        secret_key: Secret::new("simulator-secret"),
        token: None,
    }
}

/// A simulator config on a free loopback port that records calls in memory.
pub fn sim_config() -> SimConfig {
    SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        record: true,
        seed: Some(1),
        ..SimConfig::default()
    }
}

pub async fn start_sim(config: SimConfig) -> SimHandle {
    sim::start(config).await.expect("the simulator starts")
}

pub fn client_for(sim: &SimHandle, credentials: Credentials) -> Client {
    client_with_timeout(sim, credentials, Duration::from_secs(10))
}

pub fn client_with_timeout(sim: &SimHandle, credentials: Credentials, timeout: Duration) -> Client {
    Client::new(ClientConfig {
        endpoint: Endpoint::parse(&sim.endpoint()).unwrap(),
        credentials,
        region: None,
        language: Some("en-US".into()),
        timeout,
    })
    .unwrap()
}

pub fn urls(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

use std::path::{Path, PathBuf};

use cdn_unblock::input::{CsvOptions, Input, InputFormat};
use cdn_unblock::progress::ProgressMode;
use cdn_unblock::report::{ReportMode, Row};
use cdn_unblock::runner::{self, Mode, RunConfig};
use cdn_unblock::stats::Summary;
use tokio_util::sync::CancellationToken;

/// A run configuration against `endpoint`, quiet, writing to `report`.
pub fn run_config(endpoint: &str, input: Input, report: PathBuf) -> RunConfig {
    let lock = cdn_unblock::lock::default_path(&report);
    RunConfig {
        input,
        input_format: InputFormat::Auto,
        csv: CsvOptions::default(),
        report,
        report_mode: ReportMode::New,
        batch_size: 100,
        qps: 40,
        concurrency: 64,
        max_attempts: 10,
        timeout: Duration::from_secs(10),
        endpoint: Endpoint::parse(endpoint).unwrap(),
        region: None,
        date: None,
        progress: ProgressMode::Never,
        summary_json: None,
        lock,
    }
}

/// Run against the simulator with its keys.
pub async fn run_sim(config: &RunConfig) -> Summary {
    runner::run(
        config,
        Mode::Send(sim_credentials()),
        CancellationToken::new(),
    )
    .await
    .expect("the run starts")
}

/// Every row of a report, CSV or JSON Lines.
pub fn read_report(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    if path.extension().is_some_and(|e| e == "jsonl") {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    } else {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        reader.deserialize().map(|r| r.unwrap()).collect()
    }
}

/// `n` distinct URLs.
pub fn many_urls(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("https://static.example.com/img/{i:06}.jpg"))
        .collect()
}

/// Write `lines` to `dir/name`, one per line.
pub fn write_lines(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// A simulator on its own runtime, for tests that drive the binary
/// synchronously (a pseudo-terminal, child processes).
pub struct BackgroundSim {
    pub sim: SimHandle,
    _runtime: tokio::runtime::Runtime,
}

pub fn background_sim(config: SimConfig) -> BackgroundSim {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = runtime.block_on(sim::start(config)).unwrap();
    BackgroundSim {
        sim,
        _runtime: runtime,
    }
}

/// The binary, with the simulator's keys and nothing else from the
/// machine's environment.
pub fn binary_with_keys(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("cdn-unblock"));
    for var in [
        "RUST_LOG",
        "NO_COLOR",
        "TENCENTCLOUD_SESSION_TOKEN",
        "TENCENTCLOUD_TOKEN",
        "TENCENTCLOUD_SECURITY_TOKEN",
        "TENCENTCLOUD_CREDENTIALS_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.current_dir(dir)
        .env("HOME", "/nonexistent-home")
        .env("TENCENTCLOUD_SECRET_ID", "AKIDsimulator")
        .env("TENCENTCLOUD_SECRET_KEY", "simulator-secret");
    cmd
}
