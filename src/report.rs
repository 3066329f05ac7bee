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
    /// Shared by the rows of one answer, like the ids below.
    pub error_code: Option<Arc<str>>,
    pub error_message: Option<Arc<str>>,
    pub task_id: Option<Arc<str>>,
    pub request_id: Option<Arc<str>>,
    /// API calls that carried this URL.
    pub attempts: u32,
    /// RFC 3339 UTC (shared by the rows of one batch).
    pub finished_at: Arc<str>,
}

/// Now, RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> Arc<str> {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(format)
        .unwrap_or_default()
        .into()
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
///
/// CSV: a row none of whose fields holds a comma, a quote or a line break
/// is written as its fields joined by commas — exactly what the `csv` crate
/// writes for it, at a fraction of the cost (the crate's per-byte quoting
/// check was a fifth of a dry run). Any other row is encoded by the `csv`
/// crate. `csv_rows_are_what_the_csv_crate_writes` pins the equivalence.
pub struct ReportWriter<W: Write> {
    format: ReportFormat,
    out: W,
    buf: Vec<u8>,
}

/// The fields of a row, as the CSV columns.
fn fields<'a>(
    row: &'a Row,
    line: &'a mut itoa::Buffer,
    attempts: &'a mut itoa::Buffer,
) -> [&'a [u8]; 10] {
    fn text(s: &Option<Arc<str>>) -> &[u8] {
        s.as_deref().unwrap_or("").as_bytes()
    }
    [
        row.source.as_bytes(),
        line.format(row.line).as_bytes(),
        row.url.as_bytes(),
        row.status.as_str().as_bytes(),
        text(&row.error_code),
        text(&row.error_message),
        text(&row.task_id),
        text(&row.request_id),
        attempts.format(row.attempts).as_bytes(),
        row.finished_at.as_bytes(),
    ]
}

/// Whether the `csv` crate would quote this field. Without an early exit
/// the loop vectorises; fields are short, and a `memchr` call per field
/// cost more than it saved.
fn needs_quotes(field: &[u8]) -> bool {
    let mut found = 0u8;
    for &b in field {
        found |= u8::from((b == b',') | (b == b'"') | (b == b'\n') | (b == b'\r'));
    }
    found != 0
}

impl<W: Write> ReportWriter<W> {
    /// A writer; `header` writes the CSV header first (not when appending).
    pub fn new(out: W, format: ReportFormat, header: bool) -> io::Result<Self> {
        let mut writer = ReportWriter {
            format,
            out,
            buf: Vec::with_capacity(64 * 1024),
        };
        if format == ReportFormat::Csv && header {
            writer.buf.extend_from_slice(COLUMNS.join(",").as_bytes());
            writer.buf.push(b'\n');
            writer.out.write_all(&writer.buf)?;
            writer.out.flush()?;
            writer.buf.clear();
        }
        Ok(writer)
    }

    pub fn format(&self) -> ReportFormat {
        self.format
    }

    fn encode_csv(&mut self, row: &Row) -> io::Result<()> {
        let (mut line, mut attempts) = (itoa::Buffer::new(), itoa::Buffer::new());
        let fields = fields(row, &mut line, &mut attempts);
        // Numbers, the status and the time never need quotes.
        let free_text = [0, 2, 4, 5, 6, 7];
        if free_text.iter().any(|&i| needs_quotes(fields[i])) {
            let mut quoting = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(std::mem::take(&mut self.buf));
            quoting.write_record(fields)?;
            self.buf = quoting
                .into_inner()
                .map_err(|e| io::Error::other(e.to_string()))?;
        } else {
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    self.buf.push(b',');
                }
                self.buf.extend_from_slice(field);
            }
            self.buf.push(b'\n');
        }
        Ok(())
    }

    /// Write rows and flush them out of the process.
    pub fn write_rows(&mut self, rows: &[Row]) -> io::Result<()> {
        self.append(rows)?;
        self.flush()
    }

    /// Encode rows; [`ReportWriter::flush`] writes them out.
    pub fn append(&mut self, rows: &[Row]) -> io::Result<()> {
        for row in rows {
            match self.format {
                ReportFormat::Csv => self.encode_csv(row)?,
                ReportFormat::Jsonl => {
                    serde_json::to_writer(&mut self.buf, row).map_err(io::Error::other)?;
                    self.buf.push(b'\n');
                }
            }
        }
        Ok(())
    }

    /// Write what was appended and flush it out of the process.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }

    /// The inner writer back (flushed).
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
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
    fn csv_rows_are_what_the_csv_crate_writes() {
        let awkward = [
            "https://a.example.com/x",
            "https://a.example.com/x?y=1,2",
            "say \"hi\"",
            "two\nlines",
            "cr\rhere",
            " leading and trailing ",
            "",
            "ünïcödé",
            "'single'",
            ";semi;colon",
        ];
        let mut rows = Vec::new();
        for (i, a) in awkward.iter().enumerate() {
            let mut r = row(if i % 2 == 0 {
                Status::Ok
            } else {
                Status::Failed
            });
            r.url = a.to_string();
            rows.push(r.clone());
            r.url = "https://plain.example.com/".into();
            r.error_message = Some(Arc::from(*a));
            rows.push(r.clone());
            r.source = Arc::from(*a);
            rows.push(r);
        }
        let mut ours = ReportWriter::new(Vec::new(), ReportFormat::Csv, true).unwrap();
        ours.write_rows(&rows).unwrap();
        let mut reference = csv::Writer::from_writer(Vec::new());
        for r in &rows {
            reference.serialize(r).unwrap();
        }
        assert_eq!(
            String::from_utf8(ours.into_inner().unwrap()).unwrap(),
            String::from_utf8(reference.into_inner().unwrap()).unwrap()
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
