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

/// Where the line breaks are, to tell the line a CSV record starts on.
///
/// The `csv` crate's record positions point at where the parser resumed,
/// before the blank lines it skips and before the `\n` of a `\r\n` it
/// stopped in front of, so its line numbers can be several lines short.
/// Counted here instead: a record starts at the first byte at or after
/// where the parser resumed that is not a `\r` or `\n` (those are the blank
/// lines it skips), and its line is 1 + the line breaks before that byte. A
/// break is a `\n`, or a `\r` not followed by `\n` (old Mac files), so
/// `\r\n`, `\n` and `\r` all count once, and nothing depends on how the
/// record ends (a quote left open at the end of the file included).
#[derive(Debug, Default)]
struct LineBreaks {
    /// The `\r` and `\n` bytes read and not yet passed: (offset, byte).
    pending: VecDeque<(u64, u8)>,
    fed: u64,
    /// Line breaks passed.
    passed: u64,
}

impl LineBreaks {
    fn feed(&mut self, data: &[u8]) {
        let base = self.fed;
        self.pending
            .extend(memchr::memchr2_iter(b'\n', b'\r', data).map(|i| (base + i as u64, data[i])));
        self.fed += data.len() as u64;
    }

    /// The line of the record the parser read after resuming at byte
    /// `start` (all of it has been fed).
    fn line_of(&mut self, start: u64) -> u64 {
        let mut content = start;
        while let Some(&(at, byte)) = self.pending.front() {
            if at > content {
                break;
            }
            if at == content {
                content += 1; // a blank line the parser skips
            }
            self.pending.pop_front();
            let crlf = byte == b'\r' && self.pending.front() == Some(&(at + 1, b'\n'));
            self.passed += u64::from(!crlf);
        }
        1 + self.passed
    }
}

/// A reader that hands over what was read before a read that may block
/// (and, for CSV, notes where the newlines are).
struct FlushBeforeRead<R> {
    inner: R,
    may_block: bool,
    reading: Rc<RefCell<Reading>>,
    newlines: Option<Rc<RefCell<LineBreaks>>>,
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
        if line == 0 && buf.starts_with(b"\xef\xbb\xbf") {
            buf.drain(..3);
        }
        // Old Mac files end lines with a `\r` alone: split there too.
        let mut rest = buf.as_slice();
        while !rest.is_empty() {
            let lone_cr = memchr::memchr_iter(b'\r', rest)
                .find(|&i| i + 1 < rest.len() && rest[i + 1] != b'\n');
            let (this, next) = rest.split_at(lone_cr.map_or(rest.len(), |i| i + 1));
            rest = next;
            line += 1;
            line_record(reading, index, line, this);
        }
    }
}

/// One line of a `lines` source: blank lines and `#` comments are skipped
/// (checked on the bytes, so a comment need not be UTF-8).
fn line_record(reading: &RefCell<Reading>, index: u32, line: u64, bytes: &[u8]) {
    let trimmed = bytes.trim_ascii();
    if trimmed.is_empty() || trimmed.starts_with(b"#") {
        return;
    }
    let raw = std::str::from_utf8(bytes).map_err(|_| bytes);
    if raw.is_ok_and(|text| text.trim().is_empty()) {
        return;
    }
    reading.borrow_mut().record(index, line, raw);
}

