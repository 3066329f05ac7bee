//! `--resume`: what an existing report says is already done.
//!
//! Resume is keyed by URL, so a changed or re-sorted input still works: a
//! URL whose latest sent row is `ok` is already done and is not sent again;
//! every other URL (failed, unknown, or in a batch that was in flight when
//! the process died, so without a row) is sent again. Rows that settled a
//! record without a call (`invalid`, `duplicate`) are not written twice for
//! the same record.
//!
//! A crash can leave a torn last line; it is cut off before appending.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::dedup::Dedup;
use crate::report::{COLUMNS, ReportFormat, Row, Status};

/// What the report already holds.
#[derive(Debug, Default)]
pub struct Resume {
    /// Fingerprints of URLs whose latest sent row is `ok`.
    done: HashSet<u128>,
    /// Fingerprints of (source, line, URL, status) of `invalid` and `duplicate` rows.
    settled: HashSet<u128>,
    /// Rows read.
    pub rows: u64,
    /// Lines that could not be read as rows (skipped, with a warning).
    pub skipped: u64,
    /// Whether a torn last line was cut off.
    pub torn: bool,
    /// When the report was last written, to keep the account's rate window
    /// clear if the previous run stopped a moment ago.
    pub modified: Option<SystemTime>,
}

/// The report cannot be read (to resume it, or by `cdn-unblock report`):
/// exit 2. Callers say what they wanted it for.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("cannot read the report `{}`: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("`{}` is not a cdn-unblock report (its first line is not the report's header)", .0.display())]
    NotAReport(PathBuf),
}

fn settled_key(source: &str, line: u64, url: &str, status: Status) -> u128 {
    let key = format!("{source}\u{0}{line}\u{0}{url}\u{0}{status}");
    Dedup::fingerprint(&key)
}

impl Resume {
    /// Whether `url` is already `ok`.
    pub fn is_done(&self, url: &str) -> bool {
        self.done.contains(&Dedup::fingerprint(url))
    }

    /// Whether this record already has this `invalid` or `duplicate` row.
    pub fn already_settled(&self, source: &str, line: u64, url: &str, status: Status) -> bool {
        self.settled
            .contains(&settled_key(source, line, url, status))
    }

    /// URLs already ok.
    pub fn done_count(&self) -> usize {
        self.done.len()
    }

    fn add(&mut self, row: &Row) {
        self.rows += 1;
        match row.status {
            Status::Ok => {
                self.done.insert(Dedup::fingerprint(&row.url));
            }
            Status::Failed | Status::Unknown | Status::DryRun => {
                self.done.remove(&Dedup::fingerprint(&row.url));
            }
            Status::Invalid | Status::Duplicate => {
                self.settled
                    .insert(settled_key(&row.source, row.line, &row.url, row.status));
            }
        }
    }

    /// Read `path` (and cut off a torn last line), ready to append to.
    /// A missing report resumes nothing.
    pub fn load(path: &Path) -> Result<Resume, ResumeError> {
        let io_err = |source| ResumeError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Resume::default()),
            Err(e) => return Err(io_err(e)),
        };
        let meta = file.metadata().map_err(io_err)?;
        let mut resume = Resume {
            modified: meta.modified().ok(),
            ..Resume::default()
        };
        let end = complete_length(&mut file).map_err(io_err)?;
        if end < meta.len() {
            file.set_len(end).map_err(io_err)?;
            resume.torn = true;
            tracing::warn!(
                event = "torn_line",
                "{}: the last line was cut off by a crash; it was removed (its URLs are sent again)",
                path.display()
            );
        }
        let read = read_rows(path, file, end, |row| resume.add(&row))?;
        resume.skipped = read.skipped;
        if resume.skipped > 0 {
            tracing::warn!(
                event = "unreadable_rows",
                "{}: {} line(s) could not be read as report rows and were ignored",
                path.display(),
                resume.skipped
            );
        }
        Ok(resume)
    }
}

/// What reading a report found besides its rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadReport {
    /// Lines that are not rows (skipped).
    pub skipped: u64,
    /// A last line without its newline (ignored: a crash cut it).
    pub torn: bool,
}

/// Read every row of the report at `path`, without changing it. A torn
/// last line is ignored.
pub fn read_report(path: &Path, each: impl FnMut(Row)) -> Result<ReadReport, ResumeError> {
    let io_err = |source| ResumeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    let end = complete_length(&mut file).map_err(io_err)?;
    let mut read = read_rows(path, file, end, each)?;
    read.torn = end < len;
    Ok(read)
}

