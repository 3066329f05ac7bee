//! End-to-end benchmarks: the real binary, real sockets, the simulator's log.
//!
//! Not a test: it prints measurements. Each mode is one command:
//!
//! ```text
//! cargo bench --bench e2e -- at-cap --urls 40000 --latency-ms 20-80
//! cargo bench --bench e2e -- at-cap --urls 20000 --latency-ms 20-80 --competitor 20
//! cargo bench --bench e2e -- fixed-rate --rate 40 --competitor 20 --seconds 30
//! ```
//!
//! The simulator runs as its own process (`cdn-unblock simulate --log`), the
//! client as another (`cdn-unblock run`), measured with `wait4` (CPU seconds
//! and peak RSS of that process alone). Calls per second, the busiest
//! one-second window and throttled answers come from the simulator's log.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cdn_unblock::client::{Answer, Client, ClientConfig, Endpoint};
use cdn_unblock::credentials::{Credentials, Secret};
use cdn_unblock::sim::{CallRecord, Outcome};

const BIN: &str = env!("CARGO_BIN_EXE_cdn-unblock");
const COMPETITOR_HOST: &str = "competitor.example.com";

type Args = HashMap<String, String>;

fn parse_args() -> (String, Args) {
    let mut it = std::env::args().skip(1).filter(|a| a != "--bench");
    let mode = it.next().unwrap_or_else(|| "at-cap".into());
    let mut args = HashMap::new();
    while let Some(key) = it.next() {
        let key = key.trim_start_matches("--").to_string();
        let value = it.next().unwrap_or_default();
        args.insert(key, value);
    }
    (mode, args)
}

fn arg<T: std::str::FromStr>(args: &Args, key: &str, default: T) -> T {
    args.get(key)
        .map(|v| v.parse().unwrap_or_else(|_| panic!("bad --{key} {v}")))
        .unwrap_or(default)
}

/// What GNU time says about one finished child.
struct Measured {
    wall: f64,
    cpu: f64,
    max_rss_mb: f64,
    code: i32,
}

/// Run `cmd` under `/usr/bin/time`: it forks the program from a small
/// process, so the peak RSS is the program's own (a child forked from this
/// bench would inherit the bench's high-water mark across `exec`).
fn run_measured(cmd: &mut Command) -> Measured {
    let out = std::env::temp_dir().join(format!("cdn-unblock-bench-time-{}", std::process::id()));
    let mut timed = Command::new("/usr/bin/time");
    timed
        .args(["-f", "%e %U %S %M", "-o"])
        .arg(&out)
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    if let Some(dir) = cmd.get_current_dir() {
        timed.current_dir(dir);
    }
    timed.stdout(Stdio::null()).stderr(Stdio::null());
    let status = timed.status().expect("run /usr/bin/time");
    let text = std::fs::read_to_string(&out).expect("time's output");
    let _ = std::fs::remove_file(&out);
    let last = text.lines().last().unwrap_or_default();
    let f: Vec<f64> = last
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    Measured {
        wall: f[0],
        cpu: f[1] + f[2],
        max_rss_mb: f[3] / 1024.0,
        code: status.code().unwrap_or(-1),
    }
}

struct Sim {
    child: Child,
    endpoint: String,
    log: PathBuf,
}

fn start_sim(dir: &Path, extra: &[String]) -> Sim {
    let log = dir.join("sim.jsonl");
    let mut child = Command::new(BIN)
        .args([
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "1",
            "--log",
        ])
        .arg(&log)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the simulator");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    Sim {
        child,
        endpoint,
        log,
    }
}

