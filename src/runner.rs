//! The `run` pipeline, streaming end to end:
//!
//! ```text
//! reader thread ──chunks──▶ batcher ──batches──▶ dispatcher ──▶ call tasks ──rows──▶ writer thread
//!  (parse, validate,        (size or 1 s)       (concurrency     (limiter, sign,      (owns the report,
//!   dedup)                                        cap)             send, retry, split)  flushes per batch)
//! ```
//!
//! Every channel is bounded, so memory does not grow with the input. A
//! fatal answer or a signal cancels `stop`: the reader and the dispatcher
//! stop, calls already on the wire settle (each bounded by `--timeout`),
//! their rows are written, and nothing is retried any more.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::Retryable;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use crate::batch::{self, Batch};
use crate::client::{Answer, Client, ClientConfig, Endpoint};
use crate::credentials::Credentials;
use crate::dedup::Dedup;
use crate::input::{self, CsvOptions, Format, Input, InputError, InputFormat, Item, ReadJob};
use crate::limiter::Limiter;
use crate::progress::{Progress, ProgressMode};
use crate::report::{self, ReportError, ReportMode, Row, Status};
use crate::resume::{Resume, ResumeError};
use crate::retry::{self, Class};
use crate::stats::{Ending, Stats, Summary};

/// Everything `run` needs, validated.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub input: Input,
    pub input_format: InputFormat,
    pub csv: CsvOptions,
    pub report: PathBuf,
    pub report_mode: ReportMode,
    pub batch_size: usize,
    pub qps: u32,
    pub concurrency: usize,
    pub max_attempts: u32,
    pub timeout: Duration,
    pub endpoint: Endpoint,
    pub region: Option<String>,
    pub date: Option<String>,
    pub progress: ProgressMode,
    pub summary_json: Option<PathBuf>,
    /// Held for the whole run, so two runs of one job do not overlap.
    pub lock: PathBuf,
}

/// Send for real, or only pretend.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Everything but the calls; no credentials needed.
    DryRun,
    /// Calls signed with these credentials.
    Send(Credentials),
}

