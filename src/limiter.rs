//! When a call may start: a hard cap, a pacer under it, and an adaptive rate.
//!
//! Three layers, all on tokio's clock (so tests run on a paused clock):
//!
//! 1. **The hard cap** is a `governor` limiter at `--qps` with burst 1: no two
//!    call starts closer than `1/qps`, retries included. (A default
//!    `Quota::per_second(40)` would allow a burst of 40.)
//!
//!    tokio's timer wakes on whole milliseconds, up to 1 ms late. Against a
//!    25 ms minimum gap that lateness cannot be caught up, and it alone
//!    costs 4% of the cap (measured: 38.2 calls/s instead of 39.8). So the
//!    last millisecond of every wait is slept precisely with the OS's own
//!    sleep ([`Timing::Precise`]); tests on tokio's paused clock use
//!    [`Timing::Tokio`].
//! 2. **The pacer** keeps an absolute schedule a little slower than the cap
//!    (`qps` calls per 1.005 s), so late timer wake-ups are caught up instead
//!    of lost, plus a guard over the actual start times of the last `qps`
//!    calls: call `n` starts no earlier than 1 s + 2 ms after call `n - qps`.
//!    A server that counts a strict sliding one-second window then never sees
//!    `qps + 1` calls from us, even with a few milliseconds of jitter.
//! 3. **The adaptive rate** (AIMD) slows the pacer when throttled answers
//!    keep coming — another job shares the account's quota — and recovers
//!    when they stop. A single throttle does not slow it down: at the cap,
//!    jitter alone can cost one now and then.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

/// The window the API counts calls in.
pub const WINDOW: Duration = Duration::from_secs(1);
/// The pacer's slack: `qps` calls per `WINDOW + SLACK` at most, so the
/// server sees a few milliseconds of room in every window for jitter.
pub const SLACK: Duration = Duration::from_millis(5);
/// The backstop over actual starts: call `n` never starts within
/// `WINDOW + GUARD` of call `n - qps`. Less than [`SLACK`], so on a steady
/// schedule it does not bind (and does not carry old lateness forward).
pub const GUARD: Duration = Duration::from_millis(2);

/// A governor clock that reads tokio's clock, so the hard cap follows a
/// paused test clock like everything else.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;

    fn now(&self) -> Self::Instant {
        Instant::now().into_std()
    }
}

type HardCap = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<std::time::Instant>>;

/// The adaptive part, pure: it is told the time.
#[derive(Debug, Clone)]
pub struct Aimd {
    max_rate: f64,
    rate: f64,
    throttles: VecDeque<Instant>,
    last_change: Instant,
}

impl Aimd {
    /// Calls/s never go below this.
    pub const MIN_RATE: f64 = 0.5;
    /// Throttled answers within one second that mean "the quota is shared".
    pub const THROTTLES_TO_SLOW: usize = 2;
    /// Multiplicative decrease.
    pub const DECREASE: f64 = 0.7;
    /// Additive increase, calls/s per quiet second.
    pub const INCREASE: f64 = 1.0;

    pub fn new(max_rate: f64, now: Instant) -> Self {
        Aimd {
            max_rate,
            rate: max_rate,
            throttles: VecDeque::new(),
            last_change: now,
        }
    }

    fn forget_old(&mut self, now: Instant) {
        while self
            .throttles
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            self.throttles.pop_front();
        }
    }

    /// The current target rate, after any increase due by `now`.
    pub fn rate(&mut self, now: Instant) -> f64 {
        self.forget_old(now);
        while self.rate < self.max_rate
            && self.throttles.is_empty()
            && now.saturating_duration_since(self.last_change) >= WINDOW
        {
            self.rate = (self.rate + Self::INCREASE).min(self.max_rate);
            self.last_change += WINDOW;
        }
        self.rate
    }

    /// A throttled answer arrived at `now`. Returns true when it slowed the rate.
    pub fn throttled(&mut self, now: Instant) -> bool {
        self.forget_old(now);
        self.throttles.push_back(now);
        let calm_since_last_change =
            now.saturating_duration_since(self.last_change) >= WINDOW || self.rate >= self.max_rate;
        if self.throttles.len() >= Self::THROTTLES_TO_SLOW && calm_since_last_change {
            self.rate = (self.rate * Self::DECREASE).max(Self::MIN_RATE);
            self.last_change = now;
            return true;
        }
        false
    }
}

#[derive(Debug)]
struct Schedule {
    /// When the next call is due on the absolute schedule.
    next: Option<Instant>,
    /// The actual starts of the last `qps` calls.
    starts: VecDeque<Instant>,
}

