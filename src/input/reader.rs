//! The reader thread: sources → validated, deduplicated items, in chunks.
//!
//! Everything a record goes through lives in one [`Reading`], shared (on
//! this one thread) with the adapter that wraps each source, so that before
//! any read that may block, the adapter can finish the record in hand and
//! hand the chunk over: `tail -f list | cdn-unblock run -` never sits on a
//! record that has arrived.
//!
//! Valid URLs are looked up in the dedup table a block at a time, shard by
//! shard, which keeps the lookups in cache (see [`Dedup`]); the block is
//! resolved before any read that may block, so streaming is unaffected.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    CsvOptions, Format, InputError, Invalid, Item, Record, Source, Validator, pick_column,
};
use crate::dedup::{Dedup, FirstSeen};
use crate::report::{Row, Status};
use crate::resume::Resume;
use crate::stats::Stats;

/// Records per chunk at most (a chunk also goes out before every read).
const CHUNK: usize = 1024;
/// The reader's buffer.
const READ_BUFFER: usize = 64 * 1024;

/// Everything the reader thread needs.
pub struct ReadJob {
    pub sources: Vec<Source>,
    pub csv: CsvOptions,
    pub dedup: Dedup,
    /// The report being resumed, if any.
    pub resume: Option<Arc<Resume>>,
    pub stats: Arc<Stats>,
    pub stop: CancellationToken,
}

/// A valid URL whose dedup slot is being fetched.
struct Pending {
    source: u32,
    line: u64,
    url: String,
    hash: u128,
}

/// The state of reading: chunk in progress, validation, dedup, resume.
struct Reading {
    chunk: Vec<Item>,
    tx: mpsc::Sender<Vec<Item>>,
    stop: CancellationToken,
    /// False once the run stopped or nobody listens: reads then see the end.
    open: bool,
    validator: Validator,
    dedup: Dedup,
    resume: Option<Arc<Resume>>,
    stats: Arc<Stats>,
    sources: Vec<Arc<str>>,
    /// Valid URLs waiting for their dedup lookup, done a block at a time.
    pending: Vec<Pending>,
}

/// Valid URLs looked up in the dedup table together (see [`Dedup`]).
const BLOCK: usize = 16 * 1024;

impl Reading {
    fn push(&mut self, item: Item) {
        self.chunk.push(item);
        if self.chunk.len() >= CHUNK {
            self.send_chunk();
        }
    }

    fn send_chunk(&mut self) {
        if self.stop.is_cancelled() {
            self.open = false;
        }
        if !self.open || self.chunk.is_empty() {
            return;
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        if self.tx.blocking_send(chunk).is_err() {
            self.open = false;
        }
    }

    /// Before a read that may block: nothing read stays behind.
    fn before_read(&mut self) {
        self.finish_pending();
        self.send_chunk();
    }

    fn settled(
        &self,
        source: u32,
        line: u64,
        url: String,
        status: Status,
        code: Option<&str>,
        message: String,
    ) -> Item {
        Item::Settled(Box::new(Row {
            source: self.sources[source as usize].clone(),
            line,
            url,
            status,
            error_code: code.map(Arc::from),
            error_message: Some(Arc::from(message)),
            task_id: None,
            request_id: None,
            attempts: 0,
            finished_at: crate::report::now_rfc3339(),
        }))
    }

    /// A resumed report already holds this record's `invalid` or
    /// `duplicate` row: count it, write nothing.
    fn already_settled(&self, source: u32, line: u64, url: &str, status: Status) -> bool {
        let name = &self.sources[source as usize];
        let settled = self
            .resume
            .as_ref()
            .is_some_and(|r| r.already_settled(name, line, url, status));
        if settled {
            self.stats.count(status);
        }
        settled
    }

    fn invalid(&mut self, source: u32, line: u64, url: &str, why: Invalid) {
        self.stats.records.fetch_add(1, Ordering::Relaxed);
        let url = crate::client::one_line(url);
        if self.already_settled(source, line, &url, Status::Invalid) {
            return;
        }
        let item = self.settled(
            source,
            line,
            url,
            Status::Invalid,
            Some(why.code()),
            why.message(),
        );
        self.push(item);
    }

    /// One record, as read: validated now, deduplicated with its block.
    fn record(&mut self, source: u32, line: u64, raw: Result<&str, &[u8]>) {
        let text = match raw {
            Ok(text) => text.trim(),
            Err(bytes) => {
                let lossy = String::from_utf8_lossy(bytes);
                return self.invalid(source, line, lossy.trim(), Invalid::Encoding);
            }
        };
        if let Err(why) = self.validator.check(text) {
            return self.invalid(source, line, text, why);
        }
        self.stats.records.fetch_add(1, Ordering::Relaxed);
        self.pending.push(Pending {
            source,
            line,
            url: text.to_string(),
            hash: Dedup::fingerprint(text),
        });
        if self.pending.len() >= BLOCK {
            self.finish_pending();
        }
    }

    fn finish_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let block = std::mem::replace(&mut self.pending, Vec::with_capacity(BLOCK));
        let keys: Vec<(u128, u32, u64)> =
            block.iter().map(|p| (p.hash, p.source, p.line)).collect();
        let firsts = self.dedup.first_or_insert_block(&keys);
        for (p, first) in block.into_iter().zip(firsts) {
            self.finish(p, first);
        }
    }

