//! Which URLs were seen before, and where: a fixed-size fingerprint per URL,
//! never the string, so memory grows by a few bytes per unique URL.
//!
//! The fingerprint is the 128-bit XXH3 of the URL: two different URLs share
//! one with probability about n²/2¹²⁹ (10⁻²⁴ for ten million), so a
//! duplicate is never reported for a URL that is not one.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Where a URL first appeared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstSeen {
    /// Index of the source among the inputs.
    pub source: u32,
    pub line: u64,
}

/// The fingerprint is already a hash: use its low bits as the table's hash.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

/// The set of URLs seen so far in this run.
#[derive(Default)]
pub struct Dedup {
    seen: HashMap<u128, FirstSeen, BuildHasherDefault<Identity>>,
}

impl Dedup {
    pub fn new() -> Self {
        Self::default()
    }

    /// The fingerprint of a URL.
    pub fn fingerprint(url: &str) -> u128 {
        xxhash_rust::xxh3::xxh3_128(url.as_bytes())
    }

    /// Where `url` was first seen, or `None` (and remember it) when it is new.
    pub fn first_or_insert(&mut self, url: &str, source: u32, line: u64) -> Option<FirstSeen> {
        match self.seen.entry(Self::fingerprint(url)) {
            std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(FirstSeen { source, line });
                None
            }
        }
    }

    /// Unique URLs seen.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_first_place_only() {
        let mut d = Dedup::new();
        assert_eq!(d.first_or_insert("https://a/x", 0, 2), None);
        assert_eq!(d.first_or_insert("https://a/y", 0, 3), None);
        assert_eq!(
            d.first_or_insert("https://a/x", 1, 9),
            Some(FirstSeen { source: 0, line: 2 })
        );
        assert_eq!(
            d.first_or_insert("https://a/x", 0, 12),
            Some(FirstSeen { source: 0, line: 2 })
        );
        // Exact strings: a different case or a trailing slash is another URL.
        assert_eq!(d.first_or_insert("https://A/x", 0, 13), None);
        assert_eq!(d.first_or_insert("https://a/x/", 0, 14), None);
        assert_eq!(d.len(), 4);
    }
}