/// How the limiter waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// tokio's timer, then a precise sleep (on the calling thread) for the
    /// last [`PRECISE_TAIL`].
    Precise,
    /// tokio's timer only: for tests on a paused clock.
    Tokio,
}

/// The end of a wait slept on a blocking thread, for sub-millisecond precision.
pub const PRECISE_TAIL: Duration = Duration::from_millis(2);

/// Decides when each call may start. Shared by every call task.
pub struct Limiter {
    qps: u32,
    period: Duration,
    timing: Timing,
    hard: HardCap,
    schedule: tokio::sync::Mutex<Schedule>,
    aimd: Mutex<Aimd>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("qps", &self.qps).finish()
    }
}

impl Limiter {
    /// A limiter for `qps` call starts per second (1..=40), timed precisely.
    pub fn new(qps: u32) -> Self {
        Self::with_timing(qps, Timing::Precise)
    }

    pub fn with_timing(qps: u32, timing: Timing) -> Self {
        let qps = qps.max(1);
        let period = WINDOW / qps;
        let quota = Quota::with_period(period)
            .expect("a non-zero period")
            .allow_burst(NonZeroU32::MIN);
        let max_rate = qps as f64 / (WINDOW + SLACK).as_secs_f64();
        Limiter {
            qps,
            period,
            timing,
            hard: RateLimiter::direct_with_clock(quota, TokioClock),
            schedule: tokio::sync::Mutex::new(Schedule {
                next: None,
                starts: VecDeque::with_capacity(qps as usize + 1),
            }),
            aimd: Mutex::new(Aimd::new(max_rate, Instant::now())),
        }
    }

    /// Sleep until `due`, as precisely as the timing allows.
    async fn sleep_until(&self, due: Instant) {
        let now = Instant::now();
        if due <= now {
            return;
        }
        if self.timing == Timing::Tokio || due - now > PRECISE_TAIL {
            // tokio wakes up to a millisecond late: stop short of the tail.
            let coarse = match self.timing {
                Timing::Tokio => due,
                Timing::Precise => due - PRECISE_TAIL,
            };
            tokio::time::sleep_until(coarse).await;
            if self.timing == Timing::Tokio {
                return;
            }
        }
        let rest = due.saturating_duration_since(Instant::now());
        if !rest.is_zero() {
            // At most PRECISE_TAIL (2 ms; usually less, as tokio's timer
            // wakes late), slept right here: handing it to a blocking thread
            // cost more CPU (two thread wake-ups per call) than the runtime
            // loses by pausing this long, 40 times a second.
            std::thread::sleep(rest);
        }
    }

    /// Wait until a call may start. Callers are served in arrival order.
    pub async fn acquire(&self) {
        let mut s = self.schedule.lock().await;
        loop {
            let now = Instant::now();
            let mut due = s.next.unwrap_or(now);
            if let Some(last) = s.starts.back() {
                // The hard cap's spacing, so its check below passes first time.
                due = due.max(*last + self.period);
            }
            if s.starts.len() >= self.qps as usize {
                due = due.max(s.starts[0] + WINDOW + GUARD);
            }
            if due > now {
                self.sleep_until(due).await;
                continue;
            }
            if let Err(not_until) = self.hard.check() {
                let at = Instant::from_std(not_until.earliest_possible());
                self.sleep_until(at.max(now + Duration::from_micros(50)))
                    .await;
                continue;
            }
            let rate = self.aimd.lock().expect("aimd lock").rate(now);
            let period = Duration::from_secs_f64(1.0 / rate);
            let scheduled = s.next.unwrap_or(now);
            // Catch up a late wake-up (under one period); never bank idle time.
            s.next = Some(if now.saturating_duration_since(scheduled) < period {
                scheduled + period
            } else {
                now + period
            });
            // Recorded after the check, so never before the hard cap's own timestamp.
            let now = Instant::now();
            s.starts.push_back(now);
            if s.starts.len() > self.qps as usize {
                s.starts.pop_front();
            }
            return;
        }
    }

    /// Report a throttled answer. Returns true when the rate was lowered.
    pub fn throttled(&self) -> bool {
        self.aimd
            .lock()
            .expect("aimd lock")
            .throttled(Instant::now())
    }

