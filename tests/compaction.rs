//! Compaction: the policy bounds the segment count, and merges apply
//! deletes, retention and max_versions without changing any other answer.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use strata::engine::{
    Clock, CompactionOptions, Engine, Options, SyncPolicy, ViewPolicy, WriteBatch,
};
use strata::format::key::encode_int_key;

const HOUR: i64 = 3_600_000_000;

fn options(compaction: CompactionOptions, clock: Clock) -> Options {
    Options {
        sync: SyncPolicy::Never,
        memtable_bytes: 1 << 20,
        compaction,
        clock,
        ..Options::default()
    }
}

fn put(e: &Engine, view: u32, key: i64, event: i64, created: i64) {
    let mut b = WriteBatch::default();
    b.put(
        view,
        &encode_int_key(key),
        event,
        created,
        format!("{view}/{key}/{event}/{created}").as_bytes(),
    )
    .unwrap();
    e.write(&b).unwrap();
}

fn history(e: &Engine, view: u32, key: i64) -> Vec<(i64, i64)> {
    e.history(view, &encode_int_key(key), i64::MIN, i64::MAX, None)
        .unwrap()
        .iter()
        .map(|v| (v.event_ts, v.created_ts))
        .collect()
}

fn segment_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("segments")).unwrap().count()
}

#[test]
fn the_policy_bounds_segments_and_keeps_every_version() {
    let dir = tempfile::tempdir().unwrap();
    let manual = common::stores::no_background();
    let e = Engine::open(dir.path(), options(manual, Clock::default())).unwrap();
    for round in 0..30i64 {
        for k in 0..50 {
            put(&e, 1, k, round * HOUR, round);
        }
        e.flush().unwrap();
    }
    assert_eq!(e.stats().segments, 30);
    let merges = e.compact_as_needed().unwrap();
    let st = e.stats();
    assert!(merges > 0);
    assert!(
        st.segments <= manual.max_segments,
        "{} segments after compaction",
        st.segments
    );
    assert_eq!(
        segment_files(dir.path()),
        st.segments,
        "replaced files are removed"
    );
    for k in 0..50 {
        let want: Vec<_> = (0..30).rev().map(|r| (r * HOUR, r)).collect();
        assert_eq!(history(&e, 1, k), want);
    }
    drop(e);
    let e = Engine::open(dir.path(), options(manual, Clock::default())).unwrap();
    assert_eq!(
        history(&e, 1, 7).len(),
        30,
        "the manifest lists the merged segments"
    );
}

#[test]
fn background_compaction_keeps_up() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(CompactionOptions::default(), Clock::default());
    let e = Engine::open(dir.path(), opts).unwrap();
    for round in 0..40i64 {
        for k in 0..20 {
            put(&e, 1, k, round, round);
        }
        e.flush().unwrap();
    }
    // Flushes stall at `stall_segments`, so the count stays bounded however fast we flush.
    assert!(e.stats().segments < CompactionOptions::default().stall_segments + 1);
    e.compact_as_needed().unwrap();
    assert!(e.stats().segments <= CompactionOptions::default().max_segments);
    assert!(e.stats().compactions > 0);
    assert_eq!(history(&e, 1, 3).len(), 40);
}

#[test]
fn deletes_and_tombstones_are_dropped_at_the_bottom() {
    let dir = tempfile::tempdir().unwrap();
    let manual = common::stores::no_background();
    let e = Engine::open(dir.path(), options(manual, Clock::default())).unwrap();
    for k in 0..10 {
        put(&e, 1, k, 10, 1);
        put(&e, 2, k, 10, 1);
    }
    e.flush().unwrap();
    let mut b = WriteBatch::default();
    for k in 0..5 {
        b.delete(1, &encode_int_key(k)).unwrap();
    }
    e.write(&b).unwrap();
    put(&e, 1, 0, 5, 2); // written after the delete: stays
    e.flush().unwrap();
    let before = e.stats().segment_bytes;
    let stats = e.compact().unwrap();
    assert_eq!(stats.inputs, 2);
    assert!(
        stats.entries_dropped >= 10,
        "5 versions and 5 tombstones dropped, got {}",
        stats.entries_dropped
    );
    assert!(e.stats().segment_bytes < before);
    assert_eq!(history(&e, 1, 0), vec![(5, 2)]);
    for k in 1..5 {
        assert!(history(&e, 1, k).is_empty());
    }
    for k in 5..10 {
        assert_eq!(history(&e, 1, k), vec![(10, 1)]);
    }
    for k in 0..10 {
        assert_eq!(
            history(&e, 2, k),
            vec![(10, 1)],
            "other views keep their versions"
        );
    }
    // Nothing is left to drop: a second compaction of one tombstone-free segment is a no-op.
    assert_eq!(e.compact().unwrap().inputs, 0);
}

#[test]
fn retention_and_max_versions_prune_history() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(100 * HOUR));
    let clock = {
        let now = now.clone();
        Clock::new(move || now.load(Ordering::SeqCst))
    };
    let manual = common::stores::no_background();
    let e = Engine::open(dir.path(), options(manual, clock)).unwrap();
    for h in 0..100 {
        put(&e, 1, 1, h * HOUR, h);
        put(&e, 2, 1, h * HOUR, h);
        put(&e, 3, 1, h * HOUR, h);
    }
    e.flush().unwrap();
    let policies = HashMap::from([
        (
            1,
            ViewPolicy {
                retention: Some(24 * HOUR),
                max_versions: None,
            },
        ),
        (
            2,
            ViewPolicy {
                retention: None,
                max_versions: Some(3),
            },
        ),
    ]);
    e.set_view_policies(policies);
    e.compact().unwrap();
    let kept = history(&e, 1, 1);
    assert_eq!(
        kept.len(),
        24,
        "event times 76h..=99h: the cutoff 100h - 24h is kept"
    );
    assert_eq!(kept.last(), Some(&(76 * HOUR, 76)));
    assert_eq!(
        history(&e, 2, 1),
        vec![(99 * HOUR, 99), (98 * HOUR, 98), (97 * HOUR, 97)]
    );
    assert_eq!(
        history(&e, 3, 1).len(),
        100,
        "a view without a policy keeps everything"
    );
    // Time passes: the next compaction drops what aged out since.
    now.store(110 * HOUR, Ordering::SeqCst);
    e.compact().unwrap();
    assert_eq!(history(&e, 1, 1).len(), 14, "86h..=99h");
}
