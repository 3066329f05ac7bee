//! Counters shared by the pipeline's stages, and the end-of-run summary
//! built from them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::report::{Row, Status};

/// Live counters. Rows are counted by the writer, as they reach the report.
#[derive(Debug, Default)]
pub struct Stats {
    /// Input records read (header, blank and comment lines excluded).
    pub records: AtomicU64,
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub invalid: AtomicU64,
    pub duplicate: AtomicU64,
    pub unknown: AtomicU64,
    pub dry_run: AtomicU64,
    /// URLs already `ok` in a resumed report: no new row.
    pub already_done: AtomicU64,
    /// Unique URLs handed to calls.
    pub sent: AtomicU64,
    /// API calls made (every attempt).
    pub calls: AtomicU64,
    /// Attempts after the first, for throttled and transient answers.
    pub retries: AtomicU64,
    /// Throttled answers.
    pub throttled: AtomicU64,
    /// Calls made for halves of batches refused whole.
    pub split_calls: AtomicU64,
    /// Batches formed (the calls a dry run would make).
    pub batches: AtomicU64,
    /// Sources that could not be read to the end.
    pub input_errors: AtomicU64,
    /// Failed and invalid rows by error code.
    pub codes: Mutex<BTreeMap<String, u64>>,
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

impl Stats {
    /// Count a row that reached the report, and its error code if it failed.
    pub fn count_row(&self, row: &Row) {
        self.count(row.status);
        if matches!(
            row.status,
            Status::Failed | Status::Invalid | Status::Unknown
        ) {
            let code = match (&row.error_code, row.status) {
                (Some(code), _) => code.to_string(),
                (None, Status::Unknown) => "Unknown".to_string(),
                (None, _) => "NoCode".to_string(),
            };
            *self
                .codes
                .lock()
                .expect("codes lock")
                .entry(code)
                .or_default() += 1;
        }
    }

    /// Count a status (a row, or a record settled by a resumed report).
    pub fn count(&self, status: Status) {
        let counter = match status {
            Status::Ok => &self.ok,
            Status::Failed => &self.failed,
            Status::Invalid => &self.invalid,
            Status::Duplicate => &self.duplicate,
            Status::Unknown => &self.unknown,
            Status::DryRun => &self.dry_run,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records with a final status so far (rows, plus already done).
    pub fn settled(&self) -> u64 {
        get(&self.ok)
            + get(&self.failed)
            + get(&self.invalid)
            + get(&self.duplicate)
            + get(&self.unknown)
            + get(&self.dry_run)
            + get(&self.already_done)
    }

    pub fn snapshot(&self) -> Counts {
        Counts {
            records: get(&self.records),
            sent: get(&self.sent),
            ok: get(&self.ok),
            failed: get(&self.failed),
            invalid: get(&self.invalid),
            duplicate: get(&self.duplicate),
            unknown: get(&self.unknown),
            dry_run: get(&self.dry_run),
            already_done: get(&self.already_done),
            calls: get(&self.calls),
            retries: get(&self.retries),
            throttled: get(&self.throttled),
            split_calls: get(&self.split_calls),
            batches: get(&self.batches),
            input_errors: get(&self.input_errors),
        }
    }
}

/// A copy of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub records: u64,
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub invalid: u64,
    pub duplicate: u64,
    pub unknown: u64,
    pub dry_run: u64,
    pub already_done: u64,
    pub calls: u64,
    pub retries: u64,
    pub throttled: u64,
    pub split_calls: u64,
    pub batches: u64,
    /// Sources that could not be read to the end (a read failed).
    pub input_errors: u64,
}

impl Counts {
    /// Records read that got no final status (the run stopped first).
    pub fn not_done(&self) -> u64 {
        let settled = self.ok
            + self.failed
            + self.invalid
            + self.duplicate
            + self.unknown
            + self.dry_run
            + self.already_done;
        self.records.saturating_sub(settled)
    }
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Every record has its final status.
    Finished,
    /// A fatal answer stopped the run.
    Aborted,
    /// SIGINT or SIGTERM stopped the run.
    Interrupted,
}

impl Ending {
    /// The name used in `--summary-json` and the `summary` log event.
    pub fn as_str(&self) -> &'static str {
        match self {
            Ending::Finished => "finished",
            Ending::Aborted => "aborted",
            Ending::Interrupted => "interrupted",
        }
    }
}

/// The end-of-run summary (stderr, and `--summary-json`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub counts: Counts,
    /// Records read that got no row because the run stopped first.
    pub not_done: u64,
    pub elapsed_secs: f64,
    pub calls_per_sec: f64,
    pub urls_per_sec: f64,
    pub ending: Ending,
    pub exit_code: u8,
    pub abort_reason: Option<String>,
    pub report: String,
    pub dry_run_mode: bool,
    /// Failed, invalid and unknown rows by error code.
    pub failures_by_code: BTreeMap<String, u64>,
    /// The `--qps` of the run (for the dry run's time estimate).
    pub qps: u32,
}

