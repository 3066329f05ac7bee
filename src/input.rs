//! Input: CSV or `lines` files (or stdin) → validated, deduplicated records.
//!
//! Reading runs on its own thread and streams: records go out in chunks
//! over a bounded channel, and a chunk is handed over *before* every read
//! from the source, so `tail -f list | cdn-unblock run -` never sits on
//! records that have arrived, and a large file's first batch is on the wire
//! after its first few kilobytes. Every record ends up as either a URL to
//! send or a settled row (`invalid`, `duplicate`): nothing is dropped.
//!
//! A URL is trimmed, checked with the `url` crate (http/https, a host) and
//! then sent exactly as written: the CDN matches the blocked string, so it is
//! never normalised.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::dedup::Dedup;
use crate::report::{Row, Status};
use crate::resume::Resume;
use crate::stats::Stats;

/// Where URLs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input (`-` or no INPUT).
    Stdin,
    /// Files, read one after the other.
    Files(Vec<PathBuf>),
    /// Bytes built into the binary (the demo's sample), under a display name.
    Embedded {
        name: &'static str,
        data: &'static [u8],
    },
}

/// `--input-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// `.csv` files are CSV, everything else (and stdin) is `lines`.
    Auto,
    /// Comma-separated values, with a header row unless `--no-header`.
    Csv,
    /// One URL per line; blank lines and `#` comments are skipped.
    Lines,
}

/// `--column`: a header name (any case) or a 1-based index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    Name(String),
    Index(usize),
}

impl std::str::FromStr for Column {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().parse::<usize>() {
            Ok(0) => Err("column numbers start at 1".into()),
            Ok(n) => Ok(Column::Index(n)),
            Err(_) if s.trim().is_empty() => Err("the column name is empty".into()),
            Err(_) => Ok(Column::Name(s.trim().to_string())),
        }
    }
}

/// How to read CSV input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CsvOptions {
    pub column: Option<Column>,
    pub no_header: bool,
}

/// The concrete format of one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Lines,
}

impl Format {
    /// What `--input-format` means for a source with this name.
    pub fn resolve(requested: InputFormat, name: &str, is_stdin: bool) -> Format {
        match requested {
            InputFormat::Csv => Format::Csv,
            InputFormat::Lines => Format::Lines,
            InputFormat::Auto if is_stdin => Format::Lines,
            InputFormat::Auto => {
                let csv = Path::new(name)
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
                if csv { Format::Csv } else { Format::Lines }
            }
        }
    }
}

/// An opened source, ready to be read.
pub struct Source {
    /// The report's `source`: the path as given, or `-`.
    pub name: Arc<str>,
    pub format: Format,
    /// The file, when it is one (for counting lines alongside).
    pub path: Option<PathBuf>,
    reader: Box<dyn Read + Send>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("format", &self.format)
            .finish()
    }
}

/// An input problem found before any call: exit 2.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read input `{}`: {source}", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("`{}` is a directory, not a file of URLs", .0.display())]
    Directory(PathBuf),
    #[error("{name}: there is no column `{column}` in the header (columns: {available})")]
    NoSuchColumn {
        name: String,
        column: String,
        available: String,
    },
    #[error("--column {0}: a column name needs a header row; with --no-header give a number")]
    NameWithoutHeader(String),
}

