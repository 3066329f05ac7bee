//! End-to-end runs in-process against the simulator: statuses, exit codes,
//! throttling, input variants, streaming.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use cdn_unblock::credentials::Secret;
use cdn_unblock::input::{Column, CsvOptions, Input, InputFormat};
use cdn_unblock::report::{ReportMode, Row, Status};
use cdn_unblock::runner::{self, Mode};
use cdn_unblock::sim::{Outcome, SimConfig};
use cdn_unblock::stats::Ending;
use tokio_util::sync::CancellationToken;

use crate::support::*;

fn by_line(rows: &[Row]) -> HashMap<u64, &Row> {
    rows.iter().map(|r| (r.line, r)).collect()
}

/// Exactly one row per (source, line), and the lines are the expected ones.
fn assert_one_row_per_record(rows: &[Row], expected_lines: impl IntoIterator<Item = u64>) {
    let mut seen = HashSet::new();
    for r in rows {
        assert!(
            seen.insert((r.source.to_string(), r.line)),
            "two rows for line {}",
            r.line
        );
    }
    let mut got: Vec<u64> = rows.iter().map(|r| r.line).collect();
    got.sort();
    let mut want: Vec<u64> = expected_lines.into_iter().collect();
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn every_status_and_exit_code_one_in_a_single_run() {
    let sim = start_sim(sim_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("urls.txt");
    std::fs::write(
        &input,
        "# blocked by mistake in INC-4711\n\
         https://static.example.com/a.jpg\n\
         \n\
         https://static.example.com/__fail__/b.jpg\n\
         ftp://static.example.com/c.jpg\n\
         static.example.com/d.jpg\n\
         http://\n\
         https://static.example.com/a.jpg\n\
         https://__reject__.example.net/e.jpg\n\
         \x20 https://static.example.com/f.jpg?x=1&y=2  \n\
         https://static.example.com/g h.jpg\n",
    )
    .unwrap();
    let report = dir.path().join("report.csv");
    let summary_path = dir.path().join("summary.json");
    let mut config = run_config(
        &sim.endpoint(),
        Input::Files(vec![input.clone()]),
        report.clone(),
    );
    config.summary_json = Some(summary_path.clone());
    let summary = run_sim(&config).await;
    let rows = read_report(&report);
    assert_one_row_per_record(&rows, [2, 4, 5, 6, 7, 8, 9, 10, 11]);
    let line = by_line(&rows);
    assert_eq!(line[&2].status, Status::Ok);
    assert!(line[&2].task_id.is_some() && line[&2].request_id.is_some());
    // `attempts` counts the calls that carried the URL: the whole batch, then its halves.
    assert_eq!(line[&2].attempts, 2);
    assert_eq!(line[&9].attempts, 3);
    assert_eq!(line[&10].attempts, 3);
    assert_eq!(line[&4].status, Status::Failed);
    assert_eq!(line[&4].error_code.as_deref(), Some("FailUrls"));
    assert_eq!(line[&5].error_code.as_deref(), Some("InvalidUrl.Scheme"));
    assert_eq!(line[&6].error_code.as_deref(), Some("InvalidUrl.Scheme"));
    assert_eq!(line[&7].error_code.as_deref(), Some("InvalidUrl.NoHost"));
    assert_eq!(line[&8].status, Status::Duplicate);
    assert_eq!(
        line[&8].error_message.as_deref(),
        Some("same URL as line 2")
    );
    // One URL of an unknown domain fails alone, with the API's code.
    assert_eq!(line[&9].status, Status::Failed);
    assert_eq!(
        line[&9].error_code.as_deref(),
        Some("ResourceNotFound.CdnHostNotExists")
    );
    // Trimmed, then sent exactly as written.
    assert_eq!(line[&10].status, Status::Ok);
    assert_eq!(line[&10].url, "https://static.example.com/f.jpg?x=1&y=2");
    assert_eq!(line[&11].error_code.as_deref(), Some("InvalidUrl.Parse"));
    for r in &rows {
        assert_eq!(&*r.source, input.to_str().unwrap());
        assert!(r.finished_at.ends_with('Z'));
    }
    let sent: Vec<String> = sim
        .calls()
        .iter()
        .filter(|c| c.outcome == Outcome::Ok)
        .flat_map(|c| c.urls.clone())
        .collect();
    assert!(sent.contains(&"https://static.example.com/f.jpg?x=1&y=2".to_string()));
    assert_eq!(summary.exit_code, 1);
    assert_eq!(summary.ending, Ending::Finished);
    let c = summary.counts;
    assert_eq!(
        (c.records, c.ok, c.failed, c.invalid, c.duplicate),
        (9, 2, 2, 4, 1)
    );
    assert_eq!(c.sent, 4);
    // The batch of four was refused whole, then split down to the bad URL.
    assert!(c.split_calls >= 2, "{c:?}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    assert_eq!(json["exit_code"], 1);
    assert_eq!(json["records"], 9);
    assert_eq!(json["ok"], 2);
    sim.stop().await;
}

#[tokio::test]
async fn all_ok_is_exit_zero_and_jsonl_reports_work() {
    let sim = start_sim(sim_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let urls = many_urls(250);
    let input = write_lines(dir.path(), "urls.txt", &urls);
    let report = dir.path().join("report.jsonl");
    let summary = run_sim(&run_config(
        &sim.endpoint(),
        Input::Files(vec![input]),
        report.clone(),
    ))
    .await;
    assert_eq!(summary.exit_code, 0);
    let rows = read_report(&report);
    assert_one_row_per_record(&rows, 1..=250);
    assert!(rows.iter().all(|r| r.status == Status::Ok));
    // 250 URLs in batches of 100: three calls, no more.
    assert_eq!(summary.counts.calls, 3);
    let calls = sim.calls();
    assert_eq!(calls.len(), 3);
    let mut sizes: Vec<usize> = calls.iter().map(|c| c.urls.len()).collect();
    sizes.sort();
    assert_eq!(sizes, [50, 100, 100]);
    sim.stop().await;
}

#[tokio::test]
async fn a_url_in_neither_list_is_unknown() {
    // A stand-in API that accepts the call but lists nothing.
    let app = axum::Router::new().fallback(|| async {
        (
            [("content-type", "application/json")],
            r#"{"Response":{"RequestId":"r-1","TaskId":"t-1","CacheOptResult":{"SuccessUrls":["https://a.example.com/1"],"FailUrls":null}}}"#,
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(
        dir.path(),
        "urls.txt",
        &[
            "https://a.example.com/1".into(),
            "https://a.example.com/2".into(),
        ],
    );
    let report = dir.path().join("r.csv");
    let summary = run_sim(&run_config(
        &format!("http://{addr}"),
        Input::Files(vec![input]),
        report.clone(),
    ))
    .await;
    let rows = read_report(&report);
    let line = by_line(&rows);
    assert_eq!(line[&1].status, Status::Ok);
    assert_eq!(line[&2].status, Status::Unknown);
    assert_eq!(line[&2].task_id.as_deref(), Some("t-1"));
    assert_eq!(summary.exit_code, 1);
    assert_eq!(summary.counts.unknown, 1);
}

#[tokio::test]
async fn throttling_recovers_when_the_api_allows_less_than_the_client_sends() {
    // The API allows 8 calls a second; the client starts at 40.
    let sim = start_sim(SimConfig {
        qps: 8,
        ..sim_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(dir.path(), "urls.txt", &many_urls(400));
    let report = dir.path().join("r.csv");
    let mut config = run_config(&sim.endpoint(), Input::Files(vec![input]), report.clone());
    config.batch_size = 10;
    let summary = run_sim(&config).await;
    assert_eq!(summary.exit_code, 0, "{}", summary.render(false));
    let rows = read_report(&report);
    assert_one_row_per_record(&rows, 1..=400);
    assert!(rows.iter().all(|r| r.status == Status::Ok));
    let c = summary.counts;
    assert!(
        c.throttled > 0,
        "the simulator should have throttled: {c:?}"
    );
    assert_eq!(c.calls, 40 + c.retries);
    // Every URL was accepted exactly once by the simulator.
    let accepted: Vec<String> = sim
        .calls()
        .iter()
        .filter(|c| c.outcome == Outcome::Ok)
        .flat_map(|c| c.urls.clone())
        .collect();
    assert_eq!(accepted.len(), 400);
    sim.stop().await;
}

#[tokio::test]
async fn a_wrong_key_aborts_with_exit_three_and_a_message_that_says_what_to_fix() {
    let sim = start_sim(sim_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(dir.path(), "urls.txt", &many_urls(5000));
    let report = dir.path().join("r.csv");
    let mut config = run_config(&sim.endpoint(), Input::Files(vec![input]), report.clone());
    config.concurrency = 4;
    let mut creds = sim_credentials();
    creds.secret_key = Secret::new("wrong-key");
    let summary = runner::run(&config, Mode::Send(creds), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(summary.exit_code, 3);
    assert_eq!(summary.ending, Ending::Aborted);
    let reason = summary.abort_reason.clone().unwrap();
    assert!(
        reason.contains("AuthFailure.SignatureFailure") && reason.contains("SecretKey"),
        "{reason}"
    );
    // It stopped fast: at most the calls in flight, not 50 calls.
    assert!(summary.counts.calls <= 4, "{:?}", summary.counts);
    let rows = read_report(&report);
    assert!(!rows.is_empty() && rows.len() <= 400);
    assert!(rows.iter().all(|r| r.status == Status::Failed
        && r.error_code.as_deref() == Some("AuthFailure.SignatureFailure")));
    assert!(summary.not_done > 0);
    assert!(!reason.contains("wrong-key"));
    sim.stop().await;
}

#[tokio::test]
async fn a_stale_clock_and_a_missing_whitelist_are_fatal_too() {
    for (code, advice) in [
        ("UnauthorizedOperation.CdnUserNoWhitelist", "whitelist"),
        ("ActionOffline", "no longer offers"),
    ] {
        let sim = start_sim(SimConfig {
            reject_code: code.into(),
            ..sim_config()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let input = write_lines(
            dir.path(),
            "urls.txt",
            &["https://__reject__.example.com/x".into()],
        );
        let report = dir.path().join("r.csv");
        let summary = run_sim(&run_config(
            &sim.endpoint(),
            Input::Files(vec![input]),
            report,
        ))
        .await;
        assert_eq!(summary.exit_code, 3, "{code}");
        assert!(summary.abort_reason.unwrap().contains(advice), "{code}");
        sim.stop().await;
    }
}

#[tokio::test]
async fn transient_faults_give_up_after_max_attempts_with_the_last_code() {
    let sim = start_sim(SimConfig {
        faults: cdn_unblock::sim::Faults {
            http_502: 1.0,
            ..Default::default()
        },
        ..sim_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(dir.path(), "urls.txt", &many_urls(3));
    let report = dir.path().join("r.csv");
    let mut config = run_config(&sim.endpoint(), Input::Files(vec![input]), report.clone());
    config.max_attempts = 3;
    let summary = run_sim(&config).await;
    assert_eq!(summary.exit_code, 1);
    assert_eq!(summary.counts.calls, 3);
    assert_eq!(summary.counts.retries, 2);
    let rows = read_report(&report);
    assert!(rows.iter().all(|r| r.status == Status::Failed
        && r.error_code.as_deref() == Some("Http.502")
        && r.attempts == 3));
    sim.stop().await;
}

#[tokio::test]
async fn dry_run_makes_no_call_and_needs_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = many_urls(150);
    lines.push("nope".into());
    lines.push(lines[0].clone());
    let input = write_lines(dir.path(), "urls.txt", &lines);
    let report = dir.path().join("r.csv");
    // Nothing listens on this endpoint: a call would fail.
    let config = run_config(
        "http://127.0.0.1:9",
        Input::Files(vec![input]),
        report.clone(),
    );
    let summary = runner::run(&config, Mode::DryRun, CancellationToken::new())
        .await
        .unwrap();
    let rows = read_report(&report);
    assert_one_row_per_record(&rows, 1..=152);
    assert_eq!(
        rows.iter().filter(|r| r.status == Status::DryRun).count(),
        150
    );
    assert_eq!(summary.counts.calls, 0);
    assert_eq!(summary.counts.batches, 2);
    assert_eq!(summary.exit_code, 1, "one invalid record");
}

#[tokio::test]
async fn csv_variants_bom_crlf_quotes_ragged_rows_and_header_detection() {
    let sim = start_sim(sim_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.csv");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(
        b"\xef\xbb\xbfticket,URL,note\r\n\
          INC-1,https://img.example.com/resize/w=300,h=200/a.jpg,plain\r\n\
          INC-2,\"https://img.example.com/b.jpg?x=1,2\",\"quoted, with comma\"\r\n\
          INC-3\r\n\
          INC-4,\"https://img.example.com/c.jpg\",\"a note\r\nover two lines\"\r\n\
          INC-5,,empty\r\n\
          INC-6,\"https://img.example.com/\xff.jpg\",bad bytes\r\n\
          \r\n\r\n\
          INC-7,https://img.example.com/d.jpg,extra,fields,here\r\n",
    )
    .unwrap();
    drop(f);
    let report = dir.path().join("r.csv");
    let summary = run_sim(&run_config(
        &sim.endpoint(),
        Input::Files(vec![path]),
        report.clone(),
    ))
    .await;
    let rows = read_report(&report);
    // Line 2's unquoted comma makes `h=200/a.jpg` a third field: the URL stops at the comma.
    // Blank lines count, as in an editor: INC-7 is on line 11.
    assert_one_row_per_record(&rows, [2, 3, 4, 5, 7, 8, 11]);
    let line = by_line(&rows);
    assert_eq!(line[&2].url, "https://img.example.com/resize/w=300");
    assert_eq!(line[&3].status, Status::Ok);
    assert_eq!(line[&3].url, "https://img.example.com/b.jpg?x=1,2");
    assert_eq!(line[&4].error_code.as_deref(), Some("InvalidCsv"));
    // A quoted note over two lines is fine; the record starts on line 5.
    assert_eq!(line[&5].status, Status::Ok);
    assert_eq!(line[&7].error_code.as_deref(), Some("InvalidUrl.Empty"));
    assert_eq!(line[&8].error_code.as_deref(), Some("InvalidUrl.Encoding"));
    assert_eq!(line[&11].status, Status::Ok);
    assert_eq!(summary.counts.records, 7);
    sim.stop().await;
}

/// Dry-run `data` as a file named `name`: its rows as (line, url, status, code).
async fn dry_rows(name: &str, data: &[u8]) -> Vec<(u64, String, Status, Option<String>)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, data).unwrap();
    let report = dir.path().join("r.csv");
    let config = run_config(
        "http://127.0.0.1:9",
        Input::Files(vec![path]),
        report.clone(),
    );
    runner::run(&config, Mode::DryRun, CancellationToken::new())
        .await
        .unwrap();
    let mut rows: Vec<_> = read_report(&report)
        .into_iter()
        .map(|r| (r.line, r.url, r.status, r.error_code.map(|c| c.to_string())))
        .collect();
    rows.sort_by_key(|r| r.0);
    rows
}

#[tokio::test]
async fn awkward_files_keep_one_row_per_record_on_the_right_line() {
    use Status::{DryRun, Duplicate, Invalid};
    let row = |line: u64, url: &str, status, code: Option<&str>| {
        (line, url.to_string(), status, code.map(str::to_string))
    };
    // Old Mac line ends (`\r` alone), in CSV and in lines.
    let want = vec![
        row(2, "https://a.com/1", DryRun, None),
        row(4, "https://a.com/1", Duplicate, None),
        row(5, "https://a.com/2", DryRun, None),
    ];
    assert_eq!(
        dry_rows(
            "mac.csv",
            b"url\rhttps://a.com/1\r\rhttps://a.com/1\rhttps://a.com/2\r"
        )
        .await,
        want
    );
    assert_eq!(
        dry_rows(
            "mac.txt",
            b"# list\rhttps://a.com/1\r\rhttps://a.com/1\rhttps://a.com/2"
        )
        .await,
        want
    );
    // A comment need not be UTF-8.
    assert_eq!(
        dry_rows("c.txt", b"# caf\xe9\nhttps://a.com/1\n").await,
        vec![row(2, "https://a.com/1", DryRun, None)]
    );
    // A mistyped URL on line 1 of a file without a header is reported, not
    // taken for a header; a line of blanks before the header is skipped.
    assert_eq!(
        dry_rows("typo.csv", b"htps://a.com/0\nhttps://a.com/1\n").await,
        vec![
            row(1, "htps://a.com/0", Invalid, Some("InvalidUrl.Scheme")),
            row(2, "https://a.com/1", DryRun, None),
        ]
    );
    assert_eq!(
        dry_rows("blank.csv", b"  \nURL,note\n , \nhttps://a.com/1,x\n").await,
        vec![row(4, "https://a.com/1", DryRun, None)]
    );
    // A quote left open at the end: one invalid record, on the line it opens.
    assert_eq!(
        dry_rows("open.csv", b"url\nhttps://a.com/1\n\"https://a.com/2\n\n").await,
        vec![
            row(2, "https://a.com/1", DryRun, None),
            row(3, "https://a.com/2", Invalid, Some("InvalidCsv")),
        ]
    );
    // A row too short for the column keeps its fields, comma-separated.
    assert_eq!(
        dry_rows("short.csv", b"id,note,url\n7,see ticket\n").await,
        vec![row(2, "7,see ticket", Invalid, Some("InvalidCsv"))]
    );
}

#[tokio::test]
async fn csv_columns_by_name_by_number_and_without_a_header() {
    let sim = start_sim(sim_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let with_header = dir.path().join("a.csv");
    std::fs::write(
        &with_header,
        "id,link\n1,https://a.example.com/1\n2,https://a.example.com/2\n",
    )
    .unwrap();
    let no_header = dir.path().join("b.csv");
    std::fs::write(
        &no_header,
        "1,https://b.example.com/1\n2,https://b.example.com/2\n",
    )
    .unwrap();
    let headerless_urls = dir.path().join("c.csv");
    std::fs::write(
        &headerless_urls,
        "https://c.example.com/1,x\nhttps://c.example.com/2,y\n",
    )
    .unwrap();

    let cases: Vec<(std::path::PathBuf, CsvOptions, Vec<&str>)> = vec![
        (
            with_header.clone(),
            CsvOptions {
                column: Some(Column::Name("LINK".into())),
                no_header: false,
            },
            vec!["https://a.example.com/1", "https://a.example.com/2"],
        ),
        (
            with_header.clone(),
            CsvOptions {
                column: Some(Column::Index(2)),
                no_header: false,
            },
            vec!["https://a.example.com/1", "https://a.example.com/2"],
        ),
        (
            no_header.clone(),
            CsvOptions {
                column: Some(Column::Index(2)),
                no_header: true,
            },
            vec!["https://b.example.com/1", "https://b.example.com/2"],
        ),
        // No `url` header and a URL in column 1 of line 1: no header at all.
        (
            headerless_urls.clone(),
            CsvOptions::default(),
            vec!["https://c.example.com/1", "https://c.example.com/2"],
        ),
    ];
    for (i, (path, csv, want)) in cases.into_iter().enumerate() {
        let report = dir.path().join(format!("r{i}.csv"));
        let mut config = run_config(&sim.endpoint(), Input::Files(vec![path]), report.clone());
        config.csv = csv;
        let summary = run_sim(&config).await;
        let mut urls: Vec<String> = read_report(&report).into_iter().map(|r| r.url).collect();
        urls.sort();
        assert_eq!(urls, want, "case {i}");
        assert_eq!(summary.exit_code, 0, "case {i}");
    }

    // A column that is not there stops the run before any call, naming it.
    let calls_before = sim.calls().len();
    let report = dir.path().join("never.csv");
    let mut config = run_config(
        &sim.endpoint(),
        Input::Files(vec![with_header]),
        report.clone(),
    );
    config.csv.column = Some(Column::Name("address".into()));
    let err = runner::run(
        &config,
        Mode::Send(sim_credentials()),
        CancellationToken::new(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("address") && err.contains("id, link"), "{err}");
    assert_eq!(sim.calls().len(), calls_before);
    assert!(!report.exists());
    sim.stop().await;
}

#[tokio::test]
async fn several_inputs_keep_their_own_names_and_duplicates_name_the_first_file() {
    let sim = start_sim(sim_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let a = write_lines(dir.path(), "a.txt", &["https://x.example.com/1".into()]);
    let b = dir.path().join("b.csv");
    std::fs::write(
        &b,
        "url\nhttps://x.example.com/2\nhttps://x.example.com/1\n",
    )
    .unwrap();
    let report = dir.path().join("r.csv");
    run_sim(&run_config(
        &sim.endpoint(),
        Input::Files(vec![a.clone(), b.clone()]),
        report.clone(),
    ))
    .await;
    let rows = read_report(&report);
    assert_eq!(rows.len(), 3);
    let dup = rows.iter().find(|r| r.status == Status::Duplicate).unwrap();
    assert_eq!(&*dup.source, b.to_str().unwrap());
    assert_eq!(dup.line, 3);
    assert_eq!(
        dup.error_message.as_deref(),
        Some(format!("same URL as line 1 of {}", a.display()).as_str())
    );
    sim.stop().await;
}

#[tokio::test]
async fn an_existing_report_is_refused_and_an_unreadable_input_named() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(dir.path(), "urls.txt", &many_urls(1));
    let report = dir.path().join("r.csv");
    std::fs::write(&report, "precious").unwrap();
    let config = run_config(
        "http://127.0.0.1:9",
        Input::Files(vec![input.clone()]),
        report.clone(),
    );
    let err = runner::run(&config, Mode::DryRun, CancellationToken::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&report).unwrap(), "precious");

    let mut forced = config.clone();
    forced.report_mode = ReportMode::Overwrite;
    runner::run(&forced, Mode::DryRun, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(read_report(&report).len(), 1);

    let missing = dir.path().join("nope.txt");
    let config = run_config(
        "http://127.0.0.1:9",
        Input::Files(vec![input, missing.clone()]),
        dir.path().join("r2.csv"),
    );
    let err = runner::run(&config, Mode::DryRun, CancellationToken::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
}

#[tokio::test]
async fn input_is_streamed_the_first_calls_go_out_while_the_pipe_is_still_open() {
    let sim = Arc::new(start_sim(sim_config()).await);
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("urls.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let writer = {
        let (fifo, sim) = (fifo.clone(), sim.clone());
        std::thread::spawn(move || {
            let mut pipe = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            for url in many_urls(150) {
                writeln!(pipe, "{url}").unwrap();
            }
            pipe.flush().unwrap();
            // Keep the pipe open until both calls (a full batch, then the
            // partial one after a quiet second) have reached the API.
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while sim.calls().len() < 2 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            sim.calls().len()
        })
    };
    let report = dir.path().join("r.csv");
    let config = run_config(&sim.endpoint(), Input::Files(vec![fifo]), report.clone());
    let summary = run_sim(&config).await;
    let calls_while_open = writer.join().unwrap();
    assert_eq!(
        calls_while_open, 2,
        "calls must not wait for the end of the input"
    );
    assert_eq!(summary.counts.ok, 150);
    let mut sizes: Vec<usize> = sim.calls().iter().map(|c| c.urls.len()).collect();
    sizes.sort();
    assert_eq!(sizes, [50, 100]);
}

#[tokio::test]
async fn an_interrupt_finishes_calls_in_flight_and_exits_130() {
    let sim = start_sim(SimConfig {
        latency_ms: (300, 300),
        ..sim_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(dir.path(), "urls.txt", &many_urls(20_000));
    let report = dir.path().join("r.csv");
    let config = run_config(&sim.endpoint(), Input::Files(vec![input]), report.clone());
    let shutdown = CancellationToken::new();
    let run = {
        let (config, shutdown) = (config.clone(), shutdown.clone());
        tokio::spawn(
            async move { runner::run(&config, Mode::Send(sim_credentials()), shutdown).await },
        )
    };
    while sim.calls().len() < 5 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    let summary = run.await.unwrap().unwrap();
    assert_eq!(summary.exit_code, 130);
    assert_eq!(summary.ending, Ending::Interrupted);
    // Every call the simulator processed has its rows: nothing in flight was lost.
    let processed: HashSet<String> = sim
        .calls()
        .iter()
        .filter(|c| c.outcome == Outcome::Ok)
        .flat_map(|c| c.urls.clone())
        .collect();
    let rows = read_report(&report);
    let written: HashSet<String> = rows.iter().map(|r| r.url.clone()).collect();
    assert_eq!(processed, written);
    assert!(rows.iter().all(|r| r.status == Status::Ok));
    assert!(summary.not_done > 0);
    // `sent` counts the URLs that went out, not those still waiting their turn.
    let reached: HashSet<String> = sim.calls().iter().flat_map(|c| c.urls.clone()).collect();
    assert_eq!(summary.counts.sent, reached.len() as u64);
    sim.stop().await;
}

#[tokio::test]
async fn the_date_and_region_reach_the_api() {
    let sim = start_sim(sim_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(dir.path(), "urls.txt", &many_urls(2));
    let report = dir.path().join("r.csv");
    let mut config = run_config(&sim.endpoint(), Input::Files(vec![input]), report.clone());
    config.date = Some("2021-06-01".into());
    config.region = Some("ap-guangzhou".into());
    config.input_format = InputFormat::Lines;
    let summary = run_sim(&config).await;
    assert_eq!(summary.exit_code, 0);
    let calls = sim.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].date.as_deref(), Some("2021-06-01"));
    sim.stop().await;
}
