//! The unattended side: the lock, the report command, completions, manual
//! pages, help, and the summary file's schema.

use std::process::Stdio;
use std::time::Duration;

use cdn_unblock::sim::{Faults, SimConfig};

use crate::binary::bin;
use crate::support::*;

#[test]
fn an_overlapping_run_of_the_same_job_is_refused_naming_the_holder() {
    let bg = background_sim(SimConfig {
        latency_ms: (200, 200),
        ..sim_config()
    });
    let dir = tempfile::tempdir().unwrap();
    write_lines(dir.path(), "urls.txt", &many_urls(400));
    let args = [
        "run",
        "--endpoint",
        &bg.sim.endpoint(),
        "urls.txt",
        "-o",
        "r.csv",
        "--batch-size",
        "10",
    ];
    let mut first = binary_with_keys(dir.path())
        .args(args)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while bg.sim.calls().is_empty() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = binary_with_keys(dir.path())
        .args([
            "run",
            "--endpoint",
            &bg.sim.endpoint(),
            "urls.txt",
            "-o",
            "r.csv",
            "--resume",
        ])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains(&format!("PID {}", first.id())), "{err}");
    assert!(err.contains("r.csv.lock"), "{err}");
    assert_eq!(first.wait().unwrap().code(), Some(0));
    // Done: the lock is gone, and the job can run again.
    assert!(!dir.path().join("r.csv.lock").exists());
    let again = binary_with_keys(dir.path())
        .args([
            "run",
            "--endpoint",
            &bg.sim.endpoint(),
            "urls.txt",
            "-o",
            "r.csv",
            "--resume",
        ])
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn a_lock_left_by_a_killed_run_is_taken_over() {
    let bg = background_sim(SimConfig {
        latency_ms: (200, 200),
        ..sim_config()
    });
    let dir = tempfile::tempdir().unwrap();
    write_lines(dir.path(), "urls.txt", &many_urls(400));
    let mut first = binary_with_keys(dir.path())
        .args([
            "run",
            "--endpoint",
            &bg.sim.endpoint(),
            "urls.txt",
            "-o",
            "r.csv",
            "--batch-size",
            "10",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while bg.sim.calls().is_empty() {
        std::thread::sleep(Duration::from_millis(10));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        dir.path().join("r.csv.lock").exists(),
        "kill -9 leaves the file"
    );
    let resumed = binary_with_keys(dir.path())
        .args([
            "run",
            "--endpoint",
            &bg.sim.endpoint(),
            "urls.txt",
            "-o",
            "r.csv",
            "--resume",
        ])
        .output()
        .unwrap();
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
}

#[test]
fn report_summarises_and_failed_urls_feed_a_clean_rerun() {
    // First run: the API is down (every call a 502), so everything fails.
    let down = background_sim(SimConfig {
        faults: Faults {
            http_502: 1.0,
            ..Faults::default()
        },
        ..sim_config()
    });
    let dir = tempfile::tempdir().unwrap();
    let mut lines = many_urls(250);
    lines.push("ftp://not-http.example.com/x".into());
    lines.push(lines[0].clone());
    write_lines(dir.path(), "urls.txt", &lines);
    let out = binary_with_keys(dir.path())
        .args([
            "run",
            "--endpoint",
            &down.sim.endpoint(),
            "urls.txt",
            "-o",
            "first.csv",
            "--max-attempts",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));

    let summary = bin()
        .current_dir(dir.path())
        .args(["report", "first.csv"])
        .output()
        .unwrap();
    assert_eq!(summary.status.code(), Some(1), "not every URL is ok");
    let text = String::from_utf8_lossy(&summary.stdout);
    assert!(text.contains("252 rows"), "{text}");
    assert!(text.contains("Http.502") && text.contains("250"), "{text}");
    assert!(text.contains("InvalidUrl.Scheme"), "{text}");
    assert!(text.contains("duplicate"), "{text}");

    let failed = bin()
        .current_dir(dir.path())
        .args(["report", "--failed-urls", "first.csv"])
        .output()
        .unwrap();
    let urls = String::from_utf8(failed.stdout).unwrap();
    assert_eq!(
        urls.lines().count(),
        250,
        "each failed URL once, and nothing else"
    );
    assert!(urls.lines().all(|u| u.starts_with("https://")));

    // The API is back: pipe the failures into a new run.
    let up = background_sim(sim_config());
    let rerun = binary_with_keys(dir.path())
        .args([
            "run",
            "--endpoint",
            &up.sim.endpoint(),
            "-",
            "-o",
            "retry.csv",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut rerun = rerun;
    {
        use std::io::Write;
        rerun
            .stdin
            .take()
            .unwrap()
            .write_all(urls.as_bytes())
            .unwrap();
    }
    let rerun = rerun.wait_with_output().unwrap();
    assert_eq!(
        rerun.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    let clean = bin()
        .current_dir(dir.path())
        .args(["report", "retry.csv"])
        .output()
        .unwrap();
    assert_eq!(clean.status.code(), Some(0));
}

#[test]
fn report_refuses_what_is_not_a_report() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("urls.csv"), "url\nhttps://a/1\n").unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(["report", "urls.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a cdn-unblock report"), "{err}");
    assert!(!err.contains("resume") && !err.contains("append"), "{err}");
    // The same file given to --resume: refused, named, untouched.
    let out = bin()
        .current_dir(dir.path())
        .args(["run", "--dry-run", "--resume", "-o", "urls.csv", "-"])
        .write_stdin("https://b/1\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--resume") && err.contains("urls.csv") && err.contains("nothing appended"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("urls.csv")).unwrap(),
        "url\nhttps://a/1\n"
    );
    let out = bin()
        .current_dir(dir.path())
        .args(["report", "missing.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.csv"));
}

#[test]
fn every_command_has_help_with_examples_completions_and_a_manual_page() {
    for command in ["run", "simulate", "demo", "report", "completions", "man"] {
        let out = bin().args([command, "--help"]).output().unwrap();
        assert!(out.status.success(), "{command}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Example"),
            "{command} --help has no example:\n{text}"
        );
    }
    for (shell, marker) in [
        ("bash", "_cdn__unblock()"),
        ("zsh", "#compdef cdn-unblock"),
        ("fish", "complete -c cdn-unblock"),
    ] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(marker), "{shell}");
        assert!(text.contains("resume"), "{shell} completes run's options");
    }
    let out = bin().arg("man").output().unwrap();
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH cdn-unblock"),
        "{page}"
    );
    let out = bin().args(["man", "run"]).output().unwrap();
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.contains(".TH cdn-unblock-run") && page.contains("resume"),
        "{page}"
    );
    assert_eq!(
        bin().args(["man", "nope"]).output().unwrap().status.code(),
        Some(2)
    );
    let out = bin().arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("cdn-unblock {}", env!("CARGO_PKG_VERSION"))
    );
}