/// Open every input now, so an unreadable file stops the run before any call.
pub fn open(input: &Input, format: InputFormat) -> Result<Vec<Source>, InputError> {
    match input {
        Input::Stdin => Ok(vec![Source {
            name: Arc::from("-"),
            format: Format::resolve(format, "-", true),
            path: None,
            reader: Box::new(io::stdin()),
        }]),
        Input::Embedded { name, data } => Ok(vec![Source {
            name: Arc::from(*name),
            format: Format::resolve(format, name, false),
            path: None,
            reader: Box::new(*data),
        }]),
        Input::Files(paths) => paths
            .iter()
            .map(|path| {
                if path.as_os_str() == "-" {
                    return Ok(Source {
                        name: Arc::from("-"),
                        format: Format::resolve(format, "-", true),
                        path: None,
                        reader: Box::new(io::stdin()),
                    });
                }
                if path.is_dir() {
                    return Err(InputError::Directory(path.clone()));
                }
                let file = File::open(path).map_err(|source| InputError::Unreadable {
                    path: path.clone(),
                    source,
                })?;
                let name = path.to_string_lossy();
                Ok(Source {
                    format: Format::resolve(format, &name, false),
                    name: Arc::from(crate::client::one_line(&name)),
                    path: Some(path.clone()),
                    reader: Box::new(file),
                })
            })
            .collect(),
    }
}

/// Why a record is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    Empty,
    Scheme(String),
    NoHost(String),
    Parse(String),
    Encoding,
    Csv(String),
}

impl Invalid {
    /// The report's `error_code`.
    pub fn code(&self) -> &'static str {
        match self {
            Invalid::Empty => "InvalidUrl.Empty",
            Invalid::Scheme(_) => "InvalidUrl.Scheme",
            Invalid::NoHost(_) => "InvalidUrl.NoHost",
            Invalid::Parse(_) => "InvalidUrl.Parse",
            Invalid::Encoding => "InvalidUrl.Encoding",
            Invalid::Csv(_) => "InvalidCsv",
        }
    }

    /// The report's `error_message`.
    pub fn message(&self) -> String {
        match self {
            Invalid::Empty => "the URL is empty".into(),
            Invalid::Scheme(m) | Invalid::NoHost(m) | Invalid::Parse(m) | Invalid::Csv(m) => {
                m.clone()
            }
            Invalid::Encoding => "the record is not valid UTF-8".into(),
        }
    }
}

/// Check a trimmed URL: `http://` or `https://`, parseable, with a host.
/// The URL itself is not changed.
pub fn validate(url: &str) -> Result<(), Invalid> {
    if url.is_empty() {
        return Err(Invalid::Empty);
    }
    if let Some((i, c)) = url
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || c.is_control())
    {
        return Err(Invalid::Parse(format!(
            "contains {} at byte {i}: URLs must be percent-encoded",
            if c.is_control() {
                "a control character"
            } else {
                "whitespace"
            }
        )));
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(Invalid::Scheme(match url.split_once("://") {
            Some((scheme, _)) if !scheme.is_empty() => {
                format!("scheme `{scheme}` is not http or https")
            }
            _ => "no scheme: a URL must start with http:// or https://".into(),
        }));
    }
    match url::Url::parse(url) {
        Ok(parsed) if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        Ok(_) | Err(url::ParseError::EmptyHost) => {
            Err(Invalid::NoHost("the URL has no host".into()))
        }
        Err(e) => Err(Invalid::Parse(format!("not a valid URL: {e}"))),
    }
}

/// A URL to send, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub source: Arc<str>,
    /// 1-based line where the record starts.
    pub line: u64,
    /// Trimmed, exactly as written.
    pub url: String,
}

/// What the reader produces for each record.
#[derive(Debug, Clone)]
pub enum Item {
    Url(Record),
    /// A record settled without a call: `invalid` or `duplicate`.
    Settled(Row),
}

/// Records per chunk at most (a chunk also goes out before every read).
const CHUNK: usize = 1024;
/// The reader's buffer.
const READ_BUFFER: usize = 64 * 1024;

/// Collects items and hands them to the channel in chunks.
struct Sink {
    chunk: Vec<Item>,
    tx: mpsc::Sender<Vec<Item>>,
    stop: CancellationToken,
    open: bool,
}

