//! The simulator's dice: which fault (if any) a request meets, how long it
//! waits, and the ids it gets. Seeded with `--seed` for repeatable runs.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Probabilities (0..=1) of each injected fault; at most one per request.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// HTTP 500 from the gateway; the call is not processed.
    pub http_500: f64,
    /// HTTP 502 from the gateway; the call is not processed.
    pub http_502: f64,
    /// The connection is closed without an answer; the call is not processed.
    pub drop: f64,
    /// `InternalError.CdnSystemError` after authentication and the rate limit.
    pub internal: f64,
    /// HTTP 200 with a body that is not JSON; the call is not processed.
    pub garbage: f64,
    /// The call is processed, then answered `slow_ms` late.
    pub slow: f64,
}

impl Faults {
    /// The sum of the probabilities: must not exceed 1.
    pub fn total(&self) -> f64 {
        self.http_500 + self.http_502 + self.drop + self.internal + self.garbage + self.slow
    }
}

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    Http500,
    Http502,
    Drop,
    Internal,
    Garbage,
    Slow,
}

/// The seeded random source.
#[derive(Debug)]
pub struct Dice {
    rng: StdRng,
}

impl Dice {
    pub fn new(seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::seed_from_u64(rand::random()),
        };
        Dice { rng }
    }

    /// One draw decides the fault, so the probabilities are exclusive.
    pub fn fault(&mut self, p: &Faults) -> Option<Fault> {
        let x: f64 = self.rng.random();
        let table = [
            (p.http_500, Fault::Http500),
            (p.http_502, Fault::Http502),
            (p.drop, Fault::Drop),
            (p.internal, Fault::Internal),
            (p.garbage, Fault::Garbage),
            (p.slow, Fault::Slow),
        ];
        let mut edge = 0.0;
        for (probability, fault) in table {
            edge += probability;
            if x < edge {
                return Some(fault);
            }
        }
        None
    }

    /// Uniform in `[lo, hi]` milliseconds.
    pub fn latency(&mut self, (lo, hi): (u64, u64)) -> Duration {
        if hi <= lo {
            return Duration::from_millis(lo);
        }
        Duration::from_micros(self.rng.random_range(lo * 1000..=hi * 1000))
    }

    /// A RequestId shaped like the API's (a UUID v4).
    pub fn request_id(&mut self) -> String {
        let b: [u8; 16] = self.rng.random();
        let h = hex::encode(b);
        format!(
            "{}-{}-4{}-{}{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            ["8", "9", "a", "b"][(b[8] & 3) as usize],
            &h[17..20],
            &h[20..32]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_rates_follow_the_probabilities() {
        let p = Faults {
            http_500: 0.1,
            http_502: 0.1,
            drop: 0.1,
            internal: 0.1,
            garbage: 0.1,
            slow: 0.1,
        };
        let mut dice = Dice::new(Some(7));
        let n = 20_000;
        let mut counts = std::collections::HashMap::new();
        for _ in 0..n {
            *counts.entry(dice.fault(&p)).or_insert(0) += 1;
        }
        for fault in [
            Fault::Http500,
            Fault::Http502,
            Fault::Drop,
            Fault::Internal,
            Fault::Garbage,
            Fault::Slow,
        ] {
            let share = counts[&Some(fault)] as f64 / n as f64;
            assert!((share - 0.1).abs() < 0.015, "{fault:?}: {share}");
        }
        assert!((counts[&None] as f64 / n as f64 - 0.4).abs() < 0.02);
        let mut quiet = Dice::new(Some(7));
        assert!((0..1000).all(|_| quiet.fault(&Faults::default()).is_none()));
    }

    #[test]
    fn same_seed_same_dice() {
        let p = Faults {
            drop: 0.5,
            ..Faults::default()
        };
        let mut a = Dice::new(Some(42));
        let mut b = Dice::new(Some(42));
        for _ in 0..100 {
            assert_eq!(a.fault(&p), b.fault(&p));
            assert_eq!(a.latency((20, 80)), b.latency((20, 80)));
        }
    }

    #[test]
    fn latency_stays_in_range_and_ids_look_like_uuids() {
        let mut d = Dice::new(Some(1));
        for _ in 0..1000 {
            let l = d.latency((20, 80));
            assert!(l >= Duration::from_millis(20) && l <= Duration::from_millis(80));
        }
        assert_eq!(d.latency((50, 50)), Duration::from_millis(50));
        let id = d.request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_eq!(&id[14..15], "4");
    }
}
