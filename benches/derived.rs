//! What a derived feature adds to a lookup: a lookup of the three windowed
//! aggregations of `txn_stats` for a batch of keys, against the same
//! lookup with the two derived features of `txn_derived` (over those
//! aggregations and a request value) added, in the same run; printed as a
//! ratio (the target: ≤ 1.10): the median of the ratios of many
//! interleaved pairs (one batch of keys without, the same batch with).
//!
//! `cargo bench --bench derived` (`STRATA_BENCH_DERIVED_EVENTS=100000`,
//! `STRATA_BENCH_DERIVED_KEYS=10000`, `STRATA_BENCH_DERIVED_BATCH=64`,
//! `STRATA_BENCH_DERIVED_ROUNDS=100` (rounds of pairs over the 64 batches)
//! are the defaults). The store is the aggregation bench's (benches/fixtures/
//! aggregation.toml, events in time order over the last day, fsync never)
//! plus the derived view of benches/fixtures/derived.toml.

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark may unwrap: a failure aborts the run"
)]

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::store::{env, events, open};
use criterion::{Criterion, criterion_group, criterion_main};
use strata::format::protocol as p;
use strata::store::{Store, now_micros};

const DEFS: &str = include_str!("fixtures/derived.toml");

fn store(dir: &std::path::Path, events_n: usize, keys: usize) -> Store {
    let store = open(dir, DEFS);
    let rows = events(events_n, keys, now_micros());
    for chunk in rows.chunks(1_000) {
        store.write("txn", chunk).unwrap();
    }
    store.flush().unwrap();
    store
}

fn request(features: &[&str], keys: &[i64], with_request: bool) -> p::LookupRequest {
    p::LookupRequest {
        features: features.iter().map(|f| f.to_string()).collect(),
        entities: vec![p::KeyColumn {
            name: "user_id".into(),
            values: p::KeyColumnValues::Int64(keys.to_vec()),
        }],
        request: if with_request {
            vec![p::RequestColumn {
                name: "txn_amount".into(),
                values: keys
                    .iter()
                    .map(|k| Some(format!("{}.5", k % 100)))
                    .collect(),
            }]
        } else {
            Vec::new()
        },
        ..Default::default()
    }
}

fn lookup(c: &mut Criterion) {
    let events = env("STRATA_BENCH_DERIVED_EVENTS", 100_000);
    let keys = env("STRATA_BENCH_DERIVED_KEYS", 10_000) as i64;
    let batch = env("STRATA_BENCH_DERIVED_BATCH", 64);
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), events, keys as usize);
    let batches: Vec<Vec<i64>> = (0..64)
        .map(|b| {
            (0..batch as i64)
                .map(|i| (b * 7919 + i * 104_729) % keys)
                .collect()
        })
        .collect();
    let base: Vec<p::LookupRequest> = batches
        .iter()
        .map(|k| request(&["txn_stats:*"], k, false))
        .collect();
    let with: Vec<p::LookupRequest> = batches
        .iter()
        .map(|k| request(&["txn_stats:*", "txn_derived:*"], k, true))
        .collect();
    let mut g = c.benchmark_group("derived_lookup");
    g.measurement_time(Duration::from_secs(5));
    for (name, reqs) in [("aggregations", &base), ("aggregations_and_derived", &with)] {
        let mut i = 0;
        g.bench_function(format!("{name}_{batch}_keys"), |b| {
            b.iter(|| {
                i = (i + 1) % reqs.len();
                black_box(store.lookup(&reqs[i]).unwrap())
            })
        });
    }
    g.finish();
    // The ratio, measured interleaved in this run: each batch of keys is
    // looked up without, then with the derived features (or the other way
    // round: pairs alternate which goes first, so drift and cache warmth
    // fall on both alike), and the pairs' ratios are summarised by their
    // median and quartiles, so that a pair slowed by the machine's other
    // work moves neither much.
    let rounds = env("STRATA_BENCH_DERIVED_ROUNDS", 100);
    let time = |q: &p::LookupRequest| {
        let t = Instant::now();
        black_box(store.lookup(q).unwrap());
        t.elapsed()
    };
    // Warm-up: one round of each.
    for (b, w) in base.iter().zip(&with) {
        time(b);
        time(w);
    }
    let (mut t_base, mut t_with) = (Duration::ZERO, Duration::ZERO);
    let mut ratios = Vec::with_capacity(rounds * base.len());
    for r in 0..rounds {
        for (i, (qb, qw)) in base.iter().zip(&with).enumerate() {
            let (b, w) = if (r + i) % 2 == 0 {
                let b = time(qb);
                (b, time(qw))
            } else {
                let w = time(qw);
                (time(qb), w)
            };
            t_base += b;
            t_with += w;
            ratios.push(w.as_secs_f64() / b.as_secs_f64());
        }
    }
    ratios.sort_by(f64::total_cmp);
    let q = |f: f64| ratios[((ratios.len() - 1) as f64 * f).round() as usize];
    let n = (rounds * base.len() * batch) as f64;
    eprintln!(
        "derived lookup: {:.2} µs per key without, {:.2} µs with the derived features; \
         ratio over {} interleaved pairs: median {:.3} (quartiles {:.3}-{:.3}), \
         total {:.3} (target ≤ 1.10)",
        t_base.as_secs_f64() * 1e6 / n,
        t_with.as_secs_f64() * 1e6 / n,
        ratios.len(),
        q(0.5),
        q(0.25),
        q(0.75),
        t_with.as_secs_f64() / t_base.as_secs_f64()
    );
}

criterion_group!(benches, lookup);
criterion_main!(benches);