/// A problem found before any call: exit 2.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("--resume: {0}: nothing appended to it")]
    Resume(#[from] ResumeError),
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

/// Why the run stopped early.
#[derive(Debug, Clone)]
struct Abort {
    reason: String,
}

/// Shared by the dispatcher and every call task.
struct Ctx {
    client: Option<Client>,
    limiter: Limiter,
    stats: Arc<Stats>,
    rows: mpsc::Sender<Vec<Row>>,
    stop: CancellationToken,
    abort: Mutex<Option<Abort>>,
    max_attempts: u32,
    date: Option<String>,
}

impl Ctx {
    /// Stop the run for `reason` (the first reason wins).
    fn abort(&self, reason: String) {
        let mut abort = self.abort.lock().expect("abort lock");
        if abort.is_none() {
            tracing::error!(event = "abort", reason = %reason, "stopping: {reason}");
            *abort = Some(Abort { reason });
        }
        self.stop.cancel();
    }

    async fn write(&self, rows: Vec<Row>) {
        if rows.is_empty() {
            return;
        }
        if self.rows.send(rows).await.is_err() {
            self.abort("cannot write the report (see the error above)".into());
        }
    }
}

/// Run the job. Returns the summary (with the exit code in it) once every
/// record read has its row, or the run was stopped.
pub async fn run(
    config: &RunConfig,
    mode: Mode,
    shutdown: CancellationToken,
) -> Result<Summary, RunError> {
    let started = Instant::now();
    let lock = crate::lock::Lock::acquire(&config.lock)?;
    let sources = input::open(&config.input, config.input_format)?;
    input::check_headers(&sources, &config.csv)?;
    let client = match &mode {
        Mode::DryRun => None,
        Mode::Send(credentials) => Some(
            Client::new(ClientConfig {
                endpoint: config.endpoint.clone(),
                credentials: credentials.clone(),
                region: config.region.clone(),
                language: Some("en-US".into()),
                timeout: config.timeout,
            })
            .map_err(|e| RunError::Client(e.to_string()))?,
        ),
    };
    let resume = match config.report_mode {
        ReportMode::Append => {
            let resume = Resume::load(&config.report)?;
            tracing::info!(
                event = "resume",
                rows = resume.rows,
                done = resume.done_count(),
                "resuming {}: {} URLs already ok in {} rows",
                config.report.display(),
                resume.done_count(),
                resume.rows
            );
            Some(Arc::new(resume))
        }
        _ => None,
    };
    let writer = report::open(&config.report, config.report_mode)?;
    if client.is_some() {
        if lock.left_by_a_dead_run {
            // It died holding the lock, perhaps a moment ago while only
            // retrying (its report then says nothing): assume it was sending.
            wait_for_a_clear_window(
                Duration::ZERO,
                "a previous run of this job died holding its lock".into(),
            )
            .await;
        } else if let Some(modified) = resume.as_ref().and_then(|r| r.modified) {
            let age = modified.elapsed().unwrap_or_default();
            let why = format!("the report was written {} ms ago", age.as_millis());
            wait_for_a_clear_window(age, why).await;
        }
    }

    let stats = Arc::new(Stats::default());
    let stop = CancellationToken::new();
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let (stop, shutdown, interrupted) = (stop.clone(), shutdown.clone(), interrupted.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    interrupted.store(true, Ordering::SeqCst);
                    stop.cancel();
                }
                _ = stop.cancelled() => {}
            }
        });
    }

    // The bar's total: input lines, counted alongside the run, never in front of it.
    let counter = input::line_counter(&config.input);
    let progress = Progress::new(config.progress, counter.is_some());
    if let (Some(count), true) = (counter, progress.is_drawn()) {
        let headers = sources.iter().filter(|s| s.format == Format::Csv).count() as u64;
        let progress = progress.clone();
        std::thread::spawn(move || {
            if let Ok(lines) = count() {
                progress.set_total(lines.saturating_sub(headers));
            }
        });
    }
    let ticker = (!progress.is_drawn()).then(|| tokio::spawn(log_progress(stats.clone(), started)));

    tracing::info!(
        event = "start",
        report = %config.report.display(),
        dry_run = matches!(mode, Mode::DryRun),
        endpoint = %config.endpoint,
        "report: {}",
        config.report.display()
    );

    // Writer thread: owns the report.
    let (row_tx, mut row_rx) = mpsc::channel::<Vec<Row>>(256);
    let writer_thread = {
        let (stats, progress, path) = (stats.clone(), progress.clone(), config.report.clone());
        std::thread::spawn(move || -> std::io::Result<()> {
            let mut writer = writer;
            while let Some(first) = row_rx.blocking_recv() {
                // Everything settled by now goes out in one write and flush.
                let mut next = Some(first);
                let written = std::iter::from_fn(|| next.take().or_else(|| row_rx.try_recv().ok()))
                    .try_for_each(|rows| {
                        rows.iter().for_each(|row| stats.count_row(row));
                        writer.append(&rows)
                    })
                    .and_then(|()| writer.flush());
                if let Err(e) = written {
                    tracing::error!(
                        event = "report_error",
                        path = %path.display(),
                        "cannot write the report {}: {e}",
                        path.display()
                    );
                    return Err(e);
                }
                progress.set_position(stats.settled(), &stats);
            }
            let file = writer.into_inner()?;
            file.into_inner().map_err(|e| e.into_error()).map(drop)
        })
    };

    // Reader thread: blocks on reads, so it is a plain thread.
    let (item_tx, item_rx) = mpsc::channel::<Vec<Item>>(8);
    let (read_done_tx, read_done_rx) = oneshot::channel();
    {
        let job = ReadJob {
            sources,
            csv: config.csv.clone(),
            dedup: Dedup::new(),
            resume,
            stats: stats.clone(),
            stop: stop.clone(),
        };
        std::thread::spawn(move || {
            let _ = read_done_tx.send(input::read_all(job, item_tx));
        });
    }

    let (batch_tx, mut batch_rx) = mpsc::channel::<Batch>(16);
    let batcher = tokio::spawn(batch::run(
        item_rx,
        batch_tx,
        row_tx.clone(),
        config.batch_size,
        stats.clone(),
        stop.clone(),
    ));

    let ctx = Arc::new(Ctx {
        client,
        limiter: Limiter::new(config.qps),
        stats: stats.clone(),
        rows: row_tx,
        stop: stop.clone(),
        abort: Mutex::new(None),
        max_attempts: config.max_attempts,
        date: config.date.clone(),
    });

    // Dispatcher.
    let slots = Arc::new(Semaphore::new(config.concurrency));
    let tracker = TaskTracker::new();
    loop {
        let batch = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            b = batch_rx.recv() => match b { Some(b) => b, None => break },
        };
        if ctx.client.is_none() {
            // A dry run settles batches as fast as they come: hand the
            // writer everything ready at once rather than a batch at a time.
            let mut rows = dry_run_rows(batch);
            while rows.len() < 16 * 1024 {
                match batch_rx.try_recv() {
                    Ok(more) => rows.extend(dry_run_rows(more)),
                    Err(_) => break,
                }
            }
            ctx.write(rows).await;
            continue;
        }
        let slot = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            s = slots.clone().acquire_owned() => s.expect("the semaphore is never closed"),
        };
        let ctx = ctx.clone();
        tracker.spawn(async move {
            process_batch(&ctx, batch).await;
            drop(slot);
        });
    }
    drop(batch_rx);
    tracker.close();
    tracker.wait().await;
    let _ = batcher.await;

    // The reader's verdict: a CSV header problem on stdin is a setup error.
    let read_result = if stop.is_cancelled() {
        Ok(())
    } else {
        read_done_rx.await.unwrap_or(Ok(()))
    };

    let abort = ctx.abort.lock().expect("abort lock").clone();
    drop(ctx);
    let writer_result = tokio::task::spawn_blocking(move || writer_thread.join())
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or_else(|| Err(std::io::Error::other("the report writer stopped")));
    if let Some(t) = ticker {
        t.abort();
    }
    progress.finish();

    let mut abort_reason = abort.map(|a| a.reason);
    if let Err(e) = read_result {
        // A later source's CSV header (stdin's, checked only when it
        // arrives) names no such column. Before anything was done, that is
        // a setup error like any other, and the empty report goes; after,
        // the run stops there with its rows kept, to be resumed.
        if stats.calls.load(Ordering::Relaxed) == 0 && stats.settled() == 0 {
            if config.report_mode != ReportMode::Append {
                let _ = std::fs::remove_file(&config.report);
            }
            return Err(e.into());
        }
        abort_reason.get_or_insert_with(|| format!("stopped reading the input: {e}"));
    }
    if let Err(e) = &writer_result {
        abort_reason.get_or_insert_with(|| format!("cannot write the report: {e}"));
    }
    let ending = if interrupted.load(Ordering::SeqCst) {
        Ending::Interrupted
    } else if abort_reason.is_some() {
        Ending::Aborted
    } else {
        Ending::Finished
    };
    let mut summary = Summary::new(
        stats.snapshot(),
        started.elapsed(),
        ending,
        abort_reason,
        config.report.display().to_string(),
        matches!(mode, Mode::DryRun),
    );
    summary.failures_by_code = stats.codes.lock().expect("codes lock").clone();
    summary.qps = config.qps;
    let c = &summary.counts;
    tracing::info!(
        event = "summary",
        records = c.records,
        sent = c.sent,
        ok = c.ok,
        failed = c.failed,
        invalid = c.invalid,
        duplicate = c.duplicate,
        unknown = c.unknown,
        dry_run = c.dry_run,
        already_done = c.already_done,
        not_done = summary.not_done,
        calls = c.calls,
        retries = c.retries,
        throttled = c.throttled,
        split_calls = c.split_calls,
        batches = c.batches,
        input_errors = c.input_errors,
        elapsed_secs = summary.elapsed_secs,
        calls_per_sec = summary.calls_per_sec,
        urls_per_sec = summary.urls_per_sec,
        ending = summary.ending.as_str(),
        exit_code = summary.exit_code,
        abort_reason = summary.abort_reason.as_deref(),
        failures_by_code = %serde_json::to_string(&summary.failures_by_code).unwrap_or_default(),
        report = %summary.report,
        dry_run_mode = summary.dry_run_mode,
        qps = summary.qps,
        "finished: exit {}",
        summary.exit_code
    );
    if let Some(path) = &config.summary_json {
        let json = serde_json::to_vec_pretty(&summary).expect("the summary serialises");
        if let Err(e) = std::fs::write(path, json) {
            // A summary left from an earlier run must not pass for this one.
            let _ = std::fs::remove_file(path);
            tracing::error!(
                event = "summary_error",
                path = %path.display(),
                "cannot write --summary-json {}: {e}",
                path.display()
            );
        }
    }
    Ok(summary)
}

