//! Which URLs were seen before, and where: 12 bytes of fingerprint and
//! position per URL, never the string, so memory grows by 16–24 bytes per
//! unique URL whatever the URLs' length.
//!
//! Each URL is hashed with 128-bit XXH3. Twelve bits pick one of 4,096
//! shards; the shard stores 64 more bits (the fingerprint) and the global
//! line number of the first occurrence, in an open-addressing table with
//! linear probing that grows by half when three quarters full. Two different
//! URLs are taken for one only if 75 bits agree: for ten million URLs that
//! happens with probability about 10⁻⁹.
//!
//! Why not a `HashMap`: std's table is 1 control byte plus a 16-byte-aligned
//! entry per slot, grows by doubling (load between 44% and 88%), and holds
//! old and new tables at once while growing — measured 106 MB peak for a
//! million URLs. Small shards that grow by half keep both the load and the
//! transient copy small.

/// Where a URL first appeared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstSeen {
    /// Index of the source among the inputs.
    pub source: u32,
    pub line: u64,
}

const SHARD_BITS: u32 = 12;
const SHARDS: usize = 1 << SHARD_BITS;
const FIRST_CAPACITY: usize = 16;

/// `[fingerprint low, fingerprint high, global line]`; all zero when empty
/// (a fingerprint always has its lowest bit set).
type Slot = [u32; 3];

#[derive(Debug, Clone, Default)]
struct Shard {
    slots: Vec<Slot>,
    len: usize,
}

impl Shard {
    /// The slot holding `key`, or the empty slot where it belongs.
    fn find(&self, key: u64) -> usize {
        let capacity = self.slots.len();
        // Multiply-shift maps the key onto any capacity, not just powers of two.
        let mut i = ((u128::from(key) * capacity as u128) >> 64) as usize;
        let (lo, hi) = (key as u32, (key >> 32) as u32);
        loop {
            let slot = &self.slots[i];
            if (slot[0] == lo && slot[1] == hi) || (slot[0] == 0 && slot[1] == 0) {
                return i;
            }
            i += 1;
            if i == capacity {
                i = 0;
            }
        }
    }

    fn grow(&mut self) {
        let capacity = (self.slots.len() * 3 / 2).max(FIRST_CAPACITY);
        let old = std::mem::replace(&mut self.slots, vec![[0; 3]; capacity]);
        for slot in old.into_iter().filter(|s| s[0] != 0 || s[1] != 0) {
            let key = u64::from(slot[0]) | (u64::from(slot[1]) << 32);
            let i = self.find(key);
            self.slots[i] = slot;
        }
    }
}

/// The URLs seen so far in this run.
#[derive(Debug, Clone)]
pub struct Dedup {
    shards: Vec<Shard>,
    /// Global line number where each source starts (line 1 of source `s`
    /// is `bases[s] + 1`).
    bases: Vec<u64>,
    /// Highest line seen in the last source.
    last_line: u64,
    /// First occurrences beyond the 4,294,967,295th line, kept exactly.
    far: std::collections::HashMap<u128, FirstSeen>,
    len: usize,
}

impl Default for Dedup {
    fn default() -> Self {
        Dedup {
            shards: vec![Shard::default(); SHARDS],
            bases: Vec::new(),
            last_line: 0,
            far: Default::default(),
            len: 0,
        }
    }
}

impl Dedup {
    pub fn new() -> Self {
        Self::default()
    }

    /// The fingerprint of a string.
    pub fn fingerprint(url: &str) -> u128 {
        xxhash_rust::xxh3::xxh3_128(url.as_bytes())
    }

    /// The global line of `(source, line)`; sources come in order.
    fn global_line(&mut self, source: u32, line: u64) -> u64 {
        while self.bases.len() <= source as usize {
            let next = self.bases.last().map_or(0, |b| b + self.last_line);
            self.bases.push(next);
            self.last_line = 0;
        }
        self.last_line = self.last_line.max(line);
        self.bases[source as usize] + line
    }

    fn locate(&self, global: u64) -> FirstSeen {
        let source = self.bases.partition_point(|&b| b < global) - 1;
        FirstSeen {
            source: source as u32,
            line: global - self.bases[source],
        }
    }