/// The `--summary-json` schema is documented in the README: any change to
/// its keys must be deliberate.
#[test]
fn the_summary_json_schema_is_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args([
            "run",
            "--dry-run",
            "-o",
            "r.csv",
            "--summary-json",
            "s.json",
            "-",
        ])
        .write_stdin("https://a.example.com/1\nnope\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("s.json")).unwrap()).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "abort_reason",
            "already_done",
            "batches",
            "calls",
            "calls_per_sec",
            "dry_run",
            "dry_run_mode",
            "duplicate",
            "elapsed_secs",
            "ending",
            "exit_code",
            "failed",
            "failures_by_code",
            "input_errors",
            "invalid",
            "not_done",
            "ok",
            "qps",
            "records",
            "report",
            "retries",
            "sent",
            "split_calls",
            "throttled",
            "unknown",
            "urls_per_sec",
        ]
    );
    assert_eq!(v["records"], 2);
    assert_eq!(v["dry_run"], 1);
    assert_eq!(v["invalid"], 1);
    assert_eq!(v["failures_by_code"]["InvalidUrl.Scheme"], 1);
    assert_eq!(v["ending"], "finished");
    assert_eq!(v["exit_code"], 1);
    assert!(v["abort_reason"].is_null());
}

#[test]
fn json_logs_carry_an_event_field_on_every_line() {
    let bg = background_sim(sim_config());
    let dir = tempfile::tempdir().unwrap();
    write_lines(dir.path(), "urls.txt", &many_urls(50));
    let out = binary_with_keys(dir.path())
        .args([
            "run",
            "--log-format",
            "json",
            "--endpoint",
            &bg.sim.endpoint(),
            "urls.txt",
            "-o",
            "r.csv",
            "--summary-json",
            "s.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    let events: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l} ({e})")))
        .collect();
    assert!(
        events.iter().all(|e| e["event"].is_string()
            && e["level"].is_string()
            && e["timestamp"].is_string())
    );
    let summary = events.iter().find(|e| e["event"] == "summary").unwrap();
    assert_eq!(summary["ok"], 50);
    assert_eq!(summary["exit_code"], 0);
    assert!(events.iter().any(|e| e["event"] == "start"));
    // The `summary` event carries every field of --summary-json, with the
    // same values (failures by code as a JSON string; no abort reason: absent).
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("s.json")).unwrap()).unwrap();
    for (key, value) in file.as_object().unwrap() {
        match key.as_str() {
            "failures_by_code" => assert_eq!(
                serde_json::from_str::<serde_json::Value>(summary[key].as_str().unwrap()).unwrap(),
                *value
            ),
            "abort_reason" => assert!(value.is_null() && summary.get(key).is_none()),
            _ => assert_eq!(summary[key], *value, "{key}"),
        }
    }
}