/// If the run before this one may have been sending `age` ago (`why` says
/// how we know), its last calls still count in the account's one-second
/// rate window: wait until they have left it.
async fn wait_for_a_clear_window(age: Duration, why: String) {
    const CLEAR: Duration = Duration::from_millis(1200);
    if age < CLEAR {
        let wait = CLEAR - age;
        tracing::info!(
            event = "rate_window",
            wait_ms = wait.as_millis() as u64,
            "{why}: waiting {} ms for its last calls to leave the account's rate window",
            wait.as_millis()
        );
        tokio::time::sleep(wait).await;
    }
}

/// A progress log line every 10 seconds, when no bar is drawn.
async fn log_progress(stats: Arc<Stats>, started: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.tick().await;
    loop {
        tick.tick().await;
        let c = stats.snapshot();
        let secs = started.elapsed().as_secs_f64().max(0.001);
        tracing::info!(
            event = "progress",
            records = c.records,
            ok = c.ok,
            failed = c.failed,
            invalid = c.invalid,
            duplicate = c.duplicate,
            calls = c.calls,
            throttled = c.throttled,
            calls_per_sec = (c.calls as f64 / secs * 10.0).round() / 10.0,
            failures_by_code = %serde_json::to_string(&*stats.codes.lock().expect("codes lock"))
                .unwrap_or_default(),
            "{} records read, {} ok, {} failed, {} calls ({:.1}/s), {} throttled",
            c.records,
            c.ok,
            c.failed,
            c.calls,
            c.calls as f64 / secs,
            c.throttled
        );
    }
}

