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

mod reader;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::report::Row;
pub use crate::validate::{Invalid, Validator, validate};
pub use reader::{ReadJob, read_all};

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
    /// A read may wait for more input (stdin, a pipe, a FIFO): everything
    /// read so far is handed over before each read.
    pub may_block: bool,
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
    let stdin = || Source {
        name: Arc::from("-"),
        format: Format::resolve(format, "-", true),
        path: None,
        // `run - < list.txt` reads a file: no need to hand records over before each read.
        may_block: !std::fs::metadata("/dev/stdin").is_ok_and(|m| m.is_file()),
        reader: Box::new(io::stdin()),
    };
    match input {
        Input::Stdin => Ok(vec![stdin()]),
        Input::Embedded { name, data } => Ok(vec![Source {
            name: Arc::from(*name),
            format: Format::resolve(format, name, false),
            path: None,
            may_block: false,
            reader: Box::new(*data),
        }]),
        Input::Files(paths) => paths
            .iter()
            .map(|path| {
                if path.as_os_str() == "-" {
                    return Ok(stdin());
                }
                if path.is_dir() {
                    return Err(InputError::Directory(path.clone()));
                }
                let unreadable = |source| InputError::Unreadable {
                    path: path.clone(),
                    source,
                };
                let file = File::open(path).map_err(unreadable)?;
                let is_file = file.metadata().map_err(unreadable)?.is_file();
                let name = path.to_string_lossy();
                Ok(Source {
                    format: Format::resolve(format, &name, false),
                    name: Arc::from(crate::client::one_line(&name)),
                    path: Some(path.clone()),
                    // A pipe or a FIFO can keep a reader waiting; a file cannot.
                    may_block: !is_file,
                    reader: Box::new(file),
                })
            })
            .collect(),
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
    Settled(Box<Row>),
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
        Some(Column::Index(i)) => choice(i - 1, !looks_like_a_url(&field(i - 1)), None),
        None => {
            if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case("url")) {
                return choice(i, true, None);
            }
            // No `url` header: column 1. If its first value is a URL (even
            // a mistyped one), the file has no header at all, and that row
            // is data, with a row of its own in the report.
            if looks_like_a_url(&field(0)) {
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

/// Whether a first-row value is a URL, or an attempt at one, rather than a
/// column name: `https://…`, `htps://…`, `www.example.com/x` are; `url`,
/// `Link`, `Blocked URL` are not. A mistyped URL on line 1 is thus reported
/// as invalid instead of being taken for a header and dropped.
fn looks_like_a_url(value: &str) -> bool {
    value.contains(['/', ':', '.'])
}

/// A CSV record whose fields are all blank: skipped like a blank line.
pub(crate) fn is_blank(record: &csv::ByteRecord) -> bool {
    record.iter().all(|field| field.trim_ascii().is_empty())
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
        while reader.read_byte_record(&mut first).unwrap_or(false) {
            if !is_blank(&first) {
                pick_column(&first, &source.name, options)?;
                break;
            }
        }
    }
    Ok(())
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
    fn counts_lines_with_or_without_a_final_newline() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, "x\ny\nz").unwrap();
        let b = dir.path().join("b");
        std::fs::write(&b, "x\ny\n").unwrap();
        assert_eq!(count_lines(&[a, b]).unwrap(), 5);
    }
}
