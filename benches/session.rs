//! Session views: the cost of a session read against a plain view's read
//! of the same key in the same run, for sessions of 10, 100 and 1 000
//! events, and the ingest rate into a source read by a session view against
//! a plain view's.
//!
//! `cargo bench --bench session` (`STRATA_BENCH_SESSION_KEYS=1000` keys
//! per session length is the default). Each key of `events_N` has one
//! session of N events a minute apart (gap 30 min), written in batches of
//! 1 000 (fsync never) and flushed; a read is `as_of` the session's last
//! event, so it scans the whole session (docs/SESSIONS.md: a read costs the
//! session's events plus at most one chunk of 8 gaps).

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark may unwrap: a failure aborts the run"
)]

mod common;

use std::hint::black_box;

use common::store::{env, open};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use strata::format::schema::{KeyValue, Value};
use strata::store::{ReadOptions, RowWrite};

const MINUTE: i64 = 60_000_000;
const LENGTHS: [usize; 3] = [10, 100, 1_000];

fn definitions() -> String {
    let mut d = String::from(
        "[[entities]]\nname = \"user\"\njoin_keys = [{ name = \"user_id\", type = \"int64\" }]\n",
    );
    let features = "features = [{ name = \"page\", type = \"string\" }, { name = \"dwell\", type = \"float64\" }]";
    for n in LENGTHS {
        d.push_str(&format!(
            "[[feature_views]]\nname = \"plain_{n}\"\nentities = [\"user\"]\n{features}\n\
             [[feature_views]]\nname = \"events_{n}\"\nentities = [\"user\"]\n{features}\n\
             [[feature_views]]\nname = \"sessions_{n}\"\nsource = \"events_{n}\"\nsession_gap = \"30m\"\n\
             aggregations = [{{ function = \"count\" }}, {{ function = \"count_distinct\", column = \"page\" }},\n\
             {{ function = \"first\", column = \"page\" }}, {{ function = \"sum\", column = \"dwell\" }},\n\
             {{ function = \"duration\" }}, {{ function = \"is_open\" }}]\n"
        ));
    }
    d
}

/// `keys` sessions of `n` events a minute apart, in time order.
fn events(n: usize, keys: usize) -> Vec<RowWrite> {
    let mut out = Vec::with_capacity(n * keys);
    for i in 0..n {
        for k in 0..keys {
            out.push(RowWrite {
                key: vec![KeyValue::Int64(k as i64)],
                event_ts: i as i64 * MINUTE,
                created_ts: Some(1),
                values: vec![
                    Value::String(format!("page{}", (i * 7 + k) % 13)),
                    Value::Float64(i as f64),
                ],
            });
        }
    }
    out
}

fn reads(c: &mut Criterion) {
    let keys = env("STRATA_BENCH_SESSION_KEYS", 1_000);
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &definitions());
    let mut g = c.benchmark_group("session_read");
    for n in LENGTHS {
        let rows = events(n, keys);
        for chunk in rows.chunks(1_000) {
            store.write(&format!("plain_{n}"), chunk).unwrap();
            store.write(&format!("events_{n}"), chunk).unwrap();
        }
        store.flush().unwrap();
        let at = ReadOptions {
            as_of: Some((n as i64 - 1) * MINUTE),
            known_at: None,
        };
        for view in [format!("plain_{n}"), format!("sessions_{n}")] {
            let mut k = 0i64;
            g.bench_function(&view, |b| {
                b.iter(|| {
                    k = (k + 7919) % keys as i64;
                    black_box(store.get(&view, &[KeyValue::Int64(k)], at).unwrap())
                })
            });
        }
    }
    g.finish();
}

fn ingest(c: &mut Criterion) {
    let keys = env("STRATA_BENCH_SESSION_KEYS", 1_000);
    let n = 100;
    let rows = events(n, keys);
    let mut g = c.benchmark_group("session_ingest");
    g.sample_size(10);
    g.throughput(Throughput::Elements(rows.len() as u64));
    for view in [format!("plain_{n}"), format!("events_{n}")] {
        g.bench_function(&view, |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let store = open(dir.path(), &definitions());
                    (dir, store)
                },
                |(dir, store)| {
                    for chunk in rows.chunks(1_000) {
                        store.write(&view, chunk).unwrap();
                    }
                    (dir, store)
                },
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

criterion_group!(benches, reads, ingest);
criterion_main!(benches);
