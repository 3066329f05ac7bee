//! The report: one row per input record, as CSV or JSON Lines.
//!
//! Rows are written in completion order by a single writer that owns the
//! file, and flushed after every batch, so a crash loses at most the batches
//! in flight. Every field is kept on one line (control characters become
//! spaces), so the only damage a `kill -9` can do is a torn last line.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The columns, in order (JSON Lines uses the same keys).
pub const COLUMNS: [&str; 10] = [
    "source",
    "line",
    "url",
    "status",
    "error_code",
    "error_message",
    "task_id",
    "request_id",
    "attempts",
    "finished_at",
];

/// A record's final status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// In `CacheOptResult.SuccessUrls`.
    Ok,
    /// In `FailUrls`, or its batch failed for good.
    Failed,
    /// Not sent: failed local validation.
    Invalid,
    /// Not sent: the same URL came earlier in this run.
    Duplicate,
    /// The call succeeded but the URL was in neither list.
    Unknown,
    /// Would have been sent (`--dry-run`).
    DryRun,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Invalid => "invalid",
            Status::Duplicate => "duplicate",
            Status::Unknown => "unknown",
            Status::DryRun => "dry_run",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One report row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// The input's path as given, or `-` for stdin.
    pub source: Arc<str>,
    /// 1-based line where the record starts.
    pub line: u64,
    pub url: String,
    pub status: Status,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub task_id: Option<String>,
    pub request_id: Option<String>,
    /// API calls that carried this URL.
    pub attempts: u32,
    /// RFC 3339 UTC.
    pub finished_at: String,
}

/// Now, RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(format)
        .unwrap_or_default()
}

/// CSV or JSON Lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Csv,
    Jsonl,
}

impl ReportFormat {
    /// `.jsonl` and `.ndjson` are JSON Lines; everything else is CSV.
    pub fn for_path(path: &Path) -> ReportFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("ndjson") => {
                ReportFormat::Jsonl
            }
            _ => ReportFormat::Csv,
        }
    }
}

/// The default report name: `cdn-unblock-report-<UTC yyyymmddThhmmss>.csv`.
pub fn default_path() -> PathBuf {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]");
    let stamp = time::OffsetDateTime::now_utc()
        .format(format)
        .unwrap_or_default();
    PathBuf::from(format!("cdn-unblock-report-{stamp}.csv"))
}

/// Writes rows to any `Write`, in one format.
pub struct ReportWriter<W: Write> {
    format: ReportFormat,
    csv: Option<csv::Writer<W>>,
    json: Option<W>,
}

impl<W: Write> ReportWriter<W> {
    /// A writer; `header` writes the CSV header first (not when appending).
    pub fn new(out: W, format: ReportFormat, header: bool) -> io::Result<Self> {
        match format {
            ReportFormat::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(out);
                if header {
                    w.write_record(COLUMNS)?;
                    w.flush()?;
                }
                Ok(ReportWriter {
                    format,
                    csv: Some(w),
                    json: None,
                })
            }
            ReportFormat::Jsonl => Ok(ReportWriter {
                format,
                csv: None,
                json: Some(out),
            }),
        }
    }

    pub fn format(&self) -> ReportFormat {
        self.format
    }

    /// Write rows and flush them out of the process.
    pub fn write_rows(&mut self, rows: &[Row]) -> io::Result<()> {
        if let Some(w) = &mut self.csv {
            for row in rows {
                w.serialize(row).map_err(io::Error::other)?;
            }
            w.flush()?;
        }
        if let Some(w) = &mut self.json {
            let mut buf = Vec::with_capacity(rows.len() * 200);
            for row in rows {
                serde_json::to_writer(&mut buf, row).map_err(io::Error::other)?;
                buf.push(b'\n');
            }
            w.write_all(&buf)?;
            w.flush()?;
        }
        Ok(())
    }

    /// The inner writer back (flushed).
    pub fn into_inner(self) -> io::Result<W> {
        match (self.csv, self.json) {
            (Some(w), _) => w.into_inner().map_err(|e| io::Error::other(e.to_string())),
            (_, Some(w)) => Ok(w),
            _ => unreachable!("one of the two is always set"),
        }
    }
}

/// How an existing report is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportMode {
    /// It must not exist yet.
    New,
    /// `--force`: overwrite it.
    Overwrite,
    /// `--resume`: append to it (created if missing).
    Append,
}

/// Why the report cannot be opened: exit 2.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the report `{}` already exists: pass --resume to continue it, --force to overwrite it, or choose another --report", .0.display())]
    Exists(PathBuf),
    #[error("cannot create the report `{}`: {source}", path.display())]
    Create { path: PathBuf, source: io::Error },
}