/// Read the rows in the first `end` bytes of `file` (the report at `path`).
fn read_rows(
    path: &Path,
    mut file: File,
    end: u64,
    mut each: impl FnMut(Row),
) -> Result<ReadReport, ResumeError> {
    let io_err = |source| ResumeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut read = ReadReport::default();
    if end == 0 {
        return Ok(read);
    }
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let mut reader = BufReader::with_capacity(256 * 1024, file.take(end));
    match ReportFormat::for_path(path) {
        ReportFormat::Csv => {
            let mut header = String::new();
            reader.read_line(&mut header).map_err(io_err)?;
            if header.trim_end() != COLUMNS.join(",") {
                return Err(ResumeError::NotAReport(path.to_path_buf()));
            }
            let mut csv = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(reader);
            let mut record = csv::StringRecord::new();
            loop {
                match csv.read_record(&mut record) {
                    Ok(false) => break,
                    Ok(true) => match record.deserialize::<Row>(None) {
                        Ok(row) => each(row),
                        Err(_) => read.skipped += 1,
                    },
                    Err(e) if e.is_io_error() => {
                        return Err(io_err(io::Error::other(e.to_string())));
                    }
                    Err(_) => read.skipped += 1,
                }
            }
        }
        ReportFormat::Jsonl => {
            let mut line = String::new();
            let mut first = true;
            loop {
                line.clear();
                if reader.read_line(&mut line).map_err(io_err)? == 0 {
                    break;
                }
                match serde_json::from_str::<Row>(&line) {
                    Ok(row) => each(row),
                    Err(_) if first => return Err(ResumeError::NotAReport(path.to_path_buf())),
                    Err(_) => read.skipped += 1,
                }
                first = false;
            }
        }
    }
    Ok(read)
}

/// The length of the file up to and including its last newline.
fn complete_length(file: &mut File) -> io::Result<u64> {
    let len = file.metadata()?.len();
    let mut pos = len;
    let mut buf = vec![0u8; 64 * 1024];
    while pos > 0 {
        let chunk = (buf.len() as u64).min(pos);
        pos -= chunk;
        file.seek(SeekFrom::Start(pos))?;
        let part = &mut buf[..chunk as usize];
        file.read_exact(part)?;
        if let Some(i) = memchr::memrchr(b'\n', part) {
            return Ok(pos + i as u64 + 1);
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ReportWriter;
    use std::sync::Arc;

    fn row(line: u64, url: &str, status: Status) -> Row {
        Row {
            source: Arc::from("in.csv"),
            line,
            url: url.into(),
            status,
            error_code: None,
            error_message: None,
            task_id: None,
            request_id: None,
            attempts: 1,
            finished_at: "2026-11-28T00:00:00.000Z".into(),
        }
    }

    fn write(path: &Path, rows: &[Row]) {
        let mut w = ReportWriter::new(
            File::create(path).unwrap(),
            ReportFormat::for_path(path),
            true,
        )
        .unwrap();
        w.write_rows(rows).unwrap();
    }

    #[test]
    fn the_latest_sent_row_decides_and_settled_rows_are_remembered() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["r.csv", "r.jsonl"] {
            let path = dir.path().join(name);
            write(
                &path,
                &[
                    row(2, "https://a/1", Status::Ok),
                    row(3, "https://a/2", Status::Failed),
                    row(4, "https://a/3", Status::Ok),
                    row(5, "nope", Status::Invalid),
                    row(6, "https://a/1", Status::Duplicate),
                    row(7, "https://a/3", Status::Unknown),
                    row(3, "https://a/2", Status::Ok),
                ],
            );
            let r = Resume::load(&path).unwrap();
            assert!(r.is_done("https://a/1"), "{name}");
            assert!(r.is_done("https://a/2"), "failed, then ok later: {name}");
            assert!(!r.is_done("https://a/3"), "ok, then unknown later: {name}");
            assert!(!r.is_done("https://a/4"));
            assert!(r.already_settled("in.csv", 5, "nope", Status::Invalid));
            assert!(r.already_settled("in.csv", 6, "https://a/1", Status::Duplicate));
            assert!(!r.already_settled("in.csv", 9, "nope", Status::Invalid));
            assert_eq!(r.rows, 7);
            assert!(!r.torn);
        }
    }

    #[test]
    fn a_torn_last_line_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        write(
            &path,
            &[
                row(2, "https://a/1", Status::Ok),
                row(3, "https://a/2", Status::Ok),
            ],
        );
        let full = std::fs::read(&path).unwrap();
        // Cut the last row in half, as a kill -9 in the middle of a write would.
        let cut = full.len() - 20;
        std::fs::write(&path, &full[..cut]).unwrap();
        let r = Resume::load(&path).unwrap();
        assert!(r.torn);
        assert!(r.is_done("https://a/1"));
        assert!(!r.is_done("https://a/2"));
        let after = std::fs::read(&path).unwrap();
        let expected = full[..cut].iter().rposition(|&b| b == b'\n').unwrap() + 1;
        assert_eq!(after, full[..expected]);
    }

    #[test]
    fn refuses_what_is_not_a_report_and_accepts_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(&path, "url\nhttps://a/1\n").unwrap();
        assert!(matches!(
            Resume::load(&path),
            Err(ResumeError::NotAReport(_))
        ));
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, "hello\n").unwrap();
        assert!(matches!(
            Resume::load(&path),
            Err(ResumeError::NotAReport(_))
        ));
        let missing = Resume::load(&dir.path().join("none.csv")).unwrap();
        assert_eq!(missing.rows, 0);
    }
}
