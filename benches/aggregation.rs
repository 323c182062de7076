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
    // The same reads timed by the CPU time of this thread, alternating the
    // views in rounds: on a loaded machine the wall clock counts the time
    // other processes hold the CPU, the thread's CPU time does not.
    if thread_cpu_ns().is_none() {
        return;
    }
    let mut per_view = [0u64; 2];
    for _ in 0..10 {
        for (v, view) in ["plain", "txn_stats"].into_iter().enumerate() {
            let t0 = thread_cpu_ns().unwrap_or(0);
            for i in 0..reads {
                let k = (i * 7919) % keys as i64;
                black_box(
                    store
                        .get(view, &[KeyValue::Int64(k)], ReadOptions::default())
                        .unwrap(),
                );
            }
            per_view[v] += thread_cpu_ns().unwrap_or(0).saturating_sub(t0);
        }
    }
    let us = |ns: u64| ns as f64 / 1e3 / (10 * reads) as f64;
    eprintln!(
        "latest, thread CPU time per read (10 alternating rounds of {reads}): plain {:.2} µs, \
         txn_stats {:.2} µs, ratio {:.2}",
        us(per_view[0]),
        us(per_view[1]),
        per_view[1] as f64 / per_view[0].max(1) as f64
    );
}

/// Nanoseconds this thread has run on a CPU (Linux `schedstat`).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// User + system CPU time of this process, every thread's, in clock ticks
/// (Linux `/proc/self/stat`).
fn process_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses): utime and
    // stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The ingest of both views timed by the process's CPU time (its
/// background threads' too), alternating the views over rounds: the ratio
/// of the rates, robust to the CPU time other processes take.
fn ingest_cpu(_: &mut Criterion) {
    if process_cpu_ticks().is_none() {
        return;
    }
    let n = env("STRATA_BENCH_AGG_EVENTS", 200_000);
    let keys = env("STRATA_BENCH_AGG_KEYS", 10_000);
    let rows = events(n, keys, now_micros());
    let rounds = 3;
    let mut ticks = [0u64; 2];
    for _ in 0..rounds {
        for (v, view) in ["plain", "txn"].into_iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let store = open(dir.path(), DEFS);
            let t0 = process_cpu_ticks().unwrap_or(0);
            for chunk in rows.chunks(1_000) {
                store.write(view, chunk).unwrap();
            }
            store.flush().unwrap();
            drop(store);
            ticks[v] += process_cpu_ticks().unwrap_or(0).saturating_sub(t0);
        }
    }
    eprintln!(
        "ingest, process CPU ticks for {rounds} alternating rounds of {n} events (flush included): \
         plain {}, txn {}, rate ratio {:.2}",
        ticks[0],
        ticks[1],
        ticks[0] as f64 / ticks[1].max(1) as f64
    );
}

criterion_group!(benches, ingest, ingest_cpu, latest);
criterion_main!(benches);
