//! Records → batches of up to `--batch-size` URLs.
//!
//! A partial batch goes out when the input ends, and also when its oldest
//! record has waited [`MAX_WAIT`], so a slow trickle on stdin (`tail -f`)
//! keeps moving. Rows settled by the reader (`invalid`, `duplicate`) are
//! passed straight on to the report writer.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::input::{Item, Record};
use crate::report::Row;
use crate::stats::Stats;

/// How long a record waits for its batch to fill.
pub const MAX_WAIT: Duration = Duration::from_secs(1);

/// URLs for one call (or, after a split, part of one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub records: Vec<Record>,
    /// Calls that already carried these URLs (non-zero for halves of a split batch).
    pub attempts: u32,
}

/// Run the batcher until the input ends or `stop` is cancelled.
pub async fn run(
    mut items: mpsc::Receiver<Vec<Item>>,
    batches: mpsc::Sender<Batch>,
    rows: mpsc::Sender<Vec<Row>>,
    size: usize,
    stats: Arc<Stats>,
    stop: CancellationToken,
) {
    let mut pending: Vec<Record> = Vec::with_capacity(size);
    let mut deadline: Option<Instant> = None;
    loop {
        let chunk = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            _ = sleep_until(deadline) => {
                deadline = None;
                if !send(&batches, &mut pending, size, &stats, &stop).await {
                    return;
                }
                continue;
            }
            chunk = items.recv() => chunk,
        };
        let Some(chunk) = chunk else { break };
        let mut settled = Vec::new();
        for item in chunk {
            match item {
                Item::Settled(row) => settled.push(*row),
                Item::Url(record) => {
                    if pending.is_empty() {
                        deadline = Some(Instant::now() + MAX_WAIT);
                    }
                    pending.push(record);
                    if pending.len() >= size {
                        deadline = None;
                        if !send(&batches, &mut pending, size, &stats, &stop).await {
                            return;
                        }
                    }
                }
            }
        }
        if !settled.is_empty() && rows.send(settled).await.is_err() {
            // The writer is gone: no call may go out whose rows cannot be kept.
            stop.cancel();
            return;
        }
    }
    send(&batches, &mut pending, size, &stats, &stop).await;
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Hand the pending records over as a batch. False when nobody listens any more.
async fn send(
    batches: &mpsc::Sender<Batch>,
    pending: &mut Vec<Record>,
    size: usize,
    stats: &Stats,
    stop: &CancellationToken,
) -> bool {
    if pending.is_empty() {
        return true;
    }
    let batch = Batch {
        records: std::mem::replace(pending, Vec::with_capacity(size)),
        attempts: 0,
    };
    tokio::select! {
        biased;
        _ = stop.cancelled() => false,
        sent = batches.send(batch) => {
            stats.batches.fetch_add(1, Ordering::Relaxed);
            sent.is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(i: u64) -> Item {
        Item::Url(Record {
            source: Arc::from("-"),
            line: i,
            url: format!("https://a.example.com/{i}"),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn full_batches_then_the_rest_at_the_end() {
        let (itx, irx) = mpsc::channel(4);
        let (btx, mut brx) = mpsc::channel(16);
        let (rtx, _rrx) = mpsc::channel(4);
        let stats = Arc::new(Stats::default());
        let task = tokio::spawn(run(
            irx,
            btx,
            rtx,
            3,
            stats.clone(),
            CancellationToken::new(),
        ));
        itx.send((1..=7).map(url).collect()).await.unwrap();
        drop(itx);
        task.await.unwrap();
        let sizes: Vec<usize> = std::iter::from_fn(|| brx.try_recv().ok())
            .map(|b| b.records.len())
            .collect();
        assert_eq!(sizes, [3, 3, 1]);
        assert_eq!(stats.batches.load(Ordering::Relaxed), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_input_sends_its_partial_batch_after_a_second() {
        let (itx, irx) = mpsc::channel(4);
        let (btx, mut brx) = mpsc::channel(16);
        let (rtx, _rrx) = mpsc::channel(4);
        let stats = Arc::new(Stats::default());
        tokio::spawn(run(irx, btx, rtx, 100, stats, CancellationToken::new()));
        let t0 = Instant::now();
        itx.send(vec![url(1), url(2)]).await.unwrap();
        // The input stays open (like `tail -f`), yet the two URLs go out.
        let batch = brx.recv().await.unwrap();
        assert_eq!(batch.records.len(), 2);
        let waited = Instant::now() - t0;
        assert!(
            waited >= MAX_WAIT && waited < MAX_WAIT + Duration::from_millis(10),
            "{waited:?}"
        );
        // A steady trickle does not hold records back longer than that either.
        for i in 3..6 {
            itx.send(vec![url(i)]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        let batch = brx.recv().await.unwrap();
        assert!(batch.records.len() < 4);
        assert_eq!(batch.records[0].line, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn settled_rows_go_straight_to_the_writer() {
        let (itx, irx) = mpsc::channel(4);
        let (btx, _brx) = mpsc::channel(16);
        let (rtx, mut rrx) = mpsc::channel(4);
        tokio::spawn(run(
            irx,
            btx,
            rtx,
            100,
            Arc::new(Stats::default()),
            CancellationToken::new(),
        ));
        let row = Row {
            source: Arc::from("-"),
            line: 1,
            url: "ftp://x".into(),
            status: crate::report::Status::Invalid,
            error_code: Some("InvalidUrl.Scheme".into()),
            error_message: None,
            task_id: None,
            request_id: None,
            attempts: 0,
            finished_at: Arc::from(""),
        };
        itx.send(vec![Item::Settled(Box::new(row.clone())), url(2)])
            .await
            .unwrap();
        assert_eq!(rrx.recv().await.unwrap(), vec![row]);
    }
}
