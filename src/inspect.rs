//! `cdn-unblock report PATH`: what a report says, after the run.
//!
//! A report may hold several rows for one URL (a run and its `--resume`s);
//! the latest row of a URL is its final status. Rows that settled a record
//! without a call (`invalid`, `duplicate`) count once per record.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use crate::dedup::Dedup;
use crate::plan::thousands;
use crate::report::{Row, Status};
use crate::resume::{ResumeError, read_report};

/// Example URLs kept per error code.
const EXAMPLES: usize = 3;

/// A URL whose latest row is not `ok`.
#[derive(Debug, Clone)]
struct Open {
    url: String,
    status: Status,
    code: Option<Arc<str>>,
}

/// Failures (or invalid records) with one code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    pub count: u64,
    pub examples: Vec<String>,
}

/// What a report says.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub rows: u64,
    /// Unique URLs sent (or, in a dry run, to be sent), by final status.
    pub by_status: BTreeMap<Status, u64>,
    /// Records not sent.
    pub invalid: u64,
    pub duplicate: u64,
    /// URLs whose final status is `failed` or `unknown`, by error code.
    pub failures: BTreeMap<String, Group>,
    /// Invalid records, by error code.
    pub invalid_by_code: BTreeMap<String, Group>,
    /// URLs not `ok`, in the order they first appear (`--failed-urls`).
    pub not_ok: Vec<String>,
    pub skipped_lines: u64,
    pub torn: bool,
}

impl Findings {
    /// Whether every URL ended `ok` and no record was invalid.
    pub fn all_ok(&self) -> bool {
        self.invalid == 0
            && self
                .by_status
                .iter()
                .all(|(status, n)| *status == Status::Ok || *n == 0)
    }
}

/// Read the report at `path`.
pub fn inspect(path: &Path) -> Result<Findings, ResumeError> {
    let mut findings = Findings::default();
    let mut seen = Dedup::new();
    let mut open: Vec<Option<Open>> = Vec::new();
    let mut open_index: HashMap<String, usize> = HashMap::new();
    let mut settled: HashSet<u128> = HashSet::new();
    let read = read_report(path, |row: Row| {
        findings.rows += 1;
        match row.status {
            Status::Invalid | Status::Duplicate => {
                let key = format!("{}\u{0}{}\u{0}{}", row.source, row.line, row.url);
                if settled.insert(Dedup::fingerprint(&key)) {
                    if row.status == Status::Invalid {
                        findings.invalid += 1;
                        let code = row
                            .error_code
                            .as_deref()
                            .unwrap_or("InvalidUrl")
                            .to_string();
                        add(&mut findings.invalid_by_code, code, &row.url);
                    } else {
                        findings.duplicate += 1;
                    }
                }
            }
            status => {
                seen.first_or_insert(&row.url, 0, 1);
                if status == Status::Ok {
                    if let Some(&i) = open_index.get(&row.url) {
                        open[i] = None;
                    }
                    return;
                }
                let entry = Open {
                    url: row.url.clone(),
                    status,
                    code: row.error_code.clone(),
                };
                match open_index.get(&row.url) {
                    Some(&i) => open[i] = Some(entry),
                    None => {
                        open_index.insert(row.url, open.len());
                        open.push(Some(entry));
                    }
                }
            }
        }
    })?;
    findings.skipped_lines = read.skipped;
    findings.torn = read.torn;
    let mut not_ok_by_status: BTreeMap<Status, u64> = BTreeMap::new();
    for entry in open.into_iter().flatten() {
        *not_ok_by_status.entry(entry.status).or_default() += 1;
        if matches!(entry.status, Status::Failed | Status::Unknown) {
            let code = match (&entry.code, entry.status) {
                (Some(code), _) => code.to_string(),
                (None, Status::Unknown) => "unknown (in neither list)".to_string(),
                (None, _) => "no code".to_string(),
            };
            add(&mut findings.failures, code, &entry.url);
        }
        findings.not_ok.push(entry.url);
    }
    let not_ok: u64 = not_ok_by_status.values().sum();
    findings
        .by_status
        .insert(Status::Ok, (seen.len() as u64).saturating_sub(not_ok));
    for status in [Status::Failed, Status::Unknown, Status::DryRun] {
        findings
            .by_status
            .insert(status, not_ok_by_status.get(&status).copied().unwrap_or(0));
    }
    Ok(findings)
}

fn add(groups: &mut BTreeMap<String, Group>, code: String, url: &str) {
    let group = groups.entry(code).or_default();
    group.count += 1;
    if group.examples.len() < EXAMPLES {
        group.examples.push(url.to_string());
    }
}