impl Sim {
    fn stop(mut self) -> Vec<CallRecord> {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// The most calls in any window `[t, t + 1 s)`.
fn busiest_second(times_ms: &[f64]) -> usize {
    cdn_unblock::sim::log::busiest_window(times_ms, 1000.0)
}

fn is_competitor(c: &CallRecord) -> bool {
    c.urls.iter().any(|u| u.contains(COMPETITOR_HOST))
}

fn sim_credentials() -> Credentials {
    Credentials {
        secret_id: "AKIDsimulator".into(),
        secret_key: Secret::new("simulator-secret"),
        token: None,
    }
}

/// Another job on the same account: one-URL calls at a fixed rate, no
/// adaptation, until `stop`. Returns (calls, throttled).
fn spawn_competitor(
    endpoint: &str,
    rate: f64,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(u64, u64)> {
    let endpoint = endpoint.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(fixed_rate_sender(
            &endpoint,
            rate,
            COMPETITOR_HOST,
            move || stop.load(Ordering::Relaxed),
        ))
    })
}

async fn fixed_rate_sender(
    endpoint: &str,
    rate: f64,
    host: &str,
    done: impl Fn() -> bool,
) -> (u64, u64) {
    let client = Arc::new(
        Client::new(ClientConfig {
            endpoint: Endpoint::parse(endpoint).unwrap(),
            credentials: sim_credentials(),
            region: None,
            language: None,
            timeout: Duration::from_secs(10),
        })
        .unwrap(),
    );
    let calls = Arc::new(AtomicU64::new(0));
    let throttled = Arc::new(AtomicU64::new(0));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut n = 0u64;
    let mut tasks = Vec::new();
    while !done() {
        tick.tick().await;
        n += 1;
        let (client, calls, throttled) = (client.clone(), calls.clone(), throttled.clone());
        let url = format!("https://{host}/{n}");
        tasks.push(tokio::spawn(async move {
            let answer = client.enable_caches(&[url], None).await;
            calls.fetch_add(1, Ordering::Relaxed);
            if let Answer::Error(e) = answer
                && e.code == "UnauthorizedOperation.OperationTooOften"
            {
                throttled.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (
        calls.load(Ordering::Relaxed),
        throttled.load(Ordering::Relaxed),
    )
}

fn workdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cdn-unblock-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_input(dir: &Path, urls: usize) -> PathBuf {
    let path = dir.join("urls.txt");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..urls {
        writeln!(
            out,
            "https://static.example.com/img/{:03}/{i:08}.jpg",
            i % 997
        )
        .unwrap();
    }
    out.flush().unwrap();
    path
}

/// Rows and `ok` rows of a CSV report (streamed: reports can be gigabytes).
fn report_rows(path: &Path) -> (usize, usize) {
    let reader = BufReader::with_capacity(1 << 20, std::fs::File::open(path).unwrap());
    let mut rows = 0;
    let mut ok = 0;
    for line in reader.lines().skip(1) {
        rows += 1;
        if line.unwrap().contains(",ok,") {
            ok += 1;
        }
    }
    (rows, ok)
}

fn at_cap(args: &Args) {
    let urls: usize = arg(args, "urls", 40_000);
    let latency: String = arg(args, "latency-ms", "20-80".to_string());
    let qps: u32 = arg(args, "qps", 40);
    let sim_qps: u32 = arg(args, "sim-qps", 40);
    let batch: usize = arg(args, "batch-size", 100);
    let competitor: f64 = arg(args, "competitor", 0.0);
    let sim_extra: String = arg(args, "sim-args", String::new());
    let dir = workdir();
    let input = write_input(&dir, urls);
    let report = dir.join("report.csv");
    let mut extra = vec![
        "--latency-ms".to_string(),
        latency.clone(),
        "--qps".into(),
        sim_qps.to_string(),
        "--max-urls".into(),
        batch.max(100).to_string(),
    ];
    extra.extend(sim_extra.split_whitespace().map(str::to_string));
    let sim = start_sim(&dir, &extra);
    let stop = Arc::new(AtomicBool::new(false));
    let rival =
        (competitor > 0.0).then(|| spawn_competitor(&sim.endpoint, competitor, stop.clone()));
    if rival.is_some() {
        std::thread::sleep(Duration::from_secs(2));
    }
    let m = run_measured(
        Command::new(BIN)
            .args(["run", "--progress", "never", "-q", "--force", "--qps"])
            .arg(qps.to_string())
            .arg("--batch-size")
            .arg(batch.to_string())
            .arg("--endpoint")
            .arg(&sim.endpoint)
            .arg("-o")
            .arg(&report)
            .arg(&input)
            .env("TENCENTCLOUD_SECRET_ID", "AKIDsimulator")
            .env("TENCENTCLOUD_SECRET_KEY", "simulator-secret")
            .stderr(Stdio::inherit()),
    );
    stop.store(true, Ordering::Relaxed);
    let rival = rival.map(|h| h.join().unwrap());
    let calls = sim.stop();
    let ours: Vec<&CallRecord> = calls.iter().filter(|c| !is_competitor(c)).collect();
    let times: Vec<f64> = ours.iter().map(|c| c.elapsed_ms).collect();
    let all_times: Vec<f64> = calls.iter().map(|c| c.elapsed_ms).collect();
    let throttled = ours
        .iter()
        .filter(|c| c.outcome == Outcome::Throttled)
        .count();
    let span = (times.last().unwrap() - times.first().unwrap()) / 1000.0;
    let sustained = (times.len() - 1) as f64 / span;
    let (rows, ok) = report_rows(&report);
    println!(
        "## at-cap: {urls} URLs, batch {batch}, --qps {qps}, simulator --qps {sim_qps}, latency {latency} ms{}",
        if competitor > 0.0 {
            format!(", competitor at {competitor} calls/s")
        } else {
            String::new()
        }
    );
    println!("client exit code          {}", m.code);
    println!("calls (ours, all tries)   {}", ours.len());
    println!(
        "sustained calls/s         {sustained:.2}   (first to last call at the simulator, {span:.1} s)"
    );
    println!(
        "busiest 1 s window        {} of ours, {} with the competitor",
        busiest_second(&times),
        busiest_second(&all_times)
    );
    println!(
        "throttled answers         {throttled} ({:.2}% of our calls)",
        100.0 * throttled as f64 / ours.len() as f64
    );
    if let Some((their_calls, their_throttled)) = rival {
        println!(
            "competitor                {their_calls} calls, {their_throttled} throttled ({:.1}%)",
            100.0 * their_throttled as f64 / their_calls.max(1) as f64
        );
        let accepted = ours.len() - throttled;
        println!("our accepted calls/s      {:.2}", accepted as f64 / span);
    }
    println!("report rows               {rows} for {urls} URLs, {ok} ok");
    println!(
        "client wall / CPU         {:.2} s / {:.2} s user+sys ({:.2}% of one core)",
        m.wall,
        m.cpu,
        100.0 * m.cpu / m.wall
    );
    println!("client peak RSS           {:.1} MB", m.max_rss_mb);
    let _ = std::fs::remove_dir_all(&dir);
}

fn fixed_rate(args: &Args) {
    let rate: f64 = arg(args, "rate", 40.0);
    let competitor: f64 = arg(args, "competitor", 20.0);
    let seconds: f64 = arg(args, "seconds", 30.0);
    let latency: String = arg(args, "latency-ms", "20-80".to_string());
    let dir = workdir();
    let sim = start_sim(&dir, &["--latency-ms".to_string(), latency]);
    let stop = Arc::new(AtomicBool::new(false));
    let rival = spawn_competitor(&sim.endpoint, competitor, stop.clone());
    std::thread::sleep(Duration::from_secs(2));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let (calls, throttled) = rt.block_on(fixed_rate_sender(
        &sim.endpoint,
        rate,
        "fixed.example.com",
        move || Instant::now() >= until,
    ));
    stop.store(true, Ordering::Relaxed);
    let (their_calls, their_throttled) = rival.join().unwrap();
    sim.stop();
    println!(
        "## fixed-rate sender at {rate} calls/s, competitor at {competitor} calls/s, {seconds} s"
    );
    println!(
        "fixed sender              {calls} calls, {throttled} throttled ({:.1}%)",
        100.0 * throttled as f64 / calls as f64
    );
    println!(
        "competitor                {their_calls} calls, {their_throttled} throttled ({:.1}%)",
        100.0 * their_throttled as f64 / their_calls.max(1) as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A CSV of `records` distinct URLs (with two more columns, like an
/// incident export), kept between runs in the temp directory.
fn csv_input(records: usize) -> PathBuf {
    let path = std::env::temp_dir().join(format!("cdn-unblock-bench-{records}.csv"));
    if path.exists() {
        return path;
    }
    let tmp = path.with_extension("partial");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).unwrap());
    writeln!(out, "url,blocked_at,ticket").unwrap();
    for i in 0..records {
        writeln!(
            out,
            "https://static{}.example.com/img/{:03}/{i:09}.jpg,2026-11-27T{:02}:{:02}:00Z,INC-{}",
            i % 7,
            i % 997,
            i % 24,
            i % 60,
            4000 + i / 10_000
        )
        .unwrap();
    }
    out.flush().unwrap();
    drop(out);
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// `--dry-run` over generated CSVs: parse, validate, deduplicate, write the
/// report. `--records 100000,1000000` measures each size; `--runs 3` takes
/// the median; `--pin 0` runs on CPU 0 only (taskset). Memory growth per
/// URL is measured against the first size.
fn dry_run(args: &Args) {
    let sizes: Vec<usize> = arg(args, "records", "1000000".to_string())
        .split(',')
        .map(|n| n.parse().unwrap())
        .collect();
    let runs: usize = arg(args, "runs", 1);
    let pin: Option<usize> = args.get("pin").map(|p| p.parse().unwrap());
    println!(
        "## dry-run{}, median of {runs} run(s)",
        pin.map(|c| format!(", pinned to CPU {c}"))
            .unwrap_or_default()
    );
    println!("| records | wall s | records/s | CPU s | peak RSS MB | growth bytes/URL |");
    println!("|---|---|---|---|---|---|");
    let mut first: Option<(usize, f64)> = None;
    for records in sizes {
        let input = csv_input(records);
        let mut measured = Vec::new();
        for _ in 0..runs {
            let dir = workdir();
            let report = dir.join("report.csv");
            let mut cmd = match pin {
                Some(cpu) => {
                    let mut c = Command::new("taskset");
                    c.args(["-c", &cpu.to_string(), BIN]);
                    c
                }
                None => Command::new(BIN),
            };
            cmd.args(["run", "--dry-run", "--progress", "never", "-q", "-o"])
                .arg(&report)
                .arg(&input)
                .stderr(Stdio::null());
            let m = run_measured(&mut cmd);
            assert_eq!(m.code, 0);
            assert_eq!(report_rows(&report).0, records);
            let _ = std::fs::remove_dir_all(&dir);
            measured.push(m);
        }
        measured.sort_by(|a, b| a.wall.total_cmp(&b.wall));
        let m = &measured[measured.len() / 2];
        let growth = match first {
            Some((n, rss)) if records > n => {
                format!(
                    "{:.1}",
                    (m.max_rss_mb - rss) * 1024.0 * 1024.0 / (records - n) as f64
                )
            }
            _ => "–".into(),
        };
        first.get_or_insert((records, m.max_rss_mb));
        println!(
            "| {records} | {:.2} | {:.0} | {:.2} | {:.1} | {growth} |",
            m.wall,
            records as f64 / m.wall,
            m.cpu,
            m.max_rss_mb
        );
    }
}

/// Time from launch to the first call's arrival at the simulator, with a
/// large input file.
fn first_call(args: &Args) {
    let records: usize = arg(args, "records", 10_000_000);
    let input = csv_input(records);
    let dir = workdir();
    let sim = start_sim(&dir, &["--latency-ms".to_string(), "50".to_string()]);
    let launched = std::time::SystemTime::now();
    let mut child = Command::new(BIN)
        .args(["run", "--progress", "never", "-q", "--force", "-o"])
        .arg(dir.join("report.csv"))
        .arg("--endpoint")
        .arg(&sim.endpoint)
        .arg(&input)
        .env("TENCENTCLOUD_SECRET_ID", "AKIDsimulator")
        .env("TENCENTCLOUD_SECRET_KEY", "simulator-secret")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the first log line, then stop the client.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&sim.log).unwrap_or_default();
        if text.lines().next().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "no call within 30 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    let _ = child.wait();
    let calls = sim.stop();
    let first = &calls[0];
    let format = time::format_description::well_known::Rfc3339;
    let at = time::OffsetDateTime::parse(&first.time, &format).unwrap();
    let launched = time::OffsetDateTime::from(launched);
    println!("## first call: {records}-record CSV");
    println!(
        "launch to first call      {:.0} ms",
        (at - launched).as_seconds_f64() * 1000.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let (mode, args) = parse_args();
    match mode.as_str() {
        "at-cap" => at_cap(&args),
        "fixed-rate" => fixed_rate(&args),
        "dry-run" => dry_run(&args),
        "first-call" => first_call(&args),
        other => {
            eprintln!("unknown mode `{other}`: at-cap, fixed-rate, dry-run, first-call");
            std::process::exit(2);
        }
    }
}
