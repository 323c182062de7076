//! Windowed aggregations: ingest rate into a view with three windowed
//! aggregations over it, against the same events into a plain view, and
//! the `latest` read of an aggregation view against a plain view's, in the
//! same run.
//!
//! `cargo bench --bench aggregation` (`STRATA_BENCH_AGG_EVENTS=200000` and
//! `STRATA_BENCH_AGG_KEYS=10000` are the defaults). Events arrive in time
//! order over the last day (a stream), in batches of 1 000 written with
//! `Store::write` (fsync never, to measure the engine rather than the
//! disk). The aggregation view computes `count` over 1 h, `sum(amount)`
//! over 1 d and `mean(amount)` over 7 d, with its default tile (5 min).

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark may unwrap: a failure aborts the run"
)]

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::store::{env, events, open};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use strata::format::schema::KeyValue;
use strata::store::{ReadOptions, now_micros};

const DEFS: &str = include_str!("fixtures/aggregation.toml");

fn ingest(c: &mut Criterion) {
    let n = env("STRATA_BENCH_AGG_EVENTS", 200_000);
    let keys = env("STRATA_BENCH_AGG_KEYS", 10_000);
    let rows = events(n, keys, now_micros());
    let mut g = c.benchmark_group("aggregation_ingest");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    for view in ["plain", "txn"] {
        g.bench_function(format!("{view}_{n}_events"), |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let store = open(dir.path(), DEFS);
                    (dir, store)
                },
                |(dir, store)| {
                    for chunk in rows.chunks(1_000) {
                        let s = store.write(view, chunk).unwrap();
                        assert_eq!(s.rejected_late, 0);
                    }
                    (dir, store)
                },
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

fn latest(c: &mut Criterion) {
    let n = env("STRATA_BENCH_AGG_EVENTS", 200_000);
    let keys = env("STRATA_BENCH_AGG_KEYS", 10_000);
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), DEFS);
    let rows = events(n, keys, now_micros());
    for chunk in rows.chunks(1_000) {
        store.write("plain", chunk).unwrap();
        store.write("txn", chunk).unwrap();
    }
    store.flush().unwrap();
    let mut g = c.benchmark_group("aggregation_latest");
    g.measurement_time(Duration::from_secs(5));
    for view in ["plain", "txn_stats"] {
        let mut k = 0i64;
        g.bench_function(view, |b| {
            b.iter(|| {
                k = (k + 7919) % keys as i64;
                black_box(
                    store
                        .get(view, &[KeyValue::Int64(k)], ReadOptions::default())
                        .unwrap(),
                )
            })
        });
    }
    g.finish();
    // Where the aggregation read's time goes, once, for the notes.
    let t = Instant::now();
    let reads = 2_000;
    for i in 0..reads {
        let k = (i * 7919) % keys as i64;
        black_box(
            store
                .get("txn_stats", &[KeyValue::Int64(k)], ReadOptions::default())
                .unwrap(),
        );
    }
    eprintln!(
        "txn_stats latest: {:.1} µs per read over {reads} reads",
        t.elapsed().as_secs_f64() * 1e6 / reads as f64
    );
}

criterion_group!(benches, ingest, latest);
criterion_main!(benches);