fn dry_run_rows(batch: Batch) -> Vec<Row> {
    let finished_at = report::now_rfc3339();
    batch
        .records
        .into_iter()
        .map(|r| Row {
            source: r.source,
            line: r.line,
            url: r.url,
            status: Status::DryRun,
            error_code: None,
            error_message: None,
            task_id: None,
            request_id: None,
            attempts: 0,
            finished_at: finished_at.clone(),
        })
        .collect()
}

/// One batch to its rows, splitting it when the API refuses it whole for
/// its content. Halves go on a stack, so the task holds one slot throughout.
async fn process_batch(ctx: &Ctx, batch: Batch) {
    let client = ctx.client.as_ref().expect("only called when sending");
    let mut stack = vec![batch];
    while let Some(part) = stack.pop() {
        let urls: Vec<&str> = part.records.iter().map(|r| r.url.as_str()).collect();
        let is_half = part.attempts > 0;
        let Some((answer, attempts)) = call(ctx, client, &urls, is_half).await else {
            return; // stopped before it settled: no row; --resume sends it again
        };
        drop(urls);
        let attempts = part.attempts + attempts;
        match retry::classify(&answer) {
            Class::Success => {
                let Answer::Success(success) = &answer else {
                    unreachable!()
                };
                ctx.write(success_rows(part, success, attempts)).await;
            }
            Class::Content if part.records.len() > 1 => {
                tracing::debug!(
                    event = "split",
                    urls = part.records.len(),
                    code = answer.code().unwrap_or_default(),
                    "batch refused whole; trying halves"
                );
                let mut left = part.records;
                let right = left.split_off(left.len() / 2);
                stack.push(Batch {
                    records: right,
                    attempts,
                });
                stack.push(Batch {
                    records: left,
                    attempts,
                });
            }
            Class::Fatal => {
                let (code, message) = code_and_message(&answer);
                ctx.abort(format!("{code}: {}", retry::fatal_advice(&code)));
                ctx.write(failed_rows(part, &answer, &code, &message, attempts))
                    .await;
                return;
            }
            _ => {
                let (code, message) = code_and_message(&answer);
                ctx.write(failed_rows(part, &answer, &code, &message, attempts))
                    .await;
            }
        }
    }
}

/// Why an attempt did not settle the batch.
#[derive(Debug)]
enum Again {
    /// Throttled or transient: worth another attempt.
    Retry(Answer),
    /// The run is stopping.
    Stopped,
}