    /// After the dedup lookup, for a valid URL: a URL to send, a duplicate
    /// row, or nothing (already `ok` in a resumed report).
    fn finish(&mut self, p: Pending, first: Option<FirstSeen>) {
        if let Some(first) = first {
            if self.already_settled(p.source, p.line, &p.url, Status::Duplicate) {
                return;
            }
            let message = if first.source == p.source {
                format!("same URL as line {}", first.line)
            } else {
                format!(
                    "same URL as line {} of {}",
                    first.line, self.sources[first.source as usize]
                )
            };
            let item = self.settled(p.source, p.line, p.url, Status::Duplicate, None, message);
            return self.push(item);
        }
        if self.resume.as_ref().is_some_and(|r| r.is_done(&p.url)) {
            self.stats.already_done.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let source = self.sources[p.source as usize].clone();
        self.push(Item::Url(Record {
            source,
            line: p.line,
            url: p.url,
        }));
    }
}

/// Read every source in order, sending item chunks to `tx`. Runs on a plain
/// thread (it blocks on reads). Returns the first setup problem found in a
/// CSV header (a `--column` that is not there).
pub fn read_all(job: ReadJob, tx: mpsc::Sender<Vec<Item>>) -> Result<(), InputError> {
    let ReadJob {
        sources,
        csv,
        dedup,
        resume,
        stats,
        stop,
    } = job;
    let reading = Rc::new(RefCell::new(Reading {
        chunk: Vec::with_capacity(CHUNK),
        tx,
        stop,
        open: true,
        validator: Validator::new(),
        dedup,
        resume,
        stats: stats.clone(),
        sources: sources.iter().map(|s| s.name.clone()).collect(),
        pending: Vec::with_capacity(BLOCK),
    }));
    for (index, source) in sources.into_iter().enumerate() {
        let name = source.name.clone();
        let newlines = (source.format == Format::Csv).then(Rc::default);
        let reader = FlushBeforeRead {
            inner: source.reader,
            may_block: source.may_block,
            reading: reading.clone(),
            newlines: newlines.clone(),
        };
        let index = index as u32;
        let result = match (source.format, newlines) {
            (Format::Csv, Some(newlines)) => {
                let csv_source = CsvSource {
                    index,
                    name: &name,
                    options: &csv,
                    newlines,
                };
                read_csv(reader, csv_source, &reading)
            }
            _ => read_lines(reader, index, &reading),
        };
        reading.borrow_mut().finish_pending();
        if let Err(e) = result {
            match e {
                ReadError::Setup(e) => return Err(e),
                ReadError::Io(e) => {
                    tracing::error!(event = "input_error", source = %name, "stopped reading {name}: {e}");
                    stats.input_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if !reading.borrow().open {
            break;
        }
    }
    reading.borrow_mut().before_read();
    Ok(())
}

/// The byte offsets of the newlines read and not yet passed, to tell the
/// line a CSV record starts on.
///
/// The `csv` crate's record positions point at where the parser resumed,
/// before the blank lines it skips and before the `\n` of a `\r\n` it
/// stopped in front of, so its line numbers can be several lines short.
/// Counted here instead, from where the record *ends*: if the reader stands
/// at byte `end` after the record, the record's last line is 1 + the
/// newlines before `end`, less one if the record ended with a `\n` (that
/// newline is its terminator); its first line is that, less the newlines
/// inside its (quoted) fields.
#[derive(Debug, Default)]
struct NewlineIndex {
    pending: VecDeque<u64>,
    fed: u64,
    /// Newlines before the first pending one.
    passed: u64,
}

impl NewlineIndex {
    fn feed(&mut self, data: &[u8]) {
        let base = self.fed;
        self.pending
            .extend(memchr::memchr_iter(b'\n', data).map(|i| base + i as u64));
        self.fed += data.len() as u64;
    }

    /// The first line of a record that ends before byte `end` and holds
    /// `inner` newlines in its fields.
    fn first_line(&mut self, end: u64, inner: u64) -> u64 {
        let last = end.saturating_sub(1);
        while self.pending.front().is_some_and(|&nl| nl < last) {
            self.pending.pop_front();
            self.passed += 1;
        }
        let ends_with_newline = self.pending.front() == Some(&last) && end > 0;
        let before_end = self.passed + u64::from(ends_with_newline);
        let last_line = before_end + u64::from(!ends_with_newline);
        last_line - inner.min(last_line - 1)
    }
}

/// A reader that hands over what was read before a read that may block
/// (and, for CSV, notes where the newlines are).
struct FlushBeforeRead<R> {
    inner: R,
    may_block: bool,
    reading: Rc<RefCell<Reading>>,
    newlines: Option<Rc<RefCell<NewlineIndex>>>,
}

impl<R: Read> Read for FlushBeforeRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let open = {
            let mut reading = self.reading.borrow_mut();
            if self.may_block {
                reading.before_read();
            } else if reading.stop.is_cancelled() {
                reading.open = false;
            }
            reading.open
        };
        if !open {
            return Ok(0); // stopped: behave as end of input
        }
        let n = self.inner.read(buf)?;
        if let Some(newlines) = &self.newlines {
            newlines.borrow_mut().feed(&buf[..n]);
        }
        Ok(n)
    }
}

enum ReadError {
    Setup(InputError),
    Io(io::Error),
}

fn read_lines<R: Read>(reader: R, index: u32, reading: &RefCell<Reading>) -> Result<(), ReadError> {
    let mut reader = BufReader::with_capacity(READ_BUFFER, reader);
    let mut buf = Vec::with_capacity(256);
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(ReadError::Io)?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        let mut bytes = buf.as_slice();
        if line == 1 {
            bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        }
        let raw = std::str::from_utf8(bytes).map_err(|_| bytes);
        if let Ok(text) = raw {
            let t = text.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
        }
        reading.borrow_mut().record(index, line, raw);
    }
}

/// One CSV source being read.
struct CsvSource<'a> {
    index: u32,
    name: &'a str,
    options: &'a CsvOptions,
    newlines: Rc<RefCell<NewlineIndex>>,
}