impl Sink {
    fn push(&mut self, item: Item) {
        self.chunk.push(item);
        if self.chunk.len() >= CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
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
}

/// The byte offsets of the newlines read so far and not yet passed, to
/// tell a CSV record's line from its byte offset.
///
/// The `csv` crate's own line numbers run one behind after a CRLF (it
/// counts the `\n` of `\r\n` as part of the next record), so lines are
/// counted here: a record starting at byte `b` is on line 1 + the number of
/// newlines at offsets `<= b` (with CRLF, `b` is the offset of that `\n`).
#[derive(Debug, Default)]
struct NewlineIndex {
    pending: std::collections::VecDeque<u64>,
    fed: u64,
    passed: u64,
}

impl NewlineIndex {
    fn feed(&mut self, data: &[u8]) {
        let base = self.fed;
        self.pending
            .extend(memchr::memchr_iter(b'\n', data).map(|i| base + i as u64));
        self.fed += data.len() as u64;
    }

    fn line_at(&mut self, byte: u64) -> u64 {
        while self.pending.front().is_some_and(|&nl| nl <= byte) {
            self.pending.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }
}

/// A reader that hands over the pending chunk before it may block (and,
/// for CSV, notes where the newlines are).
struct FlushBeforeRead<R> {
    inner: R,
    sink: Rc<RefCell<Sink>>,
    newlines: Option<Rc<RefCell<NewlineIndex>>>,
}

impl<R: Read> Read for FlushBeforeRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let open = {
            let mut sink = self.sink.borrow_mut();
            sink.flush();
            sink.open
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

/// Turns raw records into items: validation and dedup.
struct Classifier<'a> {
    dedup: &'a mut Dedup,
    resume: Option<&'a Resume>,
    stats: &'a Stats,
    sources: Vec<Arc<str>>,
}

impl Classifier<'_> {
    fn settled(
        source: &Arc<str>,
        line: u64,
        url: String,
        status: Status,
        code: Option<&str>,
        message: String,
    ) -> Item {
        Item::Settled(Row {
            source: source.clone(),
            line,
            url,
            status,
            error_code: code.map(str::to_string),
            error_message: Some(message),
            task_id: None,
            request_id: None,
            attempts: 0,
            finished_at: crate::report::now_rfc3339(),
        })
    }

    /// A resumed report already holds this record's `invalid` or `duplicate`
    /// row: count it, write nothing.
    fn already_settled(&self, source: &str, line: u64, url: &str, status: Status) -> bool {
        let settled = self
            .resume
            .is_some_and(|r| r.already_settled(source, line, url, status));
        if settled {
            self.stats.count(status);
        }
        settled
    }

    fn invalid(&self, source: &Arc<str>, line: u64, url: String, why: Invalid) -> Option<Item> {
        let url = crate::client::one_line(&url);
        if self.already_settled(source, line, &url, Status::Invalid) {
            return None;
        }
        Some(Self::settled(
            source,
            line,
            url,
            Status::Invalid,
            Some(why.code()),
            why.message(),
        ))
    }