/// A summary file that cannot be written is named in its own event; the
/// run's result (and exit code) stands.
#[test]
fn a_summary_file_that_cannot_be_written_is_named_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args([
            "run",
            "--dry-run",
            "--log-format",
            "json",
            "-o",
            "r.csv",
            "--summary-json",
            "no-such-dir/s.json",
            "-",
        ])
        .write_stdin("https://a.example.com/1\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    let event = err
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "summary_error")
        .unwrap_or_else(|| panic!("no summary_error event: {err}"));
    assert_eq!(event["path"], "no-such-dir/s.json");
}

/// With JSON logs, stderr stays one JSON object per line even when the run
/// cannot start.
#[test]
fn a_setup_error_under_json_logs_is_one_json_event() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(["run", "--dry-run", "--log-format", "json", "missing.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    let event: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(event["event"], "usage_error");
    assert_eq!(event["level"], "ERROR");
    assert!(
        event["message"].as_str().unwrap().contains("missing.csv"),
        "{event}"
    );
    // A RUST_LOG that drops the event does not make the error silent.
    let out = bin()
        .current_dir(dir.path())
        .env("RUST_LOG", "off")
        .args(["run", "--dry-run", "--log-format", "json", "missing.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.csv"), "{err}");
}

#[test]
fn a_bad_header_on_stdin_is_a_setup_error_or_a_stop_after_other_work() {
    let dir = tempfile::tempdir().unwrap();
    let args = |files: &[&'static str]| -> Vec<&'static str> {
        let mut a = vec![
            "run",
            "--dry-run",
            "--input-format",
            "csv",
            "--column",
            "link",
            "-o",
            "r.csv",
            "--summary-json",
            "s.json",
        ];
        a.extend_from_slice(files);
        a
    };
    // Only stdin: nothing done, so exit 2, and no empty report left behind.
    let out = bin()
        .current_dir(dir.path())
        .args(args(&["-"]))
        .write_stdin("url\nhttps://b.example.com/1\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("link") && err.contains("url"), "{err}");
    assert!(!dir.path().join("r.csv").exists());

    // A file first, then stdin: the file's rows stay, and the run stops there.
    std::fs::write(dir.path().join("a.csv"), "link\nhttps://a.example.com/1\n").unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(args(&["a.csv", "-"]))
        .write_stdin("url\nhttps://b.example.com/1\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let rows = read_report(&dir.path().join("r.csv"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].url, "https://a.example.com/1");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("s.json")).unwrap()).unwrap();
    assert_eq!(summary["ending"], "aborted");
    let reason = summary["abort_reason"].as_str().unwrap();
    assert!(reason.contains("link"), "{reason}");
}

/// The README's first command: the sample through the built-in simulator,
/// one row per record, every status, and exit 0 (the failures are the
/// sample's, on purpose), so `demo && report` goes on.
#[test]
fn the_demo_shows_every_status_and_exits_zero() {
    use cdn_unblock::report::Status;
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(["demo", "--progress", "never"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("cdn-unblock report demo-report.csv"), "{err}");
    let rows = read_report(&dir.path().join("demo-report.csv"));
    let records = cdn_unblock::demo::SAMPLE
        .split(|&b| b == b'\n')
        .skip(1) // the header
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .count();
    assert_eq!(rows.len(), records);
    let count = |s: Status| rows.iter().filter(|r| r.status == s).count();
    for status in [
        Status::Ok,
        Status::Failed,
        Status::Invalid,
        Status::Duplicate,
    ] {
        assert!(count(status) > 0, "no {status:?} row");
    }
    assert_eq!(count(Status::Unknown), 0);
    // The sample's refused domain costs only its own URLs.
    assert!(
        rows.iter()
            .any(|r| r.error_code.as_deref() == Some("ResourceNotFound.CdnHostNotExists"))
    );
    // Run again: it overwrites its own report...
    let out = bin()
        .current_dir(dir.path())
        .args(["demo", "--progress", "never"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        read_report(&dir.path().join("demo-report.csv")).len(),
        records
    );
    // ...but never another file.
    std::fs::write(dir.path().join("demo-report.csv"), "mine\n").unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(["demo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("demo-report.csv")).unwrap(),
        "mine\n"
    );
}
