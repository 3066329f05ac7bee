//! The progress bar, and the log writer that never tears it.
//!
//! While a bar is showing, every log line is written through
//! [`ProgressBar::suspend`], which clears the bar, writes the line and
//! redraws the bar below it.

use std::io::{self, IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing_subscriber::fmt::MakeWriter;

use crate::stats::Stats;

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal; otherwise a progress log line every 10 seconds.
    Auto,
    /// Always draw the bar on stderr.
    Always,
    /// No bar; a progress log line every 10 seconds.
    Never,
}

/// The bar log lines must go around, if one is showing.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn active() -> Option<ProgressBar> {
    ACTIVE.lock().ok().and_then(|a| a.clone())
}

/// Where log lines go: stderr, around the bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

/// One log line, buffered until it is complete.
pub struct LineBuffer(Vec<u8>);

impl Write for LineBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let write = || {
            let mut err = io::stderr().lock();
            let _ = err.write_all(&self.0);
            let _ = err.flush();
        };
        match active() {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        LineBuffer(Vec::with_capacity(256))
    }
}

/// The run's progress display.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Whether a bar will be drawn for this mode.
    pub fn wants_bar(mode: ProgressMode) -> bool {
        match mode {
            ProgressMode::Always => true,
            ProgressMode::Never => false,
            ProgressMode::Auto => io::stderr().is_terminal(),
        }
    }

    /// A bar (or none). `counted` says a total will come (file input).
    pub fn new(mode: ProgressMode, counted: bool) -> Progress {
        if !Self::wants_bar(mode) {
            return Progress { bar: None };
        }
        let target = match mode {
            ProgressMode::Always => {
                ProgressDrawTarget::term_like_with_hz(Box::new(console::Term::stderr()), 10)
            }
            _ => ProgressDrawTarget::stderr_with_hz(10),
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(if counted {
            counting_style()
        } else {
            streaming_style()
        });
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Ok(mut a) = ACTIVE.lock() {
            *a = Some(bar.clone());
        }
        Progress { bar: Some(bar) }
    }

    pub fn is_drawn(&self) -> bool {
        self.bar.is_some()
    }

    /// The input's size is known: show a total and an ETA.
    pub fn set_total(&self, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total.max(bar.position()));
            bar.set_style(total_style());
        }
    }

    /// Records with a final status (rows written, and URLs already done in
    /// a resumed report).
    pub fn set_position(&self, settled: u64, stats: &Stats) {
        if let Some(bar) = &self.bar {
            bar.set_position(settled);
            bar.set_message(status_line(stats, bar.elapsed()));
        }
    }

    /// Remove the bar before the summary is printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            if let Ok(mut a) = ACTIVE.lock() {
                *a = None;
            }
        }
    }
}

/// `ok 1,200 · failed 3 · 39.8 calls/s · throttled 2`
fn status_line(stats: &Stats, elapsed: Duration) -> String {
    use crate::plan::thousands;
    let c = stats.snapshot();
    let mut line = format!(
        "ok {} · failed {}",
        thousands(c.ok + c.already_done),
        thousands(c.failed + c.unknown)
    );
    if c.invalid + c.duplicate > 0 {
        line.push_str(&format!(
            " · skipped {}",
            thousands(c.invalid + c.duplicate)
        ));
    }
    if c.calls > 0 {
        let secs = elapsed.as_secs_f64().max(0.001);
        line.push_str(&format!(" · {:.1} calls/s", c.calls as f64 / secs));
    }
    line.push_str(&format!(" · throttled {}", thousands(c.throttled)));
    line
}

/// A style; `{rate}` is URLs per second in whole numbers.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("a valid template")
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0} URLs/s", state.per_sec());
            },
        )
        .progress_chars("=> ")
}

fn counting_style() -> ProgressStyle {
    style("{spinner:.green} {elapsed_precise} {human_pos} URLs (counting…) · {rate} · {msg}")
}

fn total_style() -> ProgressStyle {
    style(
        "{spinner:.green} {elapsed_precise} [{wide_bar:.cyan/blue}] {human_pos}/{human_len} · {rate} · ETA {eta} · {msg}",
    )
}

fn streaming_style() -> ProgressStyle {
    style("{spinner:.green} {elapsed_precise} {human_pos} URLs from stdin · {rate} · {msg}")
}
