//! Is a record a URL this tool can send? The `url` crate decides.
//!
//! A record must be `http://` or `https://` (any case), free of whitespace
//! and control characters, and parse with the `url` crate with a host. It is
//! only checked, never rewritten: the API gets the string as written.
//!
//! Parsing every URL of a ten-million-line list costs more than everything
//! else the reader does, so [`Validator`] asks the `url` crate once per
//! *authority* (`https://host:port`). For `http(s)` URLs that is the same
//! verdict: after the authority, the URL standard's path, query and
//! fragment states percent-encode what they meet and never fail, so a URL
//! is valid exactly when `scheme://authority/` is. (URLs whose authority is
//! empty, like `http:///host`, are parsed whole.) The test
//! `memoized_verdicts_equal_the_url_crates` pins the equivalence.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

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
    check_characters(url)?;
    scheme_length(url)?;
    parse(url)
}

/// No whitespace or control characters anywhere: a URL on the wire is
/// percent-encoded. ASCII is checked byte by byte; other characters by
/// their Unicode properties.
fn check_characters(url: &str) -> Result<(), Invalid> {
    let bad = |c: char| c.is_whitespace() || c.is_control();
    // Branch-free so that it vectorises: most URLs are plain ASCII.
    let mut odd = 0u8;
    for b in url.bytes() {
        odd |= u8::from((b <= b' ') | (b >= 0x7f));
    }
    let found = if odd == 0 {
        None
    } else {
        url.char_indices().find(|(_, c)| bad(*c))
    };
    match found {
        None => Ok(()),
        Some((i, c)) => Err(Invalid::Parse(format!(
            "contains {} at byte {i}: URLs must be percent-encoded",
            if c.is_control() {
                "a control character"
            } else {
                "whitespace"
            }
        ))),
    }
}

