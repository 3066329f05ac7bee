//! What incidents bring: faults, bad batches, a shared quota, signals,
//! `kill -9`, and `--resume`.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cdn_unblock::input::Input;
use cdn_unblock::report::{ReportMode, Row, Status};
use cdn_unblock::sim::{CallRecord, Faults, Outcome, SimConfig, SimHandle};

use crate::support::*;

/// The most arrivals in any window `[t, t + width)`.
fn busiest(calls: &[CallRecord], width_ms: f64) -> usize {
    let times: Vec<f64> = calls.iter().map(|c| c.elapsed_ms).collect();
    cdn_unblock::sim::log::busiest_window(&times, width_ms)
}

/// The latest status of every URL in a report.
fn latest(rows: &[Row]) -> HashMap<String, Status> {
    let mut map = HashMap::new();
    for r in rows {
        map.insert(r.url.clone(), r.status);
    }
    map
}

#[tokio::test]
async fn every_url_ends_ok_through_every_kind_of_fault_at_once() {
    let sim = start_sim(SimConfig {
        faults: Faults {
            http_500: 0.03,
            http_502: 0.03,
            drop: 0.03,
            internal: 0.03,
            garbage: 0.03,
            slow: 0.03,
        },
        slow_ms: 1500,
        qps: 20,
        seed: Some(42),
        ..sim_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let urls = many_urls(1000);
    let input = write_lines(dir.path(), "urls.txt", &urls);
    let report = dir.path().join("r.csv");
    let mut config = run_config(&sim.endpoint(), Input::Files(vec![input]), report.clone());
    config.batch_size = 20;
    config.qps = 10;
    config.timeout = Duration::from_secs(1);
    let summary = run_sim(&config).await;
    assert_eq!(summary.exit_code, 0, "{}", summary.render(false));
    let rows = read_report(&report);
    assert_eq!(rows.len(), 1000);
    assert!(rows.iter().all(|r| r.status == Status::Ok));
    let calls = sim.calls();
    let kinds: HashSet<Outcome> = calls.iter().map(|c| c.outcome).collect();
    for kind in [
        Outcome::Http500,
        Outcome::Http502,
        Outcome::Drop,
        Outcome::Internal,
        Outcome::Garbage,
        Outcome::Slow,
    ] {
        assert!(
            kinds.contains(&kind),
            "the simulator injected no {kind:?}: {kinds:?}"
        );
    }
    assert!(summary.counts.retries > 0);
    // Retries went through the limiter: never more than --qps in a second
    // (10 ms of the window are left for scheduling jitter on a busy machine).
    assert!(busiest(&calls, 990.0) <= 10, "{}", busiest(&calls, 990.0));
    // A slow answer was processed although the client gave up on it: sending
    // its batch again is what makes the URLs `ok`, and that is safe.
    assert!(calls.iter().any(|c| c.outcome == Outcome::Slow));
    sim.stop().await;
}

#[tokio::test]
async fn a_batch_refused_whole_is_split_down_to_the_one_bad_url() {
    let sim = start_sim(sim_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut urls = many_urls(100);
    urls[37] = "https://__reject__.old-cdn.example.net/x.png".into();
    let input = write_lines(dir.path(), "urls.txt", &urls);
    let report = dir.path().join("r.csv");
    let summary = run_sim(&run_config(
        &sim.endpoint(),
        Input::Files(vec![input]),
        report.clone(),
    ))
    .await;
    let rows = read_report(&report);
    assert_eq!(rows.len(), 100);
    let failed: Vec<&Row> = rows.iter().filter(|r| r.status == Status::Failed).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].line, 38);
    assert_eq!(
        failed[0].error_code.as_deref(),
        Some("ResourceNotFound.CdnHostNotExists")
    );
    assert_eq!(rows.iter().filter(|r| r.status == Status::Ok).count(), 99);
    // Line 38 (index 37) sits in halves of 50, 25, 13, 6, 3 and 1 URLs: two
    // calls per level, six levels, on top of the first call.
    assert_eq!(summary.counts.split_calls, 12, "{:?}", summary.counts);
    assert_eq!(summary.counts.calls, 13);
    sim.stop().await;
}

#[tokio::test]
async fn sharing_the_quota_with_another_job_slows_down_and_still_finishes() {
    // The account allows 10 calls/s; another job takes 5 of them.
    let sim = start_sim(SimConfig {
        qps: 10,
        ..sim_config()
    })
    .await;
    let rival = {
        let client = client_for(&sim, sim_credentials());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            for i in 0.. {
                tick.tick().await;
                let _ = client
                    .enable_caches(&[format!("https://rival.example.com/{i}")], None)
                    .await;
            }
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(dir.path(), "urls.txt", &many_urls(400));
    let report = dir.path().join("r.csv");
    let mut config = run_config(&sim.endpoint(), Input::Files(vec![input]), report.clone());
    config.batch_size = 10;
    config.qps = 10;
    let summary = run_sim(&config).await;
    rival.abort();
    assert_eq!(summary.exit_code, 0, "{}", summary.render(false));
    assert_eq!(summary.counts.ok, 400);
    assert!(
        summary.counts.throttled > 0,
        "the quota was shared, so some calls were throttled"
    );
    sim.stop().await;
}

fn spawn_run(dir: &Path, endpoint: &str, args: &[&str]) -> Child {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("cdn-unblock"));
    cmd.current_dir(dir)
        .env_remove("RUST_LOG")
        .env("HOME", "/nonexistent-home")
        .env("TENCENTCLOUD_SECRET_ID", "AKIDsimulator")
        .env("TENCENTCLOUD_SECRET_KEY", "simulator-secret")
        .args(["run", "--endpoint", endpoint])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, sig) };
}