/// The findings, for a person.
pub fn render(path: &Path, f: &Findings) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} rows; final status of each URL (the latest row wins):",
        path.display(),
        thousands(f.rows)
    );
    for (status, n) in &f.by_status {
        if *n > 0 || matches!(status, Status::Ok | Status::Failed) {
            let _ = writeln!(out, "  {:<10} {:>10}", status.as_str(), thousands(*n));
        }
    }
    let _ = writeln!(
        out,
        "  {:<10} {:>10}   (not sent)",
        "invalid",
        thousands(f.invalid)
    );
    let _ = writeln!(
        out,
        "  {:<10} {:>10}   (not sent)",
        "duplicate",
        thousands(f.duplicate)
    );
    for (title, groups) in [
        ("failures by error code", &f.failures),
        ("invalid records by reason", &f.invalid_by_code),
    ] {
        if groups.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{title}:");
        let width = groups.keys().map(|k| k.len()).max().unwrap_or(0);
        let mut sorted: Vec<_> = groups.iter().collect();
        sorted.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
        for (code, group) in sorted {
            let more = if group.count as usize > group.examples.len() {
                ", …"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  {code:<width$} {:>8}   {}{more}",
                thousands(group.count),
                group.examples.join(", ")
            );
        }
    }
    if f.torn {
        let _ = writeln!(
            out,
            "note: the last line was cut off (a crash?) and was ignored"
        );
    }
    if f.skipped_lines > 0 {
        let _ = writeln!(
            out,
            "note: {} line(s) are not report rows and were ignored",
            f.skipped_lines
        );
    }
    if !f.not_ok.is_empty() {
        let _ = writeln!(
            out,
            "to send the {} URLs that are not ok again: cdn-unblock run --resume --report {} INPUT\n  (or: cdn-unblock report --failed-urls {} | cdn-unblock run -)",
            thousands(f.not_ok.len() as u64),
            path.display(),
            path.display()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ReportFormat, ReportWriter};

    fn row(line: u64, url: &str, status: Status, code: Option<&str>) -> Row {
        Row {
            source: Arc::from("in.csv"),
            line,
            url: url.into(),
            status,
            error_code: code.map(Arc::from),
            error_message: None,
            task_id: None,
            request_id: None,
            attempts: 1,
            finished_at: Arc::from("2026-11-28T00:00:00.000Z"),
        }
    }

    #[test]
    fn the_latest_row_of_a_url_is_its_final_status() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["r.csv", "r.jsonl"] {
            let path = dir.path().join(name);
            let mut w = ReportWriter::new(
                std::fs::File::create(&path).unwrap(),
                ReportFormat::for_path(&path),
                true,
            )
            .unwrap();
            w.write_rows(&[
                row(2, "https://a/1", Status::Ok, None),
                row(3, "https://a/2", Status::Failed, Some("Http.502")),
                row(4, "https://a/3", Status::Failed, Some("FailUrls")),
                row(5, "ftp://a/4", Status::Invalid, Some("InvalidUrl.Scheme")),
                row(6, "https://a/1", Status::Duplicate, None),
                row(7, "https://a/5", Status::Unknown, None),
                // A --resume later: a/2 went through, a/3 failed again.
                row(3, "https://a/2", Status::Ok, None),
                row(4, "https://a/3", Status::Failed, Some("FailUrls")),
                row(5, "ftp://a/4", Status::Invalid, Some("InvalidUrl.Scheme")),
            ])
            .unwrap();
            drop(w);
            let f = inspect(&path).unwrap();
            assert_eq!(f.rows, 9);
            assert_eq!(f.by_status[&Status::Ok], 2, "{name}");
            assert_eq!(f.by_status[&Status::Failed], 1);
            assert_eq!(f.by_status[&Status::Unknown], 1);
            assert_eq!(f.invalid, 1, "the same invalid record counts once");
            assert_eq!(f.duplicate, 1);
            assert_eq!(f.not_ok, ["https://a/3", "https://a/5"]);
            assert_eq!(f.failures["FailUrls"].count, 1);
            assert_eq!(
                f.failures["unknown (in neither list)"].examples,
                ["https://a/5"]
            );
            assert_eq!(f.invalid_by_code["InvalidUrl.Scheme"].count, 1);
            assert!(!f.all_ok());
            let text = render(&path, &f);
            assert!(text.contains("FailUrls"), "{text}");
            assert!(text.contains("https://a/3"), "{text}");
        }
    }
}