    /// The current target rate in calls/s.
    pub fn rate(&self) -> f64 {
        self.aimd.lock().expect("aimd lock").rate(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The most starts in any window `[t, t + 1 s)`.
    fn max_in_window(starts: &[Instant]) -> usize {
        let t0 = starts[0];
        let ms: Vec<f64> = starts
            .iter()
            .map(|s| (*s - t0).as_secs_f64() * 1000.0)
            .collect();
        crate::sim::log::busiest_window(&ms, 1000.0)
    }

    #[tokio::test(start_paused = true)]
    async fn never_more_than_qps_in_any_second_and_close_to_the_cap() {
        let limiter = Limiter::with_timing(40, Timing::Tokio);
        let t0 = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..400 {
            limiter.acquire().await;
            starts.push(Instant::now());
        }
        assert!(max_in_window(&starts) <= 40);
        // No two starts closer than the hard cap's 25 ms.
        assert!(
            starts
                .windows(2)
                .all(|w| w[1] - w[0] >= Duration::from_millis(25))
        );
        // 399 gaps at 1.005 s / 40 each: 10.02 s, plus at most a millisecond of timer rounding.
        let took = starts.last().unwrap().duration_since(t0);
        assert!(took >= Duration::from_millis(10_020), "{took:?}");
        assert!(took <= Duration::from_millis(10_040), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_schedule() {
        let limiter = std::sync::Arc::new(Limiter::with_timing(10, Timing::Tokio));
        let starts = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (limiter, starts) = (limiter.clone(), starts.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..10 {
                    limiter.acquire().await;
                    starts.lock().unwrap().push(Instant::now());
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut starts = starts.lock().unwrap().clone();
        starts.sort();
        assert_eq!(starts.len(), 80);
        assert!(max_in_window(&starts) <= 10);
        assert!(
            starts
                .windows(2)
                .all(|w| w[1] - w[0] >= Duration::from_millis(100))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_is_not_banked_as_a_burst() {
        let limiter = Limiter::with_timing(40, Timing::Tokio);
        limiter.acquire().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let a = Instant::now();
        limiter.acquire().await;
        limiter.acquire().await;
        limiter.acquire().await;
        // After a long pause, the next calls are still spaced, not fired together.
        assert!(Instant::now() - a >= Duration::from_millis(50));
    }

    #[tokio::test(start_paused = true)]
    async fn a_single_throttle_does_not_slow_down_but_repeated_ones_do() {
        let t = Instant::now();
        let mut aimd = Aimd::new(39.8, t);
        assert!(!aimd.throttled(t));
        assert_eq!(aimd.rate(t), 39.8);
        // One throttle a second for a while: jitter at the cap, not a shared quota.
        for s in 1..5 {
            assert!(!aimd.throttled(t + Duration::from_millis(1100 * s)));
        }
        // Two within a second: someone else uses the quota.
        let t2 = t + Duration::from_secs(10);
        assert!(!aimd.throttled(t2));
        assert!(aimd.throttled(t2 + Duration::from_millis(100)));
        let slowed = aimd.rate(t2 + Duration::from_millis(100));
        assert!((slowed - 39.8 * 0.7).abs() < 1e-9, "{slowed}");
        // Not again for the same burst of throttles within the next second.
        assert!(!aimd.throttled(t2 + Duration::from_millis(200)));
        // Throttles keep coming a second later: slow down again.
        assert!(aimd.throttled(t2 + Duration::from_millis(1150)));
        let lower = aimd.rate(t2 + Duration::from_millis(1150));
        assert!(lower < slowed);
        // Quiet: +1 call/s per second until back at the cap.
        let quiet = t2 + Duration::from_millis(2200);
        let r1 = aimd.rate(quiet + Duration::from_secs(1));
        assert!(r1 > lower && r1 <= lower + 2.0, "{lower} -> {r1}");
        let back = aimd.rate(quiet + Duration::from_secs(60));
        assert_eq!(back, 39.8);
    }

    #[tokio::test(start_paused = true)]
    async fn throttles_slow_the_pacer_then_it_recovers() {
        let limiter = Limiter::with_timing(40, Timing::Tokio);
        for _ in 0..3 {
            limiter.throttled();
        }
        let slow = limiter.rate();
        assert!(slow < 30.0, "{slow}");
        let t0 = Instant::now();
        for _ in 0..21 {
            limiter.acquire().await;
        }
        // 20 gaps at the lowered rate take longer than at the cap.
        let took = Instant::now() - t0;
        assert!(
            took >= Duration::from_secs_f64(20.0 / slow) - Duration::from_millis(50),
            "{took:?}"
        );
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(limiter.rate() > 39.0);
    }
}