fn read_csv<R: Read>(
    reader: R,
    source: CsvSource<'_>,
    reading: &RefCell<Reading>,
) -> Result<(), ReadError> {
    let CsvSource {
        index,
        name,
        options,
        newlines,
    } = source;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(READ_BUFFER)
        .from_reader(reader);
    let mut record = csv::ByteRecord::new();
    let mut column: Option<usize> = None;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                return Err(ReadError::Io(match e.into_kind() {
                    csv::ErrorKind::Io(io) => io,
                    other => io::Error::other(format!("{other:?}")),
                }));
            }
        }
        let end = reader.position().byte();
        let inner = newlines_in(record.as_slice());
        let line = newlines.borrow_mut().first_line(end, inner);
        let col = match column {
            Some(c) => c,
            None => {
                let choice = pick_column(&record, name, options).map_err(ReadError::Setup)?;
                if let Some(note) = &choice.note {
                    tracing::info!(event = "csv_header", source = %name, "{note}");
                }
                column = Some(choice.index);
                if choice.header {
                    continue;
                }
                choice.index
            }
        };
        let mut reading = reading.borrow_mut();
        match record.get(col) {
            None => {
                let raw = String::from_utf8_lossy(record.as_slice()).to_string();
                let why = Invalid::Csv(format!(
                    "the row has {} field(s); the URL is in column {}",
                    record.len(),
                    col + 1
                ));
                reading.invalid(index, line, &raw, why);
            }
            Some(field) if has_line_break(field) => {
                let raw = String::from_utf8_lossy(field).to_string();
                let why = Invalid::Csv(
                    "a quoted field runs over several lines (an unbalanced quote?)".into(),
                );
                reading.invalid(index, line, &raw, why);
            }
            Some(field) => {
                reading.record(index, line, std::str::from_utf8(field).map_err(|_| field))
            }
        }
    }
}

