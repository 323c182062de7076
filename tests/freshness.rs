//! The engine's freshness per view, with an injected clock: what writes and
//! bulk ingests record, that it is visible once `write` returns (the
//! watermark other code relies on), that a reopen keeps the newest event
//! time and the last write time exactly, and what recovery after a crash
//! rebuilds from the WAL.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use strata::engine::{Clock, Engine, Options, SyncPolicy, WriteBatch};
use strata::format::key::{encode_int_key, internal_key};
use strata::format::segment::EntryKind;

const SEC: i64 = 1_000_000;
/// A start time on a minute boundary.
const T0: i64 = 1_000 * 60 * SEC;

struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn new(t: i64) -> TestClock {
        TestClock(Arc::new(AtomicI64::new(t)))
    }

    fn set(&self, t: i64) {
        self.0.store(t, Ordering::SeqCst);
    }

    fn clock(&self) -> Clock {
        let c = self.0.clone();
        Clock::new(move || c.load(Ordering::SeqCst))
    }
}

fn opts(clock: &TestClock) -> Options {
    Options {
        sync: SyncPolicy::Always,
        clock: clock.clock(),
        ..Options::default()
    }
}

fn put(e: &Engine, view: u32, rows: &[(i64, i64)]) {
    let mut b = WriteBatch::default();
    for &(k, event_ts) in rows {
        b.put(view, &encode_int_key(k), event_ts, 1, b"row")
            .unwrap();
    }
    e.write(&b).unwrap();
}

/// A new engine in a tempdir on a test clock set to `T0`.
fn at_t0() -> (tempfile::TempDir, TestClock, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new(T0);
    let e = Engine::open(dir.path(), opts(&clock)).unwrap();
    (dir, clock, e)
}

#[test]
fn writes_record_freshness_and_a_reopen_keeps_it() {
    let (dir, clock, e) = at_t0();
    assert_eq!(e.clock().now(), T0);
    assert!(e.freshness(1).is_none());

    put(&e, 1, &[(1, 300 * SEC), (2, 100 * SEC), (3, 200 * SEC)]);
    let f = e.freshness(1).unwrap();
    assert_eq!(f.newest_event_ts, 300 * SEC);
    assert_eq!(f.last_write_micros, T0);
    assert_eq!(
        (f.rows_since_open, f.rows_last_minute, f.rows_last_hour),
        (3, 3, 3)
    );

    // A late write with an older event time does not lower the newest one,
    // but is the last write.
    clock.set(T0 + 30 * SEC);
    put(&e, 1, &[(4, 50 * SEC), (5, 60 * SEC)]);
    // A delete is no row.
    let mut b = WriteBatch::default();
    b.delete(2, &encode_int_key(1)).unwrap();
    e.write(&b).unwrap();
    assert!(e.freshness(2).is_none(), "a tombstone is not data");
    let f = e.freshness(1).unwrap();
    assert_eq!(f.newest_event_ts, 300 * SEC);
    assert_eq!(f.last_write_micros, T0 + 30 * SEC);
    assert_eq!(f.rows_since_open, 5);

    // Rates follow the clock: 10-second steps, a minute, an hour.
    clock.set(T0 + 55 * SEC);
    assert_eq!(e.freshness(1).unwrap().rows_last_minute, 5);
    clock.set(T0 + 60 * SEC);
    assert_eq!(e.freshness(1).unwrap().rows_last_minute, 2);
    clock.set(T0 + 3_600 * SEC);
    let f = e.freshness(1).unwrap();
    assert_eq!((f.rows_last_minute, f.rows_last_hour), (0, 2));
    clock.set(T0 + 3_630 * SEC);
    assert_eq!(e.freshness(1).unwrap().rows_last_hour, 0);
    assert_eq!(e.freshness(1).unwrap().rows_since_open, 5);

    // A flush writes the marks into the manifest; later writes are kept by
    // the clean close.
    e.flush().unwrap();
    clock.set(T0 + 4_000 * SEC);
    put(&e, 3, &[(1, -5)]);
    let all = e.freshness_all();
    assert_eq!(all.iter().map(|(v, _)| *v).collect::<Vec<_>>(), [1, 3]);
    drop(e);

    clock.set(T0 + 9_000 * SEC);
    let e = Engine::open(dir.path(), opts(&clock)).unwrap();
    let f = e.freshness(1).unwrap();
    assert_eq!(f.newest_event_ts, 300 * SEC);
    assert_eq!(f.last_write_micros, T0 + 30 * SEC);
    assert_eq!(
        (f.rows_since_open, f.rows_last_minute, f.rows_last_hour),
        (0, 0, 0),
        "rates count since open"
    );
    let f = e.freshness(3).unwrap();
    assert_eq!(
        (f.newest_event_ts, f.last_write_micros),
        (-5, T0 + 4_000 * SEC)
    );

    // Reopening again (nothing written) changes nothing.
    drop(e);
    let e = Engine::open(dir.path(), opts(&clock)).unwrap();
    assert_eq!(e.freshness(3).unwrap().last_write_micros, T0 + 4_000 * SEC);
    assert_eq!(e.freshness(1).unwrap().newest_event_ts, 300 * SEC);
}