impl Summary {
    pub fn new(
        counts: Counts,
        elapsed: Duration,
        ending: Ending,
        abort_reason: Option<String>,
        report: String,
        dry_run_mode: bool,
    ) -> Summary {
        let secs = elapsed.as_secs_f64();
        let per_sec = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let not_done = counts.not_done();
        let exit_code = match ending {
            Ending::Interrupted => 130,
            Ending::Aborted => 3,
            Ending::Finished
                if counts.failed
                    + counts.invalid
                    + counts.unknown
                    + not_done
                    + counts.input_errors
                    > 0 =>
            {
                1
            }
            Ending::Finished => 0,
        };
        Summary {
            calls_per_sec: round2(per_sec(counts.calls)),
            urls_per_sec: round2(per_sec(
                counts.ok + counts.failed + counts.unknown + counts.dry_run,
            )),
            elapsed_secs: round2(secs),
            counts,
            not_done,
            ending,
            exit_code,
            abort_reason,
            report,
            dry_run_mode,
            failures_by_code: BTreeMap::new(),
            qps: 40,
        }
    }

    /// What the exit code means.
    pub fn verdict(&self) -> &'static str {
        match (&self.ending, self.exit_code) {
            (Ending::Interrupted, _) => "interrupted",
            (Ending::Aborted, _) => "aborted",
            (_, 0) if self.dry_run_mode => "dry run: every URL valid, none sent",
            (_, 0) => "every URL ok",
            (_, _) if self.counts.input_errors > 0 => "some input could not be read",
            (_, _) if self.not_done > 0 => "some URLs were not done",
            _ => "some URLs failed, were invalid or unknown",
        }
    }

    /// The human summary for stderr: a small table. `colour` paints the
    /// counts (only on a terminal, never with `NO_COLOR`).
    pub fn render(&self, colour: bool) -> String {
        use crate::plan::thousands as n;
        let paint = |text: String, style: console::Style| -> String {
            style.force_styling(colour).apply_to(text).to_string()
        };
        let good = |text: String| paint(text, console::Style::new().green());
        let bad = |text: String, count: u64| {
            if count > 0 {
                paint(text, console::Style::new().red().bold())
            } else {
                text
            }
        };
        let c = &self.counts;
        let mut out = String::new();
        let headline = format!(
            "cdn-unblock: {} in {} (exit {})",
            self.verdict(),
            human_duration(self.elapsed_secs),
            self.exit_code
        );
        let headline = if self.exit_code == 0 {
            good(headline)
        } else {
            bad(headline, 1)
        };
        let _ = writeln!(out, "{headline}");
        let left = [
            ("ok", good(format!("{:>11}", n(c.ok + c.already_done)))),
            ("failed", bad(format!("{:>11}", n(c.failed)), c.failed)),
            ("invalid", bad(format!("{:>11}", n(c.invalid)), c.invalid)),
            ("duplicate", format!("{:>11}", n(c.duplicate))),
            ("unknown", bad(format!("{:>11}", n(c.unknown)), c.unknown)),
        ];
        let right: Vec<(&str, String)> = if self.dry_run_mode {
            vec![
                ("dry run", format!("{:>9}", n(c.dry_run))),
                ("calls", format!("{:>9}", n(c.batches))),
                (
                    "at cap",
                    format!(
                        "{:>9}",
                        human_duration(c.batches as f64 / f64::from(self.qps.max(1)))
                    ),
                ),
            ]
        } else {
            vec![
                ("calls", format!("{:>9}", n(c.calls))),
                ("retries", format!("{:>9}", n(c.retries))),
                ("throttled", format!("{:>9}", n(c.throttled))),
                ("split", format!("{:>9}", n(c.split_calls))),
                ("rate", format!("{:>7.1}/s", self.calls_per_sec)),
            ]
        };
        for (i, (name, value)) in left.iter().enumerate() {
            let _ = write!(out, "  {name:<10}{value}");
            if let Some((rname, rvalue)) = right.get(i) {
                let _ = write!(out, "      {rname:<10}{rvalue}");
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "  {:<10}{:>11}   records read", "", n(c.records));
        if c.already_done > 0 {
            let _ = writeln!(
                out,
                "  {:<10}{:>11}   of the ok were already ok in the report",
                "",
                n(c.already_done)
            );
        }
        if self.not_done > 0 {
            let _ = writeln!(
                out,
                "  {:<10}{}   not done: the run stopped first; re-run with --resume",
                "",
                bad(format!("{:>11}", n(self.not_done)), self.not_done)
            );
        }
        if c.input_errors > 0 {
            let _ = writeln!(
                out,
                "  {:<10}{}   input source(s) could not be read to the end (see the log)",
                "",
                bad(format!("{:>11}", n(c.input_errors)), c.input_errors)
            );
        }
        if !self.failures_by_code.is_empty() {
            let codes: Vec<String> = self
                .failures_by_code
                .iter()
                .map(|(code, count)| format!("{code} {}", n(*count)))
                .collect();
            let _ = writeln!(out, "  problems  {}", codes.join(" · "));
        }
        if let Some(reason) = &self.abort_reason {
            let _ = writeln!(out, "  stopped   {}", bad(reason.clone(), 1));
        }
        let _ = writeln!(out, "  report    {}", self.report);
        out
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `1h 02m 03s`, `2m 05s`, `3.4s`.
pub fn human_duration(secs: f64) -> String {
    if secs < 60.0 {
        return format!("{secs:.1}s");
    }
    let total = secs.round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else {
        format!("{m}m {s:02}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ending_names_match_the_summary_json() {
        for ending in [Ending::Finished, Ending::Aborted, Ending::Interrupted] {
            assert_eq!(
                serde_json::to_value(&ending).unwrap(),
                serde_json::Value::from(ending.as_str())
            );
        }
    }

    #[test]
    fn a_clean_dry_run_does_not_claim_urls_are_ok() {
        let counts = Counts {
            records: 2,
            dry_run: 2,
            ..Counts::default()
        };
        let summary = |dry_run_mode| {
            Summary::new(
                counts,
                Duration::from_secs(1),
                Ending::Finished,
                None,
                "r.csv".into(),
                dry_run_mode,
            )
        };
        assert_eq!(summary(true).exit_code, 0);
        assert!(summary(true).verdict().contains("none sent"));
        assert!(!summary(true).render(false).contains("every URL ok"));
    }

    #[test]
    fn exit_codes_follow_the_design() {
        let s = |counts: Counts, ending| {
            Summary::new(
                counts,
                Duration::from_secs(2),
                ending,
                None,
                "r.csv".into(),
                false,
            )
            .exit_code
        };
        let all_ok = Counts {
            records: 3,
            ok: 2,
            duplicate: 1,
            ..Counts::default()
        };
        assert_eq!(s(all_ok, Ending::Finished), 0);
        let resumed = Counts {
            records: 3,
            ok: 1,
            already_done: 2,
            ..Counts::default()
        };
        assert_eq!(s(resumed, Ending::Finished), 0);
        for (field, _) in [("failed", ()), ("invalid", ()), ("unknown", ())] {
            let mut c = all_ok;
            c.records += 1;
            match field {
                "failed" => c.failed = 1,
                "invalid" => c.invalid = 1,
                _ => c.unknown = 1,
            }
            assert_eq!(s(c, Ending::Finished), 1, "{field}");
        }
        assert_eq!(s(all_ok, Ending::Aborted), 3);
        assert_eq!(s(all_ok, Ending::Interrupted), 130);
        // Records without a final status are a problem too.
        let short = Counts {
            records: 5,
            ok: 2,
            ..Counts::default()
        };
        assert_eq!(s(short, Ending::Finished), 1);
        // So is input that could not be read to the end.
        let unread = Counts {
            input_errors: 1,
            ..all_ok
        };
        assert_eq!(s(unread, Ending::Finished), 1);
    }

    #[test]
    fn summary_json_has_the_design_fields() {
        let counts = Counts {
            records: 10,
            sent: 8,
            ok: 7,
            failed: 1,
            invalid: 1,
            duplicate: 1,
            calls: 4,
            retries: 1,
            throttled: 1,
            ..Counts::default()
        };
        let s = Summary::new(
            counts,
            Duration::from_secs(2),
            Ending::Finished,
            None,
            "r.csv".into(),
            false,
        );
        let v = serde_json::to_value(&s).unwrap();
        for key in [
            "records",
            "sent",
            "ok",
            "failed",
            "invalid",
            "duplicate",
            "unknown",
            "already_done",
            "calls",
            "retries",
            "throttled",
            "elapsed_secs",
            "calls_per_sec",
            "urls_per_sec",
            "exit_code",
            "abort_reason",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["calls_per_sec"], 2.0);
        assert_eq!(v["urls_per_sec"], 4.0);
        assert_eq!(v["exit_code"], 1);
        let text = s.render(false);
        assert!(text.contains("records read"), "{text}");
        assert!(!text.contains('\u{1b}'), "no colour unless asked: {text}");
        assert!(s.render(true).contains('\u{1b}'));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(3.44), "3.4s");
        assert_eq!(human_duration(125.0), "2m 05s");
        assert_eq!(human_duration(3723.0), "1h 02m 03s");
    }
}