    /// Where `url` was first seen, or `None` (and remember it) when it is new.
    pub fn first_or_insert(&mut self, url: &str, source: u32, line: u64) -> Option<FirstSeen> {
        self.first_or_insert_hashed(Self::fingerprint(url), source, line)
    }

    /// Ask the CPU to bring the slot of `hash` into cache, so that the
    /// lookup a moment later does not wait for memory.
    pub fn prefetch(&self, hash: u128) {
        let shard = &self.shards[(hash as usize) & (SHARDS - 1)];
        if shard.slots.is_empty() {
            return;
        }
        let key = ((hash >> 64) as u64) | 1;
        let i = ((u128::from(key) * shard.slots.len() as u128) >> 64) as usize;
        #[cfg(target_arch = "x86_64")]
        // SAFETY: prefetching is a hint that never faults, and `i` is in bounds anyway.
        unsafe {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_T0>(shard.slots.as_ptr().add(i).cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = i;
    }

    /// [`Dedup::first_or_insert`] with the fingerprint already computed.
    pub fn first_or_insert_hashed(
        &mut self,
        hash: u128,
        source: u32,
        line: u64,
    ) -> Option<FirstSeen> {
        let shard = &mut self.shards[(hash as usize) & (SHARDS - 1)];
        let key = ((hash >> 64) as u64) | 1;
        if shard.len * 4 >= shard.slots.len() * 3 {
            shard.grow();
        }
        let i = shard.find(key);
        let slot = shard.slots[i];
        if slot[0] != 0 || slot[1] != 0 {
            let global = slot[2];
            if global == u32::MAX {
                return self.far.get(&hash).copied();
            }
            return Some(self.locate(u64::from(global)));
        }
        let global = self.global_line(source, line);
        let shard = &mut self.shards[(hash as usize) & (SHARDS - 1)];
        let stored = match u32::try_from(global) {
            Ok(g) if g != u32::MAX => g,
            _ => {
                self.far.insert(hash, FirstSeen { source, line });
                u32::MAX
            }
        };
        shard.slots[i] = [key as u32, (key >> 32) as u32, stored];
        shard.len += 1;
        self.len += 1;
        None
    }

    /// Unique URLs seen.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the tables (for the benchmark's accounting).
    pub fn table_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.slots.capacity() * std::mem::size_of::<Slot>())
            .sum()
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
            d.first_or_insert("https://a/x", 1, 12),
            Some(FirstSeen { source: 0, line: 2 })
        );
        // Exact strings: a different case or a trailing slash is another URL.
        assert_eq!(d.first_or_insert("https://A/x", 1, 13), None);
        assert_eq!(d.first_or_insert("https://a/x/", 1, 14), None);
        assert_eq!(d.len(), 4);
    }

    #[test]
    fn many_urls_across_sources_keep_their_first_lines_through_growth() {
        let mut d = Dedup::new();
        let url = |i: u64| format!("https://static.example.com/img/{i:08}.jpg");
        // Three sources of 40,000 lines; line numbers skip like blank lines do.
        for source in 0..3u32 {
            for i in 0..40_000u64 {
                let n = u64::from(source) * 40_000 + i;
                assert_eq!(d.first_or_insert(&url(n), source, 2 * i + 1), None, "{n}");
            }
        }
        assert_eq!(d.len(), 120_000);
        for source in 0..3u32 {
            for i in (0..40_000u64).step_by(997) {
                let n = u64::from(source) * 40_000 + i;
                assert_eq!(
                    d.first_or_insert(&url(n), 3, 1),
                    Some(FirstSeen {
                        source,
                        line: 2 * i + 1
                    })
                );
            }
        }
        // 16–24 bytes of table per URL (12-byte slots, 50–75% full), plus the
        // shards' starting capacity.
        let per_url = d.table_bytes() as f64 / d.len() as f64;
        assert!((16.0..=25.0).contains(&per_url), "{per_url} bytes per URL");
    }

    #[test]
    fn lines_past_four_billion_are_kept_exactly() {
        let mut d = Dedup::new();
        let far = u64::from(u32::MAX) + 10;
        assert_eq!(d.first_or_insert("https://a/far", 0, far), None);
        assert_eq!(
            d.first_or_insert("https://a/far", 0, far + 1),
            Some(FirstSeen {
                source: 0,
                line: far
            })
        );
    }
}