#[test]
fn a_bulk_ingest_records_its_views() {
    let (dir, clock, e) = at_t0();
    put(&e, 7, &[(1, 10 * SEC)]);
    clock.set(T0 + 5 * SEC);
    e.ingest_sorted(|add| {
        let mut k = Vec::new();
        for view in [7u32, 8] {
            for id in 0..10i64 {
                internal_key(view, &encode_int_key(id), id * SEC, 2, &mut k);
                add(&k, EntryKind::Version, b"x")?;
            }
        }
        internal_key(9, &encode_int_key(0), i64::MAX, i64::MAX, &mut k);
        add(&k, EntryKind::Tombstone, b"")?;
        Ok(())
    })
    .unwrap();
    let f7 = e.freshness(7).unwrap();
    assert_eq!(
        f7.newest_event_ts,
        10 * SEC,
        "an older run does not lower it"
    );
    assert_eq!(
        (f7.last_write_micros, f7.rows_since_open),
        (T0 + 5 * SEC, 11)
    );
    let f8 = e.freshness(8).unwrap();
    assert_eq!((f8.newest_event_ts, f8.rows_last_minute), (9 * SEC, 10));
    assert!(e.freshness(9).is_none());
    // The ingest's own manifest holds its marks: no clean close needed to
    // keep them (a copy taken now, as a crash would leave it, has them).
    let copy = tempfile::tempdir().unwrap();
    copy_store(dir.path(), copy.path());
    clock.set(T0 + 100 * SEC);
    let c = Engine::open(copy.path(), opts(&clock)).unwrap();
    assert_eq!(c.freshness(8).unwrap().last_write_micros, T0 + 5 * SEC);
    assert_eq!(c.freshness(8).unwrap().newest_event_ts, 9 * SEC);
}

/// Copies a store's files (not its LOCK), as a crash would leave them.
fn copy_store(from: &std::path::Path, to: &std::path::Path) {
    for sub in ["", "wal", "segments"] {
        std::fs::create_dir_all(to.join(sub)).unwrap();
        for entry in std::fs::read_dir(from.join(sub)).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if entry.file_type().unwrap().is_file() && name != "LOCK" {
                std::fs::copy(entry.path(), to.join(sub).join(&name)).unwrap();
            }
        }
    }
}

#[test]
fn after_a_crash_replay_restores_the_newest_event_time() {
    let (dir, clock, e) = at_t0();
    put(&e, 1, &[(1, 70 * SEC)]);
    e.flush().unwrap();
    clock.set(T0 + 10 * SEC);
    // Only in the WAL (synced): the manifest's marks do not account for it.
    put(&e, 1, &[(2, 90 * SEC)]);
    put(&e, 2, &[(2, 5 * SEC)]);
    let crashed = tempfile::tempdir().unwrap();
    copy_store(dir.path(), crashed.path());
    drop(e);

    clock.set(T0 + 20 * SEC);
    let c = Engine::open(crashed.path(), opts(&clock)).unwrap();
    assert_eq!(c.recovery().batches, 2);
    let f = c.freshness(1).unwrap();
    assert_eq!(f.newest_event_ts, 90 * SEC, "from the replayed WAL");
    // The write time of WAL-only writes is not known exactly: at most the
    // time of the recovery (the clock here is far behind the WAL file's
    // modification time, so it is the cap).
    assert_eq!(f.last_write_micros, T0 + 20 * SEC);
    assert_eq!(c.freshness(2).unwrap().newest_event_ts, 5 * SEC);
    drop(c);
    // The recovery's manifest persisted them.
    let c = Engine::open(crashed.path(), opts(&clock)).unwrap();
    assert_eq!(c.freshness(1).unwrap().newest_event_ts, 90 * SEC);
    assert_eq!(c.freshness(1).unwrap().last_write_micros, T0 + 20 * SEC);

    // The clean original keeps the exact time.
    let e = Engine::open(dir.path(), opts(&clock)).unwrap();
    let f = e.freshness(1).unwrap();
    assert_eq!(
        (f.newest_event_ts, f.last_write_micros),
        (90 * SEC, T0 + 10 * SEC)
    );
}

/// Another engineer's code uses `newest_event_ts` as a watermark: once
/// `write` returns, it covers the write, also for writers whose batch was
/// committed by another thread's group.
#[test]
fn the_watermark_covers_every_returned_write() {
    let (_dir, _clock, e) = at_t0();
    std::thread::scope(|s| {
        for t in 0..4i64 {
            let e = &e;
            s.spawn(move || {
                for i in 0..200i64 {
                    let ts = i * 10 + t;
                    put(e, 1, &[(t * 1_000 + i, ts)]);
                    let seen = e.freshness(1).unwrap().newest_event_ts;
                    assert!(seen >= ts, "wrote {ts}, watermark {seen}");
                }
            });
        }
    });
    let f = e.freshness(1).unwrap();
    assert_eq!((f.newest_event_ts, f.rows_since_open), (1_993, 800));
}