/// Wait for the child, failing the test if it takes longer than `limit`.
async fn wait_exit(mut child: Child, limit: Duration) -> (i32, String) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        if tokio::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child did not exit within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_calls(sim: &SimHandle, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sim.calls().len() < n {
        assert!(tokio::time::Instant::now() < deadline, "no calls arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn sigint_with_the_bar_showing_finishes_the_calls_in_flight_and_exits_130() {
    let sim = start_sim(SimConfig {
        latency_ms: (200, 300),
        ..sim_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_lines(dir.path(), "urls.txt", &many_urls(5000));
    let child = spawn_run(
        dir.path(),
        &sim.endpoint(),
        &[
            "urls.txt",
            "-o",
            "r.csv",
            "--batch-size",
            "10",
            "--progress",
            "always",
        ],
    );
    wait_for_calls(&sim, 12).await;
    signal(&child, libc::SIGINT);
    let (code, err) = wait_exit(child, Duration::from_secs(20)).await;
    assert_eq!(code, 130, "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(err.contains("records"), "the summary is printed: {err}");
    // Every call the API processed has its rows; nothing else was written.
    let processed: HashSet<String> = sim
        .calls()
        .iter()
        .filter(|c| c.outcome.processed())
        .flat_map(|c| c.urls.clone())
        .collect();
    let rows = read_report(&dir.path().join("r.csv"));
    let written: HashSet<String> = rows.iter().map(|r| r.url.clone()).collect();
    assert_eq!(written, processed);
    assert!(rows.iter().all(|r| r.status == Status::Ok));
    sim.stop().await;
}

#[tokio::test]
async fn a_second_signal_exits_at_once() {
    // Answers take 30 s: after the first SIGINT the run would wait for them.
    let sim = start_sim(SimConfig {
        latency_ms: (30_000, 30_000),
        ..sim_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_lines(dir.path(), "urls.txt", &many_urls(500));
    let child = spawn_run(
        dir.path(),
        &sim.endpoint(),
        &["urls.txt", "-o", "r.csv", "--timeout", "60"],
    );
    wait_for_calls(&sim, 3).await;
    signal(&child, libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&child, libc::SIGINT);
    let (code, err) = wait_exit(child, Duration::from_secs(15)).await;
    assert_eq!(code, 130, "{err}");
    assert!(err.contains("interrupted again"), "{err}");
}

/// Kill the run with SIGKILL after `after` calls, leave a torn last line,
/// then `--resume` with `resume_input`: every URL must end `ok`, and no URL
/// already `ok` may be sent again.
async fn crash_then_resume(after: usize, resume_lines: impl Fn(&[String]) -> Vec<String>) {
    let sim = start_sim(SimConfig {
        latency_ms: (50, 150),
        ..sim_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let urls = many_urls(3000);
    write_lines(dir.path(), "urls.txt", &urls);
    let mut child = spawn_run(
        dir.path(),
        &sim.endpoint(),
        &["urls.txt", "-o", "r.csv", "--batch-size", "10"],
    );
    wait_for_calls(&sim, after).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let report = dir.path().join("r.csv");
    // A crash in the middle of a write leaves half a row.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&report)
            .unwrap();
        f.write_all(b"urls.txt,4242,https://static.example.com/img/torn")
            .unwrap();
    }
    let before = read_report_lenient(&report);
    let ok_before: HashSet<String> = before
        .iter()
        .filter(|r| r.status == Status::Ok)
        .map(|r| r.url.clone())
        .collect();
    assert!(
        !ok_before.is_empty() && ok_before.len() < 3000,
        "{}",
        ok_before.len()
    );
    let calls_before = sim.calls().len();

    let lines = resume_lines(&urls);
    write_lines(dir.path(), "again.txt", &lines);
    let child = spawn_run(
        dir.path(),
        &sim.endpoint(),
        &[
            "again.txt",
            "-o",
            "r.csv",
            "--resume",
            "--batch-size",
            "10",
            "--summary-json",
            "s.json",
        ],
    );
    let (code, err) = wait_exit(child, Duration::from_secs(60)).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("last line was cut off"), "{err}");

    // Every URL of the resumed input ends ok.
    let rows = read_report(&report);
    let status = latest(&rows);
    for url in &lines {
        assert_eq!(status.get(url), Some(&Status::Ok), "{url}");
    }
    // Nothing already ok was sent again.
    let resent: HashSet<String> = sim.calls()[calls_before..]
        .iter()
        .flat_map(|c| c.urls.clone())
        .collect();
    assert!(resent.is_disjoint(&ok_before));
    // Already-done URLs got no new rows, and the summary counts them.
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("s.json")).unwrap()).unwrap();
    let done_in_input = lines.iter().filter(|u| ok_before.contains(*u)).count();
    assert_eq!(summary["already_done"], done_in_input as u64);
    assert_eq!(rows.len(), before.len() + lines.len() - done_in_input);
    sim.stop().await;
}

/// Read a report that may end in a torn line (skipped).
fn read_report_lenient(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let mut reader = csv::Reader::from_reader(complete.as_bytes());
    reader.deserialize().map(|r| r.unwrap()).collect()
}

#[tokio::test]
async fn kill_9_then_resume_sends_exactly_what_is_not_ok_yet() {
    crash_then_resume(40, |urls| urls.to_vec()).await;
}

#[tokio::test]
async fn resume_is_keyed_by_url_so_a_reordered_and_extended_input_works() {
    crash_then_resume(60, |urls| {
        let mut lines: Vec<String> = urls.iter().rev().cloned().collect();
        lines.extend((0..200).map(|i| format!("https://new.example.com/{i}")));
        lines
    })
    .await;
}

#[tokio::test]
async fn resuming_a_finished_report_sends_nothing_and_writes_no_rows() {
    let sim = start_sim(sim_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut lines = many_urls(150);
    lines.push("not-a-url".into());
    lines.push(lines[0].clone());
    let input = write_lines(dir.path(), "urls.txt", &lines);
    let report = dir.path().join("r.jsonl");
    let mut config = run_config(&sim.endpoint(), Input::Files(vec![input]), report.clone());
    let first = run_sim(&config).await;
    assert_eq!(first.exit_code, 1, "one invalid record");
    let rows_before = read_report(&report).len();
    let calls_before = sim.calls().len();
    config.report_mode = ReportMode::Append;
    let again = run_sim(&config).await;
    assert_eq!(sim.calls().len(), calls_before, "nothing is sent again");
    assert_eq!(
        read_report(&report).len(),
        rows_before,
        "no row is written twice"
    );
    assert_eq!(again.counts.already_done, 150);
    assert_eq!(again.counts.invalid, 1);
    assert_eq!(again.counts.duplicate, 1);
    assert_eq!(
        again.exit_code, 1,
        "the whole job still has an invalid record"
    );
    sim.stop().await;
}

#[tokio::test]
async fn failed_urls_are_sent_again_on_resume_and_the_exit_code_covers_the_whole_job() {
    let sim = start_sim(SimConfig {
        faults: Faults {
            http_502: 1.0,
            ..Faults::default()
        },
        ..sim_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(dir.path(), "urls.txt", &many_urls(30));
    let report = dir.path().join("r.csv");
    let mut config = run_config(&sim.endpoint(), Input::Files(vec![input]), report.clone());
    config.max_attempts = 2;
    let first = run_sim(&config).await;
    assert_eq!(first.exit_code, 1);
    assert_eq!(first.counts.failed, 30);
    sim.stop().await;

    // The API is healthy again: resume against a new simulator.
    let sim = start_sim(sim_config()).await;
    config.endpoint = cdn_unblock::client::Endpoint::parse(&sim.endpoint()).unwrap();
    config.report_mode = ReportMode::Append;
    let again = run_sim(&config).await;
    assert_eq!(again.exit_code, 0, "{}", again.render(false));
    assert_eq!(again.counts.ok, 30);
    let status = latest(&read_report(&report));
    assert!(status.values().all(|s| *s == Status::Ok));
    sim.stop().await;
}

#[tokio::test]
async fn temporary_credentials_from_the_file_send_the_token() {
    let sim = start_sim(SimConfig {
        token: Some(cdn_unblock::credentials::Secret::new("sts-token")),
        ..sim_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    std::fs::write(
        &creds,
        "[default]\nsecret_id = AKIDnobody\nsecret_key = nope\n\n[ops]\nsecret_id = AKIDsimulator\nsecret_key = simulator-secret\ntoken = sts-token\n",
    )
    .unwrap();
    write_lines(dir.path(), "urls.txt", &many_urls(5));
    let endpoint = sim.endpoint();
    let out = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || {
            crate::binary::bin()
                .current_dir(&dir)
                .env("TENCENTCLOUD_CREDENTIALS_FILE", dir.join("credentials"))
                .args([
                    "run",
                    "--endpoint",
                    &endpoint,
                    "--profile",
                    "ops",
                    "urls.txt",
                    "-o",
                    "r.csv",
                ])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // The file is world-readable here: the user is told.
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains("sts-token") && !err.contains("simulator-secret"));
    sim.stop().await;
}

#[test]
fn the_simulator_shuts_down_cleanly_when_signalled_as_soon_as_it_listens() {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    for (sig, round) in [libc::SIGINT, libc::SIGTERM]
        .into_iter()
        .flat_map(|s| (0..5).map(move |r| (s, r)))
    {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("cdn-unblock"));
        cmd.args(["simulate", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // SAFETY: signal(2) in the child before exec: a script's background
        // job starts with SIGINT ignored, and must still stop on it.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("listening on "), "{line}");
        signal(&child, sig);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("signal {sig} (round {round}) did not stop the simulator");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(
            status.code(),
            Some(0),
            "signal {sig}, round {round}: {status:?}"
        );
    }
}

/// A run killed while it was only retrying (nothing settled, so its report
/// is old) still leaves its calls in the account's rate window: the resumed
/// run learns it from the lock the dead run left, and waits them out.
#[tokio::test]
async fn a_run_killed_while_only_retrying_keeps_the_resumed_run_out_of_its_window() {
    let failing = start_sim(SimConfig {
        faults: Faults {
            http_500: 1.0,
            ..Faults::default()
        },
        ..sim_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_lines(dir.path(), "urls.txt", &many_urls(200));
    let mut child = spawn_run(
        dir.path(),
        &failing.endpoint(),
        &["urls.txt", "-o", "r.csv", "--batch-size", "10"],
    );
    wait_for_calls(&failing, 5).await;
    // Long enough for the report's only write (its header) to look old.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(dir.path().join("r.csv.lock").exists());

    let healthy = start_sim(sim_config()).await;
    let child = spawn_run(
        dir.path(),
        &healthy.endpoint(),
        &[
            "urls.txt",
            "-o",
            "r.csv",
            "--resume",
            "--log-format",
            "json",
        ],
    );
    let (code, err) = wait_exit(child, Duration::from_secs(60)).await;
    assert_eq!(code, 0, "{err}");
    let wait = err
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "rate_window")
        .unwrap_or_else(|| panic!("no rate_window event: {err}"));
    assert!(wait["wait_ms"].as_u64().unwrap() > 1000, "{wait}");
    assert!(
        wait["message"]
            .as_str()
            .unwrap()
            .contains("died holding its lock"),
        "{wait}"
    );
    assert!(!dir.path().join("r.csv.lock").exists());
    failing.stop().await;
    healthy.stop().await;
}