/// One CSV source being read.
struct CsvSource<'a> {
    index: u32,
    name: &'a str,
    options: &'a CsvOptions,
    newlines: Rc<RefCell<LineBreaks>>,
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
        let start = reader.position().byte();
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
        let line = newlines.borrow_mut().line_of(start);
        let col = match column {
            // A row of blank fields is a blank line.
            _ if is_blank_row(&record, column) => continue,
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
                let fields: Vec<_> = record.iter().map(String::from_utf8_lossy).collect();
                let raw = fields.join(",");
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

/// A row whose fields are all blank (checked only when the URL's field is,
/// which keeps the common case to one look).
fn is_blank_row(record: &csv::ByteRecord, column: Option<usize>) -> bool {
    let url_blank = column.is_none_or(|c| record.get(c).is_none_or(|f| f.trim_ascii().is_empty()));
    url_blank && super::is_blank(record)
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

    /// Gives `data`, then fails once, then ends.
    struct FailsAfter(io::Cursor<Vec<u8>>, bool);

    impl Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.read(buf)? {
                0 if !self.1 => {
                    self.1 = true;
                    Err(io::Error::other("the disk went away"))
                }
                n => Ok(n),
            }
        }
    }

    fn source(name: &str, reader: impl Read + Send + 'static) -> Source {
        Source {
            name: name.into(),
            format: Format::Lines,
            path: None,
            may_block: false,
            reader: Box::new(reader),
        }
    }

    #[test]
    fn a_source_that_fails_is_counted_and_the_next_one_still_read() {
        let stats = Arc::new(Stats::default());
        let (tx, mut rx) = mpsc::channel(16);
        let failing = FailsAfter(
            io::Cursor::new(b"https://a.com/1\nhttps://a.com/2".to_vec()),
            false,
        );
        let job = ReadJob {
            sources: vec![
                source("a.txt", failing),
                source("b.txt", io::Cursor::new(b"https://b.com/1\n".to_vec())),
            ],
            csv: CsvOptions::default(),
            dedup: Dedup::new(),
            resume: None,
            stats: stats.clone(),
            stop: CancellationToken::new(),
        };
        read_all(job, tx).unwrap();
        let mut urls = Vec::new();
        while let Ok(chunk) = rx.try_recv() {
            for item in chunk {
                if let Item::Url(record) = item {
                    urls.push(record.url);
                }
            }
        }
        // What was read before the failure is kept (a line cut short by it
        // is not: it may be a partial URL).
        assert_eq!(urls, ["https://a.com/1", "https://b.com/1"]);
        assert_eq!(stats.input_errors.load(Ordering::Relaxed), 1);
    }

    /// Every record's first field and line, as the csv crate reads `data`
    /// (fed in pieces of `piece` bytes) and [`LineBreaks`] counts.
    fn lines_in_pieces(data: &[u8], piece: usize) -> Vec<(String, u64)> {
        let mut breaks = LineBreaks::default();
        let mut fed = 0;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(data);
        let mut record = csv::ByteRecord::new();
        let mut out = Vec::new();
        loop {
            let start = reader.position().byte();
            if !reader.read_byte_record(&mut record).unwrap() {
                break;
            }
            // Feed as little as a stream could have: up to where the parser stands.
            let end = reader.position().byte() as usize;
            while fed < end {
                let next = (fed + piece).min(data.len());
                breaks.feed(&data[fed..next]);
                fed = next;
            }
            let first = String::from_utf8_lossy(&record[0]).to_string();
            out.push((first, breaks.line_of(start)));
        }
        out
    }

    fn lines(data: &[u8]) -> Vec<(String, u64)> {
        let whole = lines_in_pieces(data, data.len().max(1));
        for piece in [1, 2, 3, 7] {
            assert_eq!(
                lines_in_pieces(data, piece),
                whole,
                "{data:?} in pieces of {piece}"
            );
        }
        whole
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
        // A byte-order mark, which the csv crate drops.
        expect("\u{feff}h\na\n", &[("h", 1), ("a", 2)]);
        // Old Mac line ends (a `\r` alone), and all three mixed.
        expect("h\ra\r\rb\r", &[("h", 1), ("a", 2), ("b", 4)]);
        expect("h\ra\nb\r\nc", &[("h", 1), ("a", 2), ("b", 3), ("c", 4)]);
        expect("\"a\rb\"\rc\r", &[("a\rb", 1), ("c", 3)]);
        // A quote left open at the end: the rest of the file is one record,
        // and it starts where the quote does.
        expect(
            "url\nhttps://a.com/1\n\"https://a.com/2\n\n",
            &[
                ("url", 1),
                ("https://a.com/1", 2),
                ("https://a.com/2\n\n", 3),
            ],
        );
        expect("a\n\n\"b\r\n", &[("a", 1), ("b\r\n", 3)]);
    }
}
