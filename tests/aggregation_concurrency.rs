//! Tiles stay equal to the events under concurrency: two writers push events
//! of a few keys while another thread deletes keys (and flushes) during the
//! first part of the run; at the end every window of every key, read from
//! tiles, equals the count and sum recomputed from the source's stored
//! events. (Without the store's tile lock around deletes, a delete landing
//! between a tile's read and its write leaves deleted events in the tile.)

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use strata::engine::{Options, SyncPolicy};
use strata::format::schema::{KeyValue, Value};
use strata::store::{ReadOptions, RowWrite, Store, StoreOptions};

const DEFS: &str = include_str!("fixtures/aggregation-concurrency.toml");

const KEYS: i64 = 16;

#[test]
fn tiles_match_events_after_concurrent_writes_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Options {
        sync: SyncPolicy::Never,
        memtable_bytes: 64 << 10,
        ..Options::default()
    };
    let store = Arc::new(Store::open_with(dir.path(), StoreOptions { engine }).unwrap());
    common::stores::apply(&store, DEFS);
    let ts = Arc::new(AtomicI64::new(0));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (store, ts) = (store.clone(), ts.clone());
            std::thread::spawn(move || {
                for i in 0..1500i64 {
                    let rows: Vec<RowWrite> = (0..KEYS)
                        .map(|j| RowWrite {
                            key: vec![KeyValue::Int64(j)],
                            event_ts: ts.fetch_add(1, Ordering::Relaxed) % 700,
                            created_ts: Some(w * 1_000_000 + i * 100 + j),
                            values: vec![Value::Int64(j + 1)],
                        })
                        .collect();
                    store.write("events", &rows).unwrap();
                }
            })
        })
        .collect();
    // Each key is deleted once while the writers are busy (every batch
    // holds every key), spread over the first half of their writes.
    let deleter = {
        let (store, ts) = (store.clone(), ts.clone());
        std::thread::spawn(move || {
            for k in 0..KEYS {
                let at = (k + 1) * 2 * 750 * KEYS / (KEYS + 1);
                while ts.load(Ordering::Relaxed) < at {
                    std::thread::yield_now();
                }
                store.delete("user", &[KeyValue::Int64(k)]).unwrap();
                if k % 4 == 3 {
                    store.flush().unwrap();
                }
            }
        })
    };
    deleter.join().unwrap();
    for w in writers {
        w.join().unwrap();
    }

    for key in 0..KEYS {
        let events = store
            .history(
                "events",
                &[KeyValue::Int64(key)],
                i64::MIN,
                i64::MAX - 1,
                None,
            )
            .unwrap();
        for at in [50, 333, 699, 1000, 1500] {
            let inside: Vec<i64> = events
                .iter()
                .filter(|e| e.event_ts > at - 1000 && e.event_ts <= at)
                .map(|e| match e.values[0] {
                    Value::Int64(n) => n,
                    _ => 0,
                })
                .collect();
            let row = store
                .get(
                    "stats",
                    &[KeyValue::Int64(key)],
                    ReadOptions {
                        as_of: Some(at),
                        known_at: None,
                    },
                )
                .unwrap();
            if events.iter().all(|e| e.event_ts > at) {
                continue; // NOT_FOUND: nothing to compare
            }
            assert_eq!(
                row.values[0],
                Value::Int64(inside.len() as i64),
                "key {key} at {at}"
            );
            let sum = inside.iter().sum::<i64>() as f64;
            let want = if inside.is_empty() {
                Value::Null
            } else {
                Value::Float64(sum)
            };
            assert_eq!(row.values[1], want, "key {key} at {at}");
        }
    }
}
