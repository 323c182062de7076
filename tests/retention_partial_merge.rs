//! Retention applied by a merge that is not the oldest: dropping a key's
//! newest expired version from a run of newer segments must not let an older,
//! superseded version in an older segment become the answer again.
//!
//! Found while specifying the format (docs/FORMAT.md); see the report of the
//! test `retention_in_a_partial_merge_never_resurrects_a_superseded_version`.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
use std::collections::HashMap;
use std::time::{Duration, Instant};

use strata::engine::{
    Clock, CompactionOptions, Engine, Options, SyncPolicy, ViewPolicy, WriteBatch,
};
use strata::format::key::encode_int_key;

const VIEW: u32 = 7;
const NOW: i64 = 1_000_000_000;
const RETENTION: i64 = 1_000;

fn put(engine: &Engine, key: i64, event_ts: i64, row: &[u8]) {
    let mut b = WriteBatch::default();
    b.put(VIEW, &encode_int_key(key), event_ts, event_ts, row)
        .unwrap();
    engine.write(&b).unwrap();
}

/// `n` fresh (unexpired) versions of other keys, then a flush: one segment.
fn fill_and_flush(engine: &Engine, first_key: i64, n: i64) {
    let mut b = WriteBatch::default();
    for k in first_key..first_key + n {
        b.put(VIEW, &encode_int_key(k), NOW, NOW, b"filler row")
            .unwrap();
    }
    engine.write(&b).unwrap();
    engine.flush().unwrap();
}

fn row_of(engine: &Engine, key: i64) -> Option<String> {
    engine
        .latest(VIEW, &encode_int_key(key), None)
        .unwrap()
        .map(|v| String::from_utf8(v.row).unwrap())
}

#[test]
fn retention_in_a_partial_merge_never_resurrects_a_superseded_version() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = Options {
        sync: SyncPolicy::Never,
        clock: Clock::new(|| NOW),
        compaction: CompactionOptions {
            background: true,
            min_merge: 4,
            size_ratio: 1.0,
            ..CompactionOptions::default()
        },
        ..Options::default()
    };
    let engine = Engine::open(tmp.path(), opts).unwrap();
    engine.set_view_policies(HashMap::from([(
        VIEW,
        ViewPolicy {
            retention: Some(RETENTION),
            max_versions: None,
        },
    )]));

    // Key 1: version A (event 10) in an old, large segment; version B
    // (event 20) in a newer, small one. Both are older than NOW - RETENTION.
    put(&engine, 1, 10, b"A");
    fill_and_flush(&engine, 1_000, 2_000);
    put(&engine, 1, 20, b"B");
    fill_and_flush(&engine, 10_000, 50);
    fill_and_flush(&engine, 10_100, 51);
    fill_and_flush(&engine, 10_200, 51);
    assert_eq!(engine.stats().segments, 4);
    assert_eq!(engine.stats().compactions, 0);
    assert_eq!(row_of(&engine, 1).as_deref(), Some("B"));

    // A fourth small segment: the size-tiered policy merges the four small
    // segments (not the old one, so the merge is not at the bottom).
    fill_and_flush(&engine, 20_000, 80);
    let deadline = Instant::now() + Duration::from_secs(20);
    while engine.stats().compactions == 0 {
        assert!(Instant::now() < deadline, "setup: no compaction ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        engine.stats().segments,
        2,
        "setup: expected the four small segments merged above the old one"
    );

    // B may be kept, or dropped with every older version of the key; but A
    // was superseded by B and must never be the answer again.
    let got = row_of(&engine, 1);
    assert_ne!(
        got.as_deref(),
        Some("A"),
        "after a partial merge dropped the expired B, latest went back to the superseded A"
    );
}