/// Newlines in a record's fields (a plain count vectorises; a `memchr`
/// call per record cost more).
fn newlines_in(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// A `\n` or `\r` in a field (branch-free, so it vectorises).
fn has_line_break(field: &[u8]) -> bool {
    let mut found = 0u8;
    for &b in field {
        found |= u8::from((b == b'\n') | (b == b'\r'));
    }
    found != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record's first line, as the csv crate reads `data` and
    /// [`NewlineIndex`] counts.
    fn lines(data: &[u8]) -> Vec<(String, u64)> {
        let mut index = NewlineIndex::default();
        index.feed(data);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(data);
        let mut record = csv::ByteRecord::new();
        let mut out = Vec::new();
        while reader.read_byte_record(&mut record).unwrap() {
            let end = reader.position().byte();
            let inner = memchr::memchr_iter(b'\n', record.as_slice()).count() as u64;
            let first = String::from_utf8_lossy(&record[0]).to_string();
            out.push((first, index.first_line(end, inner)));
        }
        out
    }

    fn expect(data: &str, want: &[(&str, u64)]) {
        let want: Vec<(String, u64)> = want.iter().map(|(f, l)| (f.to_string(), *l)).collect();
        assert_eq!(lines(data.as_bytes()), want, "{data:?}");
    }

    #[test]
    fn csv_records_get_the_line_an_editor_shows() {
        expect("h\na\nb\n", &[("h", 1), ("a", 2), ("b", 3)]);
        expect("h\na\nb", &[("h", 1), ("a", 2), ("b", 3)]);
        // Blank lines, which the csv crate skips without counting them.
        expect("h\n\n\na\n\nb\n", &[("h", 1), ("a", 4), ("b", 6)]);
        // CRLF, where the csv crate's own count runs one behind.
        expect("h\r\na\r\nb\r\n", &[("h", 1), ("a", 2), ("b", 3)]);
        expect("h\r\n\r\n\r\na\r\n\r\nb", &[("h", 1), ("a", 4), ("b", 6)]);
        // Quoted fields over several lines.
        expect(
            "h\n\"x\ny\",\"p\nq\"\n\nb\n",
            &[("h", 1), ("x\ny", 2), ("b", 6)],
        );
        expect("\"a\r\nb\"\r\nc\r\n", &[("a\r\nb", 1), ("c", 3)]);
        // Old Mac line ends: no newlines at all, so every record is on line 1.
        expect("h\ra\r", &[("h", 1), ("a", 1)]);
    }
}
