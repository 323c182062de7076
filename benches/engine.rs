//! Criterion benches of the engine's reads and writes.
//!
//! `cargo bench --bench engine` (set `STRATA_BENCH_SIZES=1000000,10000000`
//! for the full sweep; the default is 1 M versions).

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark may unwrap: a failure aborts the run"
)]

mod common;

use std::hint::black_box;

use common::*;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use strata::engine::{Engine, Options, SyncPolicy, WriteBatch};
use strata::format::key::encode_int_key;

fn sizes() -> Vec<u64> {
    std::env::var("STRATA_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000_000])
}

fn reads(c: &mut Criterion) {
    for versions in sizes() {
        let dir = bench_dir(&format!("reads-{versions}"));
        let (engine, keys) = build(&dir, versions);
        // A second view kept in the memtable.
        let mut b = WriteBatch::default();
        let mut buf = Vec::new();
        for k in 0..100_000i64 {
            row(k, 0, &mut buf);
            b.put(VIEW + 1, &encode_int_key(k), T0, T0, &buf).unwrap();
        }
        engine.write(&b).unwrap();

        let mut g = c.benchmark_group(format!("read/{versions}"));
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        g.bench_function("latest_segment_hit", |bch| {
            bch.iter(|| {
                let k = (rng.next() % keys) as i64;
                engine
                    .as_of_with(VIEW, &encode_int_key(k), i64::MAX - 1, None, |v| {
                        black_box(v.map(|x| x.0))
                    })
                    .unwrap()
            })
        });
        g.bench_function("latest_memtable_hit", |bch| {
            bch.iter(|| {
                let k = (rng.next() % 100_000) as i64;
                engine
                    .as_of_with(VIEW + 1, &encode_int_key(k), i64::MAX - 1, None, |v| {
                        black_box(v.map(|x| x.0))
                    })
                    .unwrap()
            })
        });
        g.bench_function("latest_miss", |bch| {
            bch.iter(|| {
                let k = (keys + rng.next() % keys) as i64;
                engine
                    .as_of_with(VIEW, &encode_int_key(k), i64::MAX - 1, None, |v| {
                        black_box(v.is_none())
                    })
                    .unwrap()
            })
        });
        g.bench_function("as_of", |bch| {
            bch.iter(|| {
                let k = (rng.next() % keys) as i64;
                let t = T0 + (rng.next() % 12) as i64 * HOUR;
                engine
                    .as_of_with(VIEW, &encode_int_key(k), t, None, |v| {
                        black_box(v.map(|x| x.0))
                    })
                    .unwrap()
            })
        });
        g.bench_function("history_10_versions", |bch| {
            bch.iter(|| {
                let k = (rng.next() % keys) as i64;
                black_box(
                    engine
                        .history(VIEW, &encode_int_key(k), i64::MIN, i64::MAX, None)
                        .unwrap()
                        .len(),
                )
            })
        });
        g.finish();
    }
}

fn writes(c: &mut Criterion) {
    let mut g = c.benchmark_group("write");
    for (name, sync) in [
        ("batch1000_sync_never", SyncPolicy::Never),
        ("batch1000_sync_always", SyncPolicy::Always),
    ] {
        let dir = bench_dir(&format!("writes-{name}"));
        let engine = Engine::open(
            &dir,
            Options {
                sync,
                ..Options::default()
            },
        )
        .unwrap();
        let mut buf = Vec::new();
        let mut n = 0i64;
        g.throughput(Throughput::Elements(1000));
        g.bench_function(name, |bch| {
            bch.iter_batched(
                || {
                    let mut b = WriteBatch::default();
                    for _ in 0..1000 {
                        n += 1;
                        row(n, 0, &mut buf);
                        b.put(VIEW, &encode_int_key(n % 1_000_000), T0 + n, T0 + n, &buf)
                            .unwrap();
                    }
                    b
                },
                |b| engine.write(&b).unwrap(),
                BatchSize::SmallInput,
            )
        });
        drop::<Engine>(engine);
    }
    g.finish();
}

criterion_group!(benches, reads, writes);
criterion_main!(benches);