    /// One record: a URL to send, a settled row, or nothing (its final
    /// status is already in a resumed report).
    fn classify(&mut self, source_index: u32, line: u64, raw: Result<&str, &[u8]>) -> Option<Item> {
        self.stats.records.fetch_add(1, Ordering::Relaxed);
        let source = self.sources[source_index as usize].clone();
        let text = match raw {
            Ok(text) => text.trim(),
            Err(bytes) => {
                let lossy = String::from_utf8_lossy(bytes).trim().to_string();
                return self.invalid(&source, line, lossy, Invalid::Encoding);
            }
        };
        if let Err(why) = validate(text) {
            return self.invalid(&source, line, text.to_string(), why);
        }
        if let Some(first) = self.dedup.first_or_insert(text, source_index, line) {
            if self.already_settled(&source, line, text, Status::Duplicate) {
                return None;
            }
            let message = if first.source == source_index {
                format!("same URL as line {}", first.line)
            } else {
                format!(
                    "same URL as line {} of {}",
                    first.line, self.sources[first.source as usize]
                )
            };
            return Some(Self::settled(
                &source,
                line,
                text.to_string(),
                Status::Duplicate,
                None,
                message,
            ));
        }
        if self.resume.is_some_and(|r| r.is_done(text)) {
            self.stats.already_done.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(Item::Url(Record {
            source,
            line,
            url: text.to_string(),
        }))
    }
}

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

/// Read every source in order, sending item chunks to `tx`. Runs on a plain
/// thread (it blocks on reads). Returns the first setup problem found in a
/// CSV header (a `--column` that is not there).
pub fn read_all(job: ReadJob, tx: mpsc::Sender<Vec<Item>>) -> Result<(), InputError> {
    let ReadJob {
        sources,
        csv,
        mut dedup,
        resume,
        stats,
        stop,
    } = job;
    let sink = Rc::new(RefCell::new(Sink {
        chunk: Vec::with_capacity(CHUNK),
        tx,
        stop,
        open: true,
    }));
    let names: Vec<Arc<str>> = sources.iter().map(|s| s.name.clone()).collect();
    let mut classifier = Classifier {
        dedup: &mut dedup,
        resume: resume.as_deref(),
        stats: &stats,
        sources: names,
    };
    for (index, source) in sources.into_iter().enumerate() {
        let name = source.name.clone();
        let newlines = (source.format == Format::Csv).then(Rc::default);
        let reader = FlushBeforeRead {
            inner: source.reader,
            sink: sink.clone(),
            newlines: newlines.clone(),
        };
        let result = match (source.format, newlines) {
            (Format::Csv, Some(newlines)) => {
                let csv_source = CsvSource {
                    index: index as u32,
                    name: &name,
                    options: &csv,
                    newlines,
                };
                read_csv(reader, csv_source, &mut classifier, &sink)
            }
            _ => read_lines(reader, index as u32, &mut classifier, &sink),
        };
        if let Err(e) = result {
            match e {
                ReadError::Setup(e) => return Err(e),
                ReadError::Io(e) => {
                    tracing::error!(event = "input_error", source = %name, "stopped reading {name}: {e}");
                    stats.input_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if !sink.borrow().open {
            break;
        }
    }
    sink.borrow_mut().flush();
    Ok(())
}

enum ReadError {
    Setup(InputError),
    Io(io::Error),
}

fn read_lines<R: Read>(
    reader: R,
    index: u32,
    classifier: &mut Classifier<'_>,
    sink: &Rc<RefCell<Sink>>,
) -> Result<(), ReadError> {
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
        if let Some(item) = classifier.classify(index, line, raw) {
            sink.borrow_mut().push(item);
        }
    }
}

/// Which column holds the URL, decided on the first row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ColumnChoice {
    /// 0-based.
    index: usize,
    /// Whether the first row is a header (and not data).
    header: bool,
    /// Something worth telling the user about the choice.
    note: Option<String>,
}

fn pick_column(
    first: &csv::ByteRecord,
    name: &str,
    options: &CsvOptions,
) -> Result<ColumnChoice, InputError> {
    let field = |i: usize| -> String {
        String::from_utf8_lossy(first.get(i).unwrap_or_default())
            .trim()
            .to_string()
    };
    let names: Vec<String> = (0..first.len()).map(field).collect();
    let choice = |index, header, note| {
        Ok(ColumnChoice {
            index,
            header,
            note,
        })
    };
    if options.no_header {
        return match &options.column {
            Some(Column::Name(n)) => Err(InputError::NameWithoutHeader(n.clone())),
            Some(Column::Index(i)) => choice(i - 1, false, None),
            None => choice(0, false, None),
        };
    }
    match &options.column {
        Some(Column::Name(wanted)) => names
            .iter()
            .position(|n| n == wanted)
            .or_else(|| names.iter().position(|n| n.eq_ignore_ascii_case(wanted)))
            .map(|i| ColumnChoice {
                index: i,
                header: true,
                note: None,
            })
            .ok_or_else(|| InputError::NoSuchColumn {
                name: name.to_string(),
                column: wanted.clone(),
                available: names.join(", "),
            }),
        // An explicit number: the first row is a header unless it holds a URL there.
        Some(Column::Index(i)) => choice(i - 1, validate(&field(i - 1)).is_err(), None),
        None => {
            if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case("url")) {
                return choice(i, true, None);
            }
            // No `url` header: column 1. If its first value is a URL, the
            // file has no header at all, and that row is data.
            if validate(&field(0)).is_ok() {
                choice(
                    0,
                    false,
                    Some(format!(
                        "{name}: line 1 holds a URL, so it is read as data, not as a header (pass --no-header to say so)"
                    )),
                )
            } else {
                choice(
                    0,
                    true,
                    Some(format!(
                        "{name}: no `url` column in the header; reading URLs from column 1 (`{}`); use --column to pick another",
                        names.first().map(String::as_str).unwrap_or("")
                    )),
                )
            }
        }
    }
}

/// Check the header of every CSV file now, so a wrong `--column` stops the
/// run before any call (stdin's header is checked when it arrives).
pub fn check_headers(sources: &[Source], options: &CsvOptions) -> Result<(), InputError> {
    for source in sources.iter().filter(|s| s.format == Format::Csv) {
        let Some(path) = &source.path else { continue };
        let file = File::open(path).map_err(|e| InputError::Unreadable {
            path: path.clone(),
            source: e,
        })?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(file);
        let mut first = csv::ByteRecord::new();
        if reader.read_byte_record(&mut first).unwrap_or(false) {
            pick_column(&first, &source.name, options)?;
        }
    }
    Ok(())
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
    classifier: &mut Classifier<'_>,
    sink: &Rc<RefCell<Sink>>,
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
        let byte = record.position().map_or(0, |p| p.byte());
        let line = newlines.borrow_mut().line_at(byte);
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
        let item = match record.get(col) {
            None => {
                classifier.stats.records.fetch_add(1, Ordering::Relaxed);
                let source = classifier.sources[index as usize].clone();
                let raw = String::from_utf8_lossy(record.as_slice()).to_string();
                classifier.invalid(
                    &source,
                    line,
                    raw,
                    Invalid::Csv(format!(
                        "the row has {} field(s); the URL is in column {}",
                        record.len(),
                        col + 1
                    )),
                )
            }
            Some(field) if field.contains(&b'\n') || field.contains(&b'\r') => {
                classifier.stats.records.fetch_add(1, Ordering::Relaxed);
                let source = classifier.sources[index as usize].clone();
                let raw = String::from_utf8_lossy(field).to_string();
                classifier.invalid(
                    &source,
                    line,
                    raw,
                    Invalid::Csv(
                        "a quoted field runs over several lines (an unbalanced quote?)".into(),
                    ),
                )
            }
            Some(field) => {
                classifier.classify(index, line, std::str::from_utf8(field).map_err(|_| field))
            }
        };
        if let Some(item) = item {
            sink.borrow_mut().push(item);
        }
    }
}

/// A job that counts the input's lines (for a progress bar's total), when
/// the input can be read twice: files and the built-in sample, not stdin.
pub type LineCounter = Box<dyn FnOnce() -> io::Result<u64> + Send>;

pub fn line_counter(input: &Input) -> Option<LineCounter> {
    match input {
        Input::Stdin => None,
        Input::Files(paths) if paths.iter().any(|p| p.as_os_str() == "-") => None,
        Input::Files(paths) => {
            let paths = paths.clone();
            Some(Box::new(move || count_lines(&paths)))
        }
        Input::Embedded { data, .. } => {
            let data: &'static [u8] = data;
            Some(Box::new(move || {
                let newlines = memchr::memchr_iter(b'\n', data).count() as u64;
                Ok(newlines + u64::from(!data.is_empty() && !data.ends_with(b"\n")))
            }))
        }
    }
}

/// Count the lines of `paths`.
pub fn count_lines(paths: &[PathBuf]) -> io::Result<u64> {
    let mut total = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    for path in paths {
        let mut file = File::open(path)?;
        let mut last = b'\n';
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
            last = buf[n - 1];
        }
        if last != b'\n' {
            total += 1;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_problem() {
        assert_eq!(validate("https://example.com/a.jpg"), Ok(()));
        assert_eq!(validate("http://example.com:8080/a?b=c#d"), Ok(()));
        assert_eq!(validate("HTTPS://Example.com/A"), Ok(()));
        assert_eq!(validate("http://[::1]/x"), Ok(()));
        assert_eq!(validate("").unwrap_err().code(), "InvalidUrl.Empty");
        assert_eq!(
            validate("ftp://example.com/x").unwrap_err().code(),
            "InvalidUrl.Scheme"
        );
        assert!(
            validate("ftp://example.com/x")
                .unwrap_err()
                .message()
                .contains("`ftp`")
        );
        assert_eq!(
            validate("example.com/x").unwrap_err().code(),
            "InvalidUrl.Scheme"
        );
        assert_eq!(
            validate("https:example.com").unwrap_err().code(),
            "InvalidUrl.Scheme"
        );
        assert_eq!(validate("http://").unwrap_err().code(), "InvalidUrl.NoHost");
        assert_eq!(
            validate("http://:80/x").unwrap_err().code(),
            "InvalidUrl.NoHost"
        );
        assert_eq!(
            validate("http://exa mple.com/").unwrap_err().code(),
            "InvalidUrl.Parse"
        );
        assert_eq!(
            validate("http://a.com/x\ty").unwrap_err().code(),
            "InvalidUrl.Parse"
        );
        assert_eq!(
            validate("http://a.com:99999/").unwrap_err().code(),
            "InvalidUrl.Parse"
        );
        assert_eq!(
            validate("http://a..b%/").unwrap_err().code(),
            "InvalidUrl.Parse"
        );
    }

    #[test]
    fn formats_resolve_by_extension() {
        assert_eq!(
            Format::resolve(InputFormat::Auto, "a.csv", false),
            Format::Csv
        );
        assert_eq!(
            Format::resolve(InputFormat::Auto, "A.CSV", false),
            Format::Csv
        );
        assert_eq!(
            Format::resolve(InputFormat::Auto, "a.txt", false),
            Format::Lines
        );
        assert_eq!(Format::resolve(InputFormat::Auto, "-", true), Format::Lines);
        assert_eq!(Format::resolve(InputFormat::Csv, "-", true), Format::Csv);
        assert_eq!(
            Format::resolve(InputFormat::Lines, "a.csv", false),
            Format::Lines
        );
    }

    #[test]
    fn columns_parse_as_names_or_numbers() {
        assert_eq!("2".parse::<Column>(), Ok(Column::Index(2)));
        assert_eq!("Url".parse::<Column>(), Ok(Column::Name("Url".into())));
        assert!("0".parse::<Column>().is_err());
        assert!(" ".parse::<Column>().is_err());
    }

    #[test]
    fn newline_index_gives_record_lines_for_lf_and_crlf() {
        // (input, the start byte the csv crate reports for each record, lines)
        let cases: [(&[u8], &[u64], &[u64]); 3] = [
            (b"h\na\nb\n", &[0, 2, 4], &[1, 2, 3]),
            (b"h\r\na\r\nb\r\n", &[0, 2, 5], &[1, 2, 3]),
            (b"h\n\n\"x\ny\"\nb\n", &[0, 2, 9], &[1, 3, 5]),
        ];
        for (input, starts, lines) in cases {
            let mut index = NewlineIndex::default();
            index.feed(&input[..3]);
            index.feed(&input[3..]);
            let got: Vec<u64> = starts.iter().map(|b| index.line_at(*b)).collect();
            assert_eq!(got, lines, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn counts_lines_with_or_without_a_final_newline() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, "x\ny\nz").unwrap();
        let b = dir.path().join("b");
        std::fs::write(&b, "x\ny\n").unwrap();
        assert_eq!(count_lines(&[a, b]).unwrap(), 5);
    }
}
