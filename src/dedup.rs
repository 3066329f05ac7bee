//! Which URLs were seen before, and where: 12 bytes of fingerprint and
//! position per URL, never the string, so memory grows by 16–24 bytes per
//! unique URL whatever the URLs' length.
//!
//! Each URL is hashed with 128-bit XXH3. Eight bits pick one of 256
//! shards; the shard stores 64 more bits (the fingerprint) and the global
//! line number of the first occurrence, in an open-addressing table with
//! linear probing that grows by half when three quarters full. Two different
//! URLs are taken for one only if 71 bits agree: for ten million URLs that
//! happens with probability about 2·10⁻⁸.
//!
//! Lookups come in blocks ([`Dedup::first_or_insert_block`]), taken shard by
//! shard: ten million URLs make a table of 230 MB, and one random lookup
//! after another waits for memory and misses the TLB each time, while a
//! block's lookups into one shard share its cache lines and page-table
//! entries. Equal URLs always share a shard, and each shard sees its URLs in
//! input order, so the first occurrence still wins.
//!
//! Why not a `HashMap`: std's table is 1 control byte plus a 16-byte-aligned
//! entry per slot, grows by doubling (load between 44% and 88%), and holds
//! old and new tables at once while growing — measured 106 MB peak for a
//! million URLs. Shards that grow by half, one after another, keep both the
//! load and the transient copy small.

/// How many lookups ahead a slot is prefetched within a block.
const PREFETCH_AHEAD: usize = 8;

fn shard_of(hash: u128) -> usize {
    (hash as usize) & (SHARDS - 1)
}

/// Where a URL first appeared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstSeen {
    /// Index of the source among the inputs.
    pub source: u32,
    pub line: u64,
}

const SHARD_BITS: u32 = 8;
const SHARDS: usize = 1 << SHARD_BITS;
const FIRST_CAPACITY: usize = 16;

/// `[fingerprint low, fingerprint high, global line]`; all zero when empty
/// (a fingerprint always has its lowest bit set).
type Slot = [u32; 3];

#[derive(Debug, Clone, Default)]
struct Shard {
    slots: Vec<Slot>,
    len: usize,
    /// The capacity of the first table: different for every shard (see
    /// [`Dedup::default`]).
    first: usize,
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
        let capacity = (self.slots.len() * 3 / 2).max(self.first);
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
            // Tables grow by half when three quarters full, so one table
            // swings between 50% and 75% full: 16 to 24 bytes per URL. If
            // all shards grew at the same moment, so would the whole (and
            // it would often sit at 24). Starting sizes spread evenly over
            // one growth step (×1.5^(s/256)) make the shards grow one after
            // another, and the whole stays near the average: ~20 bytes.
            shards: (0..SHARDS)
                .map(|s| Shard {
                    first: (FIRST_CAPACITY as f64 * 1.5f64.powf(s as f64 / SHARDS as f64)).round()
                        as usize,
                    ..Shard::default()
                })
                .collect(),
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

    /// [`Dedup::first_or_insert`] for many URLs at once (by fingerprint,
    /// source and line, in input order), answered in the same order.
    pub fn first_or_insert_block(&mut self, block: &[(u128, u32, u64)]) -> Vec<Option<FirstSeen>> {
        let globals: Vec<u64> = block
            .iter()
            .map(|&(_, source, line)| self.global_line(source, line))
            .collect();
        // Counting sort by shard; stable, so each shard sees input order.
        let mut starts = [0usize; SHARDS + 1];
        for (hash, _, _) in block {
            starts[shard_of(*hash) + 1] += 1;
        }
        for i in 0..SHARDS {
            starts[i + 1] += starts[i];
        }
        let mut order = vec![0u32; block.len()];
        for (i, (hash, _, _)) in block.iter().enumerate() {
            let next = &mut starts[shard_of(*hash)];
            order[*next] = i as u32;
            *next += 1;
        }
        let mut answers = vec![None; block.len()];
        for (n, &i) in order.iter().enumerate() {
            // The slot a few lookups ahead is on its way while this one is done.
            if let Some(&ahead) = order.get(n + PREFETCH_AHEAD) {
                self.prefetch(block[ahead as usize].0);
            }
            let i = i as usize;
            let (hash, source, line) = block[i];
            answers[i] = self.insert(hash, globals[i], source, line);
        }
        answers
    }

    /// Ask the CPU to bring the first slot `hash` probes into cache.
    fn prefetch(&self, hash: u128) {
        let shard = &self.shards[shard_of(hash)];
        let key = ((hash >> 64) as u64) | 1;
        let i = ((u128::from(key) * shard.slots.len() as u128) >> 64) as usize;
        if let Some(slot) = shard.slots.get(i) {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a prefetch is a hint: it reads nothing and cannot fault.
            unsafe {
                use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
                _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(slot).cast());
            }
            #[cfg(not(target_arch = "x86_64"))]
            let _ = slot;
        }
    }

    /// [`Dedup::first_or_insert`] with the fingerprint already computed.
    pub fn first_or_insert_hashed(
        &mut self,
        hash: u128,
        source: u32,
        line: u64,
    ) -> Option<FirstSeen> {
        let global = self.global_line(source, line);
        self.insert(hash, global, source, line)
    }

    fn insert(&mut self, hash: u128, global: u64, source: u32, line: u64) -> Option<FirstSeen> {
        let shard = &mut self.shards[shard_of(hash)];
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
        let stored = match u32::try_from(global) {
            Ok(g) if g != u32::MAX => g,
            _ => {
                self.far.insert(hash, FirstSeen { source, line });
                u32::MAX
            }
        };
        let shard = &mut self.shards[shard_of(hash)];
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
    }

    #[test]
    fn staggered_shards_keep_the_table_near_20_bytes_per_url_at_any_size() {
        // Shards that all grew at once would swing the whole between 16 and
        // 24 bytes per URL; staggered, it stays close to the mean.
        let mut d = Dedup::new();
        let (mut best, mut worst) = (f64::MAX, 0f64);
        for i in 0..300_000u64 {
            d.first_or_insert(&format!("https://a.example.com/{i}"), 0, i + 1);
            if i >= 20_000 && i % 2_500 == 0 {
                let per_url = d.table_bytes() as f64 / d.len() as f64;
                best = best.min(per_url);
                worst = worst.max(per_url);
            }
        }
        assert!(worst <= 21.5, "worst {worst} bytes per URL");
        assert!(best >= 18.0, "best {best} bytes per URL");
    }

    #[test]
    fn a_block_answers_like_one_at_a_time() {
        let urls: Vec<String> = (0..5000)
            .map(|i| format!("https://h{}.example.com/{}", (i % 3100) % 13, i % 3100))
            .collect();
        let mut one = Dedup::new();
        let expected: Vec<_> = urls
            .iter()
            .enumerate()
            .map(|(i, u)| one.first_or_insert(u, (i / 2000) as u32, (i % 2000) as u64 + 1))
            .collect();
        let mut many = Dedup::new();
        let mut got = Vec::new();
        for (b, chunk) in urls.chunks(2000).enumerate() {
            let block: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(i, u)| (Dedup::fingerprint(u), b as u32, i as u64 + 1))
                .collect();
            got.extend(many.first_or_insert_block(&block));
        }
        assert_eq!(got, expected);
        assert_eq!(got.iter().filter(|g| g.is_none()).count(), 3100);
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