/// Open the report file, and a writer for its format (with the CSV header
/// unless it is appended to a report that has one).
pub fn open(path: &Path, mode: ReportMode) -> Result<ReportWriter<BufWriter<File>>, ReportError> {
    let file = create(path, mode)?;
    let fresh = file
        .get_ref()
        .metadata()
        .map(|m| m.len() == 0)
        .unwrap_or(true);
    ReportWriter::new(file, ReportFormat::for_path(path), fresh).map_err(|source| {
        ReportError::Create {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Open the report file for writing.
pub fn create(path: &Path, mode: ReportMode) -> Result<BufWriter<File>, ReportError> {
    let mut options = OpenOptions::new();
    match mode {
        ReportMode::New => options.write(true).create_new(true),
        ReportMode::Overwrite => options.write(true).create(true).truncate(true),
        ReportMode::Append => options.append(true).create(true),
    };
    match options.open(path) {
        Ok(f) => Ok(BufWriter::with_capacity(256 * 1024, f)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Err(ReportError::Exists(path.to_path_buf()))
        }
        Err(source) => Err(ReportError::Create {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: Status) -> Row {
        Row {
            source: Arc::from("urls.csv"),
            line: 2,
            url: "https://a.example.com/x?y=1,2".into(),
            status,
            error_code: (status == Status::Failed).then(|| "FailUrls".into()),
            error_message: (status == Status::Failed).then(|| "in FailUrls".into()),
            task_id: Some("17".into()),
            request_id: Some("r-1".into()),
            attempts: 1,
            finished_at: "2026-11-28T03:50:52.123Z".into(),
        }
    }

    #[test]
    fn csv_columns_are_pinned() {
        let mut w = ReportWriter::new(Vec::new(), ReportFormat::Csv, true).unwrap();
        w.write_rows(&[row(Status::Ok), row(Status::Failed)])
            .unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(
            text,
            "source,line,url,status,error_code,error_message,task_id,request_id,attempts,finished_at\n\
             urls.csv,2,\"https://a.example.com/x?y=1,2\",ok,,,17,r-1,1,2026-11-28T03:50:52.123Z\n\
             urls.csv,2,\"https://a.example.com/x?y=1,2\",failed,FailUrls,in FailUrls,17,r-1,1,2026-11-28T03:50:52.123Z\n"
        );
    }

    #[test]
    fn appending_csv_writes_no_second_header() {
        let mut w = ReportWriter::new(Vec::new(), ReportFormat::Csv, false).unwrap();
        w.write_rows(&[row(Status::DryRun)]).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert!(text.starts_with("urls.csv,2,"));
        assert!(text.contains(",dry_run,"));
    }

    #[test]
    fn jsonl_uses_the_same_keys_in_the_same_order() {
        let mut w = ReportWriter::new(Vec::new(), ReportFormat::Jsonl, true).unwrap();
        w.write_rows(&[row(Status::Ok)]).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(
            text,
            "{\"source\":\"urls.csv\",\"line\":2,\"url\":\"https://a.example.com/x?y=1,2\",\"status\":\"ok\",\"error_code\":null,\"error_message\":null,\"task_id\":\"17\",\"request_id\":\"r-1\",\"attempts\":1,\"finished_at\":\"2026-11-28T03:50:52.123Z\"}\n"
        );
        let back: Row = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(back, row(Status::Ok));
    }

    #[test]
    fn format_follows_the_extension() {
        assert_eq!(
            ReportFormat::for_path(Path::new("r.jsonl")),
            ReportFormat::Jsonl
        );
        assert_eq!(
            ReportFormat::for_path(Path::new("r.NDJSON")),
            ReportFormat::Jsonl
        );
        assert_eq!(
            ReportFormat::for_path(Path::new("r.csv")),
            ReportFormat::Csv
        );
        assert_eq!(ReportFormat::for_path(Path::new("r")), ReportFormat::Csv);
        let p = default_path();
        let name = p.to_str().unwrap();
        assert!(name.starts_with("cdn-unblock-report-") && name.ends_with(".csv"));
        assert_eq!(name.len(), "cdn-unblock-report-20261128T035052.csv".len());
    }

    #[test]
    fn an_existing_report_is_not_overwritten_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        std::fs::write(&p, "keep me").unwrap();
        assert!(matches!(
            create(&p, ReportMode::New),
            Err(ReportError::Exists(_))
        ));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "keep me");
        drop(create(&p, ReportMode::Overwrite).unwrap());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "");
    }
}
