//! `Engine::as_of_many` against `Engine::as_of` key by key: random
//! histories (rewrites, out-of-order versions, deletes) spread over the
//! memtable, sealed memtables and several segments (segment formats 1 and
//! 2, with and without hash indexes, plain and zstd blocks), then batches
//! of random keys with duplicates and missing keys, at random times and
//! `known_at`, some longer than the batch's chunk (64 keys), and a batched
//! read started from inside another's callback.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
use proptest::prelude::*;
use strata::engine::{
    CompactionOptions, Engine, KeyBatch, Options, SyncPolicy, Version, WriteBatch,
};
use strata::format::key::encode_int_key;
use strata::format::segment::SegmentOptions;

const VIEW: u32 = 3;

#[derive(Debug, Clone)]
enum Op {
    /// `(key, event_ts, created_ts, row byte)`
    Put(Vec<(u8, i64, i64, u8)>),
    Delete(u8),
    Flush,
}

fn op() -> impl Strategy<Value = Op> {
    // Created times often repeat, so that versions of the same identity
    // (rewrites) sit in several sources: the newer source must win.
    let put = (
        0u8..40,
        0i64..50,
        prop_oneof![0i64..3, 0i64..50],
        any::<u8>(),
    );
    prop_oneof![
        6 => prop::collection::vec(put, 1..12).prop_map(Op::Put),
        1 => (0u8..40).prop_map(Op::Delete),
        2 => Just(Op::Flush),
    ]
}

fn options(zstd: bool, format_version: u32) -> Options {
    Options {
        sync: SyncPolicy::Never,
        memtable_bytes: 800,
        segment: SegmentOptions {
            block_size: 160,
            restart_interval: 3,
            zstd_level: zstd.then_some(1),
            format_version,
            ..SegmentOptions::default()
        },
        compaction: CompactionOptions {
            min_merge: 3,
            max_segments: 6,
            stall_segments: 12,
            ..CompactionOptions::default()
        },
        ..Options::default()
    }
}

fn key(k: u8) -> [u8; 8] {
    encode_int_key(i64::from(k))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn batched_reads_equal_single_reads(
        ops in prop::collection::vec(op(), 1..40),
        reads in prop::collection::vec((prop::collection::vec(0u8..48, 0..150), 0i64..60, prop::option::of(0i64..60)), 1..6),
        zstd in any::<bool>(),
        format_version in 1u32..=2,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), options(zstd, format_version)).unwrap();
        for op in &ops {
            match op {
                Op::Put(rows) => {
                    let mut b = WriteBatch::default();
                    for &(k, e, c, r) in rows {
                        b.put(VIEW, &key(k), e, c, &[r; 5]).unwrap();
                    }
                    engine.write(&b).unwrap();
                }
                Op::Delete(k) => {
                    let mut b = WriteBatch::default();
                    b.delete(VIEW, &key(*k)).unwrap();
                    engine.write(&b).unwrap();
                }
                Op::Flush => engine.flush().unwrap(),
            }
        }
        for (keys, t, known_at) in &reads {
            let mut batch = KeyBatch::new();
            for &k in keys {
                batch.push(&key(k));
            }
            let mut got: Vec<Option<Version>> = Vec::new();
            engine
                .as_of_many(VIEW, &batch, *t, *known_at, |i, v| {
                    assert_eq!(i, got.len(), "answers in key order");
                    got.push(v.map(|(event_ts, created_ts, row)| Version {
                        event_ts,
                        created_ts,
                        row: row.to_vec(),
                    }));
                })
                .unwrap();
            let want: Vec<Option<Version>> = keys
                .iter()
                .map(|&k| engine.as_of(VIEW, &key(k), *t, *known_at).unwrap())
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}

/// A callback that starts another batched read on the same thread (whose
/// per-thread buffers are in use) gets the same answers.
#[test]
fn a_batched_read_inside_another_answers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), options(false, 2)).unwrap();
    let mut b = WriteBatch::default();
    for k in 0..100u8 {
        b.put(VIEW, &key(k), i64::from(k), 0, &[k; 5]).unwrap();
    }
    engine.write(&b).unwrap();
    engine.flush().unwrap();
    let mut batch = KeyBatch::new();
    for k in (0..120u8).rev() {
        batch.push(&key(k));
    }
    let read = |batch: &KeyBatch| {
        let mut got = Vec::new();
        engine
            .as_of_many(VIEW, batch, 1000, None, |_, v| {
                got.push(v.map(|(e, _, row)| (e, row.to_vec())));
            })
            .unwrap();
        got
    };
    let want = read(&batch);
    assert_eq!(want[20], Some((99, vec![99; 5])));
    assert_eq!(want[0], None);
    let mut outer = Vec::new();
    let mut inner = Vec::new();
    engine
        .as_of_many(VIEW, &batch, 1000, None, |i, v| {
            outer.push(v.map(|(e, _, row)| (e, row.to_vec())));
            if i == 70 {
                inner = read(&batch);
            }
        })
        .unwrap();
    assert_eq!(outer, want);
    assert_eq!(inner, want);
}