/// The length of `http://` or `https://` (any case) at the start.
fn scheme_length(url: &str) -> Result<usize, Invalid> {
    if url.starts_with("https://") {
        return Ok(8);
    }
    if url.starts_with("http://") {
        return Ok(7);
    }
    let head = url.as_bytes();
    let starts = |prefix: &[u8]| {
        head.len() >= prefix.len() && head[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    if starts(b"http://") {
        return Ok(7);
    }
    if starts(b"https://") {
        return Ok(8);
    }
    Err(Invalid::Scheme(match url.split_once("://") {
        Some((scheme, _)) if !scheme.is_empty() => {
            format!("scheme `{scheme}` is not http or https")
        }
        // `http:example.com`, `https:/x`: the url crate would take these,
        // but the CDN matches the URL as written, with its `//`.
        _ if starts(b"http:") || starts(b"https:") => {
            "a URL must start with http:// or https://, with two slashes".into()
        }
        _ => "no scheme: a URL must start with http:// or https://".into(),
    }))
}

/// The `url` crate's verdict.
fn parse(url: &str) -> Result<(), Invalid> {
    match url::Url::parse(url) {
        Ok(parsed) if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        Ok(_) | Err(url::ParseError::EmptyHost) => {
            Err(Invalid::NoHost("the URL has no host".into()))
        }
        Err(e) => Err(Invalid::Parse(format!("not a valid URL: {e}"))),
    }
}

/// [`validate`], memoized per authority.
#[derive(Debug)]
pub struct Validator {
    /// Keyed by the XXH3 of the authority (the map's own hasher is the
    /// identity); the authority is kept to confirm a hit.
    authorities: HashMap<u64, Verdict, BuildHasherDefault<Identity>>,
}

/// An authority and whether URLs with it are valid.
type Verdict = (Box<str>, Result<(), Invalid>);

/// The key is already a hash.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Default for Validator {
    fn default() -> Self {
        Self::new()
    }
}

impl Validator {
    /// Authorities remembered at most (a list usually has a handful).
    pub const CAPACITY: usize = 4096;
    /// Longer authorities are parsed every time.
    const LONGEST: usize = 255;

    pub fn new() -> Self {
        Validator {
            authorities: HashMap::default(),
        }
    }

    /// The same verdict as [`validate`].
    pub fn check(&mut self, url: &str) -> Result<(), Invalid> {
        if url.is_empty() {
            return Err(Invalid::Empty);
        }
        check_characters(url)?;
        let start = scheme_length(url)?;
        let end = url.as_bytes()[start..]
            .iter()
            .position(|b| matches!(b, b'/' | b'?' | b'#' | b'\\'))
            .map_or(url.len(), |i| start + i);
        if end == start || end - start > Self::LONGEST {
            return parse(url);
        }
        let key = &url[..end];
        let hash = xxhash_rust::xxh3::xxh3_64(key.as_bytes());
        match self.authorities.get(&hash) {
            Some((known, verdict)) if **known == *key => verdict.clone(),
            Some(_) => parse(url), // a hash collision: rare enough to just parse
            None => {
                let verdict = parse(&format!("{key}/"));
                if self.authorities.len() < Self::CAPACITY {
                    self.authorities.insert(hash, (key.into(), verdict.clone()));
                }
                verdict
            }
        }
    }
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
        for slashless in ["https:example.com", "HTTP:/example.com/a", "http:\\\\x.com"] {
            let why = validate(slashless).unwrap_err();
            assert_eq!(why.code(), "InvalidUrl.Scheme", "{slashless}");
            assert!(why.message().contains("two slashes"), "{slashless}");
        }
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

    /// Awkward URLs: ports, IP literals, IDNA, userinfo, backslashes, extra
    /// slashes, percent signs, numbers that look like IPv4.
    const AWKWARD: &[&str] = &[
        "https://example.com/a.jpg",
        "https://example.com",
        "https://example.com?x=1",
        "https://example.com#top",
        "HTTP://EXAMPLE.COM/A",
        "http://example.com:8080/a",
        "http://example.com:/a",
        "http://example.com:99999/a",
        "http://example.com:80x/a",
        "http://127.0.0.1/a",
        "http://1.2.3.4/a",
        "http://1.2.3.999/a",
        "http://999.1/a",
        "http://0x7f.1/a",
        "http://example.123/a",
        "http://[::1]:8080/a",
        "http://[::1/a",
        "http://[zz::1]/a",
        "http://xn--bcher-kva.example/a",
        "http://xn--zz.example/a",
        "http://bücher.example/a",
        "http://a..b/a",
        "http://a..b%/a",
        "http://a%2eb/a",
        "http://a%zzb/a",
        "http://user:pass@example.com/a",
        "http://@example.com/a",
        "http://user@/a",
        "http://example.com\\a\\b",
        "http://\\example.com/a",
        "http:///example.com/a",
        "http:////a",
        "http://",
        "http://:80/a",
        "http://exa_mple.com/a",
        "http://example.com/%zz/ü/a b",
        "http://-example-.com/a",
        "http://a<b.com/a",
        "http://a^b.com/a",
        "http://a|b.com/a",
        "https://static.example.com/resize/w=300,h=200/a.jpg",
    ];

    #[test]
    fn memoized_verdicts_equal_the_url_crates() {
        let mut v = Validator::new();
        for round in 0..2 {
            for url in AWKWARD {
                assert_eq!(v.check(url), validate(url), "{url} (round {round})");
            }
            // The same authorities with other paths, now from the memo.
            for url in AWKWARD {
                let other = format!("{url}/more/path?q=1#f");
                assert_eq!(v.check(&other), validate(&other), "{other}");
            }
        }
        assert!(!v.authorities.is_empty());
    }

    #[test]
    fn the_memo_stops_growing_at_its_capacity() {
        let mut v = Validator::new();
        for i in 0..Validator::CAPACITY + 10 {
            let url = format!("https://h{i}.example.com/x");
            assert_eq!(v.check(&url), Ok(()));
        }
        assert_eq!(v.authorities.len(), Validator::CAPACITY);
        assert_eq!(v.check("https://h1.example.com/y"), Ok(()));
    }
}