/// Attempts of one call until an answer settles it, `--max-attempts` run
/// out, or the run stops. `None` when it stopped unsettled.
async fn call(ctx: &Ctx, client: &Client, urls: &[&str], is_half: bool) -> Option<(Answer, u32)> {
    let attempts = AtomicU32::new(0);
    let attempt = || async {
        tokio::select! {
            biased;
            _ = ctx.stop.cancelled() => return Err(Again::Stopped),
            _ = ctx.limiter.acquire() => {}
        }
        let n = attempts.fetch_add(1, Ordering::Relaxed) + 1;
        ctx.stats.calls.fetch_add(1, Ordering::Relaxed);
        if n > 1 {
            ctx.stats.retries.fetch_add(1, Ordering::Relaxed);
        }
        if is_half {
            ctx.stats.split_calls.fetch_add(1, Ordering::Relaxed);
        } else if n == 1 {
            // URLs count as sent once their first call goes out (a batch
            // still waiting for the limiter when the run stops is not sent).
            ctx.stats
                .sent
                .fetch_add(urls.len() as u64, Ordering::Relaxed);
        }
        let answer = client.enable_caches(urls, ctx.date.as_deref()).await;
        match retry::classify(&answer) {
            Class::Throttled => {
                ctx.stats.throttled.fetch_add(1, Ordering::Relaxed);
                if ctx.limiter.throttled() {
                    tracing::info!(
                        event = "slow_down",
                        rate = (ctx.limiter.rate() * 10.0).round() / 10.0,
                        "throttled repeatedly (is another job using this account?): slowing to {:.1} calls/s",
                        ctx.limiter.rate()
                    );
                }
                Err(Again::Retry(answer))
            }
            Class::Transient => Err(Again::Retry(answer)),
            _ => Ok(answer),
        }
    };
    let stop = ctx.stop.clone();
    let result = attempt
        .retry(retry::backoff(ctx.max_attempts))
        .sleep(move |d| {
            let stop = stop.clone();
            async move {
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = stop.cancelled() => {}
                }
            }
        })
        .when(|e| matches!(e, Again::Retry(_)) && !ctx.stop.is_cancelled())
        .notify(|e, wait| {
            if let Again::Retry(answer) = e {
                tracing::debug!(
                    event = "retry",
                    code = answer.code().unwrap_or_default(),
                    wait_ms = wait.as_millis() as u64,
                    "retrying a batch of {} after {:?}",
                    urls.len(),
                    wait
                );
            }
        })
        .await;
    let n = attempts.load(Ordering::Relaxed);
    match result {
        Ok(answer) => Some((answer, n)),
        // Stopped between attempts: not settled, whatever the last answer was.
        Err(Again::Retry(_)) if ctx.stop.is_cancelled() && n < ctx.max_attempts => None,
        Err(Again::Retry(answer)) => Some((answer, n)),
        Err(Again::Stopped) => None,
    }
}

fn code_and_message(answer: &Answer) -> (String, String) {
    match answer {
        Answer::Success(_) => (String::new(), String::new()),
        Answer::Error(e) => (e.code.clone(), e.message.clone()),
        Answer::Fault(f) => (f.code(), f.message.clone()),
    }
}

/// The rows of a processed call. The batch's URLs move into the rows, and
/// the strings every row shares (ids, messages) are allocated once.
fn success_rows(part: Batch, success: &crate::client::Success, attempts: u32) -> Vec<Row> {
    // What the API said of each URL; FailUrls wins if a URL is in both.
    let mut said: HashMap<&str, Status, Xxh3DefaultBuilder> =
        HashMap::with_capacity_and_hasher(part.records.len(), Xxh3DefaultBuilder::new());
    said.extend(
        success
            .success_urls
            .iter()
            .map(|u| (u.as_str(), Status::Ok)),
    );
    said.extend(
        success
            .fail_urls
            .iter()
            .map(|u| (u.as_str(), Status::Failed)),
    );
    let finished_at = report::now_rfc3339();
    let task_id: Option<Arc<str>> = success.task_id.as_deref().map(Arc::from);
    let request_id: Option<Arc<str>> = success.request_id.as_deref().map(Arc::from);
    let fail_code: Arc<str> = Arc::from("FailUrls");
    let fail_message: Arc<str> = Arc::from("the API listed this URL in FailUrls");
    let unknown_message: Arc<str> =
        Arc::from("the call succeeded, but this URL was in neither SuccessUrls nor FailUrls");
    part.records
        .into_iter()
        .map(|r| {
            let (status, code, message) = match said.get(r.url.as_str()) {
                Some(Status::Failed) => (
                    Status::Failed,
                    Some(fail_code.clone()),
                    Some(fail_message.clone()),
                ),
                Some(_) => (Status::Ok, None, None),
                None => (Status::Unknown, None, Some(unknown_message.clone())),
            };
            Row {
                source: r.source,
                line: r.line,
                url: r.url,
                status,
                error_code: code,
                error_message: message,
                task_id: task_id.clone(),
                request_id: request_id.clone(),
                attempts,
                finished_at: finished_at.clone(),
            }
        })
        .collect()
}

fn failed_rows(part: Batch, answer: &Answer, code: &str, message: &str, attempts: u32) -> Vec<Row> {
    let request_id: Option<Arc<str>> = match answer {
        Answer::Error(e) => e.request_id.as_deref().map(Arc::from),
        _ => None,
    };
    let (code, message): (Arc<str>, Arc<str>) = (Arc::from(code), Arc::from(message));
    let finished_at = report::now_rfc3339();
    part.records
        .into_iter()
        .map(|r| Row {
            source: r.source,
            line: r.line,
            url: r.url,
            status: Status::Failed,
            error_code: Some(code.clone()),
            error_message: Some(message.clone()),
            task_id: None,
            request_id: request_id.clone(),
            attempts,
            finished_at: finished_at.clone(),
        })
        .collect()
}
