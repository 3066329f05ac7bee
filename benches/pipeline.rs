//! The input pipeline: CSV records → validated, deduplicated URLs.
//!
//! `cargo bench --bench pipeline` (throughput in records per second).

use std::sync::Arc;

use cdn_unblock::dedup::Dedup;
use cdn_unblock::input::{self, CsvOptions, Input, InputFormat, Item, ReadJob};
use cdn_unblock::stats::Stats;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio_util::sync::CancellationToken;

const RECORDS: usize = 100_000;

fn csv(records: usize) -> &'static [u8] {
    let mut text = String::from("url,blocked_at,ticket\n");
    for i in 0..records {
        text.push_str(&format!(
            "https://static{}.example.com/img/{:03}/{i:09}.jpg,2026-11-27T{:02}:00:00Z,INC-{}\n",
            i % 7,
            i % 997,
            i % 24,
            4000 + i / 10_000
        ));
    }
    Box::leak(text.into_bytes().into_boxed_slice())
}

/// Read everything, draining the channel on another thread; returns the URLs.
fn read(data: &'static [u8]) -> usize {
    let sources = input::open(
        &Input::Embedded {
            name: "bench.csv",
            data,
        },
        InputFormat::Auto,
    )
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Item>>(8);
    let drain = std::thread::spawn(move || {
        let mut urls = 0;
        while let Some(chunk) = rx.blocking_recv() {
            urls += chunk.iter().filter(|i| matches!(i, Item::Url(_))).count();
        }
        urls
    });
    let job = ReadJob {
        sources,
        csv: CsvOptions::default(),
        dedup: Dedup::new(),
        resume: None,
        stats: Arc::new(Stats::default()),
        stop: CancellationToken::new(),
    };
    input::read_all(job, tx).unwrap();
    drain.join().unwrap()
}

fn bench(c: &mut Criterion) {
    let data = csv(RECORDS);
    assert_eq!(read(data), RECORDS);
    let mut group = c.benchmark_group("input pipeline");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.sample_size(20);
    group.bench_function("read, validate and deduplicate 100k CSV records", |b| {
        b.iter(|| read(data))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
