//! `cdn-unblock demo`: the sample list through an in-process simulator.
//!
//! No credentials and no network: the simulator listens on a free loopback
//! port with the API's latency (40–60 ms), its rate limit and its rules; the
//! sample holds invalid records, duplicates, URLs the API lists in
//! `FailUrls` and URLs of a domain it does not know, so every status and the
//! batch splitting show up in `demo-report.csv`.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::client::Endpoint;
use crate::input::{CsvOptions, Input, InputFormat};
use crate::progress::ProgressMode;
use crate::report::{COLUMNS, ReportMode};
use crate::runner::{self, Mode, RunConfig};
use crate::sim::{self, SimConfig};
use crate::stats::Summary;

/// The sample, built into the binary so the demo runs from anywhere.
pub const SAMPLE: &[u8] = include_bytes!("../samples/urls.csv");
/// Where the demo writes its report.
pub const REPORT: &str = "demo-report.csv";
/// Small batches, so the demo makes enough calls to watch.
pub const BATCH_SIZE: usize = 20;

/// Whether `path` is a report this demo may overwrite: absent, or a report
/// (it starts with the report's header).
fn may_overwrite(path: &Path) -> bool {
    match std::fs::read(path) {
        Ok(bytes) => bytes.starts_with(COLUMNS.join(",").as_bytes()),
        Err(_) => true,
    }
}

pub async fn run(progress: ProgressMode, shutdown: CancellationToken) -> anyhow::Result<Summary> {
    let report = Path::new(REPORT);
    if !may_overwrite(report) {
        anyhow::bail!("{REPORT} exists and is not a cdn-unblock report: move it away first");
    }
    let sim_config = SimConfig {
        listen: "127.0.0.1:0".parse().expect("a loopback address"),
        latency_ms: (40, 60),
        ..SimConfig::default()
    };
    let credentials = crate::credentials::Credentials {
        secret_id: sim_config.secret_id.clone(),
        secret_key: sim_config.secret_key.clone(),
        token: None,
    };
    let simulator = sim::start(sim_config)
        .await
        .context("cannot start the simulator")?;
    tracing::info!(
        event = "demo",
        endpoint = %simulator.endpoint(),
        "demo: a simulator of the API listens on {} (40 calls/s, 40–60 ms latency); sending samples/urls.csv in batches of {BATCH_SIZE}",
        simulator.endpoint()
    );
    let config = RunConfig {
        input: Input::Embedded {
            name: "samples/urls.csv",
            data: SAMPLE,
        },
        input_format: InputFormat::Auto,
        csv: CsvOptions::default(),
        report: report.to_path_buf(),
        report_mode: ReportMode::Overwrite,
        batch_size: BATCH_SIZE,
        qps: 40,
        concurrency: 64,
        max_attempts: 10,
        timeout: Duration::from_secs(30),
        endpoint: Endpoint::parse(&simulator.endpoint()).expect("the simulator's address"),
        region: None,
        date: None,
        progress,
        summary_json: None,
        lock: crate::lock::default_path(report),
    };
    let summary = runner::run(&config, Mode::Send(credentials), shutdown).await;
    simulator.stop().await;
    Ok(summary?)
}
