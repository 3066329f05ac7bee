//! What a person at a terminal sees, through a real pseudo-terminal: the
//! plan and its question, the progress bar, the summary.

use std::time::Duration;

use cdn_unblock::sim::SimConfig;
use expectrl::process::unix::WaitStatus;
use expectrl::session::{OsSession, Session};
use expectrl::{Eof, Expect, Regex};

use crate::support::*;

fn exit_code(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(_, code) => code,
        other => panic!("not a normal exit: {other:?}"),
    }
}

fn session(cmd: std::process::Command) -> OsSession {
    let mut p = Session::spawn(cmd).expect("spawn in a pseudo-terminal");
    p.set_expect_timeout(Some(Duration::from_secs(60)));
    p
}

#[test]
fn a_large_run_asks_first_then_shows_the_bar_and_a_summary_table() {
    let bg = background_sim(SimConfig {
        latency_ms: (50, 80),
        ..sim_config()
    });
    let dir = tempfile::tempdir().unwrap();
    let mut lines = many_urls(3000);
    lines[10] = "https://static.example.com/__fail__/x.jpg".into();
    write_lines(dir.path(), "urls.txt", &lines);
    let mut cmd = binary_with_keys(dir.path());
    cmd.args([
        "run",
        "--endpoint",
        &bg.sim.endpoint(),
        "urls.txt",
        "-o",
        "r.csv",
        "--batch-size",
        "20",
    ]);
    let mut p = session(cmd);
    p.expect("About to unblock 3,000 URLs from urls.txt")
        .unwrap();
    p.expect("150 of up to 20 URLs, at 40 calls/s").unwrap();
    p.expect(bg.sim.endpoint().as_str()).unwrap();
    p.expect("AKIDsimu").unwrap();
    p.expect("r.csv").unwrap();
    p.expect("Proceed? [y/N]").unwrap();
    assert!(
        bg.sim.calls().is_empty(),
        "nothing is sent before the answer"
    );
    p.send_line("y").unwrap();
    // The bar: done/total (as the summary writes numbers), rate, ETA,
    // counts, calls/s; it moves.
    let count = |m: &[u8]| -> u64 { String::from_utf8_lossy(m).replace(',', "").parse().unwrap() };
    let first = p.expect(Regex(r"([\d,]+)/3,000")).unwrap();
    let first = count(first.get(1).unwrap());
    p.expect("ETA").unwrap();
    p.expect("calls/s").unwrap();
    p.expect("throttled").unwrap();
    let later = p.expect(Regex(r"([\d,]+)/3,000")).unwrap();
    let later = count(later.get(1).unwrap());
    assert!(
        later > first || later == 3000,
        "the bar moves: {first} then {later}"
    );
    // The summary table.
    p.expect("some URLs failed").unwrap();
    p.expect(Regex(r"ok\s+(\x1b\[[0-9;]*m)*\s*2,999")).unwrap();
    p.expect(Regex(r"failed\s+(\x1b\[[0-9;]*m)*\s*1\b"))
        .unwrap();
    p.expect("problems  FailUrls 1").unwrap();
    p.expect(Eof).unwrap();
    assert_eq!(exit_code(p.get_process_mut().wait().unwrap()), 1);
    assert_eq!(read_report(&dir.path().join("r.csv")).len(), 3000);
}

#[test]
fn answering_no_sends_nothing_and_writes_nothing() {
    let bg = background_sim(sim_config());
    let dir = tempfile::tempdir().unwrap();
    write_lines(dir.path(), "urls.txt", &many_urls(1500));
    let mut cmd = binary_with_keys(dir.path());
    cmd.args([
        "run",
        "--endpoint",
        &bg.sim.endpoint(),
        "urls.txt",
        "-o",
        "r.csv",
    ]);
    let mut p = session(cmd);
    p.expect("Proceed? [y/N]").unwrap();
    p.send_line("").unwrap();
    p.expect("nothing sent").unwrap();
    p.expect(Eof).unwrap();
    assert_eq!(exit_code(p.get_process_mut().wait().unwrap()), 2);
    assert!(bg.sim.calls().is_empty());
    assert!(!dir.path().join("r.csv").exists());
}

#[test]
fn yes_small_runs_and_no_color_go_straight_through_without_colour() {
    let bg = background_sim(sim_config());
    let dir = tempfile::tempdir().unwrap();
    write_lines(dir.path(), "big.txt", &many_urls(1500));
    write_lines(dir.path(), "small.txt", &many_urls(1000));
    for (file, extra) in [("big.txt", Some("--yes")), ("small.txt", None)] {
        let mut cmd = binary_with_keys(dir.path());
        cmd.env("NO_COLOR", "1");
        cmd.args(["run", "--endpoint", &bg.sim.endpoint(), file, "-o"])
            .arg(format!("{file}.report.csv"));
        cmd.args(extra);
        let mut p = session(cmd);
        let (before, _) = p
            .expect("every URL ok")
            .map(|m| (m.before().to_vec(), ()))
            .unwrap();
        let before = String::from_utf8_lossy(&before).to_string();
        assert!(!before.contains("Proceed?"), "{file}: {before}");
        let rest = p.expect(Eof).unwrap();
        let text = format!("{before}{}", String::from_utf8_lossy(rest.before()));
        // Cursor movement draws the bar, but no colour is set.
        for colour in ["\x1b[31m", "\x1b[32m", "\x1b[1m", "\x1b[33m"] {
            assert!(
                !text.contains(colour),
                "{file}: colour {colour:?} with NO_COLOR"
            );
        }
        assert_eq!(exit_code(p.get_process_mut().wait().unwrap()), 0, "{file}");
    }
}
