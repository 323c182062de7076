//! A warm `latest` / `as_of` lookup allocates nothing, nor does a warm
//! batched read (`Engine::as_of_many`): counted with a global allocator,
//! over segment hits, memtable hits and misses.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use strata::engine::{Engine, KeyBatch, Options, SyncPolicy, WriteBatch};
use strata::format::key::encode_int_key;

use counting_alloc::allocations;

#[test]
fn warm_lookups_do_not_allocate() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(
        dir.path(),
        Options {
            sync: SyncPolicy::Never,
            ..Options::default()
        },
    )
    .unwrap();
    let mut b = WriteBatch::default();
    for k in 0..2000i64 {
        for e in 0..3 {
            b.put(1, &encode_int_key(k), e * 10, e, &[k as u8; 40])
                .unwrap();
        }
    }
    engine.write(&b).unwrap();
    engine.flush().unwrap();
    // A second view stays in the memtable.
    let mut b = WriteBatch::default();
    for k in 0..2000i64 {
        b.put(2, &encode_int_key(k), 5, 5, &[1; 40]).unwrap();
    }
    engine.write(&b).unwrap();

    let mut found = 0u64;
    let mut lookup = |view: u32, k: i64, t: i64| {
        engine
            .as_of_with(view, &encode_int_key(k), t, None, |v| {
                if let Some((_, _, row)) = v {
                    found += row.len() as u64;
                }
            })
            .unwrap()
    };
    // Warm-up: every path once (a reader's reusable buffers grow here).
    for k in 0..4000 {
        lookup(1, k, i64::MAX - 1);
        lookup(1, k, 15);
        lookup(2, k, i64::MAX - 1);
    }
    let before = allocations();
    for k in 0..4000 {
        lookup(1, k, i64::MAX - 1); // segment hits, then misses (k >= 2000)
        lookup(1, k, 15); // as_of, one version back
        lookup(2, k, i64::MAX - 1); // memtable hits and misses
    }
    let during = allocations() - before;
    assert!(found > 0);
    assert_eq!(during, 0, "{during} allocations in 12000 warm lookups");

    // Batches of 100 keys (more than a chunk), half of them absent.
    let batches: Vec<KeyBatch> = (0..40)
        .map(|b| {
            let mut keys = KeyBatch::new();
            for k in 0..100 {
                keys.push(&encode_int_key(b * 100 + k));
            }
            keys
        })
        .collect();
    let mut batched = |view: u32, t: i64| {
        for keys in &batches {
            engine
                .as_of_many(view, keys, t, None, |_, v| {
                    if let Some((_, _, row)) = v {
                        found += row.len() as u64;
                    }
                })
                .unwrap();
        }
    };
    for pass in 0..2 {
        let before = allocations();
        batched(1, i64::MAX - 1); // segment hits and misses
        batched(1, 15); // as_of, one version back (the checked path)
        batched(2, i64::MAX - 1); // memtable hits and misses
        let during = allocations() - before;
        // The first pass warms the per-thread buffers.
        if pass == 1 {
            assert_eq!(during, 0, "{during} allocations in 120 warm batches");
        }
    }
    // The counter does see allocations: `latest` copies the row out.
    let before = allocations();
    assert!(
        engine
            .latest(1, &encode_int_key(7), None)
            .unwrap()
            .is_some()
    );
    assert!(allocations() > before);
}
