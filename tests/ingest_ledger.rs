//! Idempotent, atomic, honest ingest and backfills, through the library:
//! the same file three times changes nothing (and says so), `force` writes
//! again; a file into an aggregation's source is one segment with its
//! tiles; a backfill gives the store that received the same events in time
//! order; pushes with a batch id are written once; the summary counts
//! late refusals, duplicates and expectation violations.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use common::stores::values_as_of;

use std::path::{Path, PathBuf};

use strata::format::schema::{KeyValue, Value};
use strata::offline::{IngestOptions, ingest};
use strata::store::{BatchId, RowWrite, Store, WriteOptions};

const DEFS: &str = include_str!("fixtures/ingest-ledger.toml");

const HOUR: i64 = 3_600_000_000;
/// 2024-05-01T00:00:00Z.
const T0: i64 = 1_714_521_600_000_000;
const KEYS: i64 = 7;

/// `(user, event_ts, created_ts, amount)`: integer amounts, so sums are
/// exact in any order.
type Ev = (i64, i64, Option<i64>, f64);

/// Events over two days, several per key and tile, in time order.
fn events(n: i64) -> Vec<Ev> {
    (0..n)
        .map(|i| {
            let user = (i * 5) % KEYS;
            let ts = T0 + i * (48 * HOUR / n) + (i * 7919) % 1000;
            (user, ts, Some(ts + 17), ((i * 31) % 50) as f64)
        })
        .collect()
}

fn csv(dir: &Path, name: &str, rows: &[Ev]) -> PathBuf {
    let with_created = rows.iter().any(|r| r.2.is_some());
    let mut text = if with_created {
        "user_id,event_timestamp,created_timestamp,amount\n".to_string()
    } else {
        "user_id,event_timestamp,amount\n".to_string()
    };
    for (u, e, c, a) in rows {
        match c {
            Some(c) if with_created => text.push_str(&format!("{u},{e},{c},{a}\n")),
            _ => text.push_str(&format!("{u},{e},{a}\n")),
        }
    }
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn rows_of(evs: &[Ev]) -> Vec<RowWrite> {
    evs.iter()
        .map(|(u, e, c, a)| RowWrite {
            key: vec![KeyValue::Int64(*u)],
            event_ts: *e,
            created_ts: *c,
            values: vec![Value::Float64(*a)],
        })
        .collect()
}

fn opts() -> IngestOptions {
    IngestOptions::default()
}

/// `(event_ts, created_ts, values)` of each version of each key.
type Versions = Vec<Vec<(i64, i64, Vec<Value>)>>;

/// Every version of `txn` and the aggregation's values at a grid of times,
/// for every key.
fn state(store: &Store) -> (Versions, Vec<Vec<Value>>) {
    let mut versions = Vec::new();
    let mut windows = Vec::new();
    for k in 0..KEYS {
        let key = [KeyValue::Int64(k)];
        versions.push(
            store
                .history("txn", &key, i64::MIN, i64::MAX - 1, None)
                .unwrap()
                .into_iter()
                .map(|v| (v.event_ts, v.created_ts, v.values))
                .collect(),
        );
        for t in grid() {
            let read = |known_at| values_as_of(store, "txn_stats", &key, t, known_at);
            let tiles = read(None);
            // A read with known_at is computed from the raw events only:
            // the tiles must agree with a recomputation from the events.
            assert_eq!(
                tiles,
                read(Some(i64::MAX - 1)),
                "key {k} at {t}: tiles differ from the stored events"
            );
            windows.push(tiles);
        }
    }
    (versions, windows)
}

fn grid() -> impl Iterator<Item = i64> {
    (0..=52).map(|h| T0 + h * HOUR - 1 + (h % 3) * 600_000_000)
}

#[test]
fn the_same_file_three_times_changes_nothing_and_force_writes_again() {
    let tmp = tempfile::tempdir().unwrap();
    let store = common::stores::store_with(tmp.path().join("s"), DEFS);
    // No created_timestamp: without the ledger, each run would add versions.
    let evs: Vec<Ev> = events(300)
        .into_iter()
        .map(|(u, e, _, a)| (u, e, None, a))
        .collect();
    let file = csv(tmp.path(), "day.csv", &evs);
    let first = ingest(&store, "txn", std::slice::from_ref(&file), &opts()).unwrap();
    assert_eq!(first.summary.written, 300, "{first}");
    assert_eq!(first.summary.already_ingested_at, None);
    assert!(
        !first.via_wal,
        "an aggregation source is ingested as a segment"
    );
    assert_eq!(first.batches, 1, "{first}");
    let after_first = state(&store);
    for run in 2..=3 {
        let r = ingest(&store, "txn", std::slice::from_ref(&file), &opts()).unwrap();
        assert_eq!(r.summary.written, 0, "run {run}: {r}");
        assert_eq!(r.summary.rows, 300);
        assert!(r.summary.already_ingested_at.is_some(), "{r}");
        assert!(r.to_string().contains("already ingested at"), "{r}");
        assert_eq!(state(&store), after_first, "run {run} changed the store");
    }
    // Reopened: the ledger is durable.
    drop(store);
    let store = Store::open(tmp.path().join("s")).unwrap();
    let r = ingest(&store, "txn", std::slice::from_ref(&file), &opts()).unwrap();
    assert_eq!(r.summary.written, 0, "{r}");
    assert_eq!(state(&store), after_first);
    // --force writes it again: new created times, so new versions (all
    // older than the watermark: a backfill, or they are refused as late).
    let forced = IngestOptions {
        force: true,
        ..opts()
    };
    let r = ingest(&store, "txn", std::slice::from_ref(&file), &forced).unwrap();
    assert!(r.summary.rejected_late > 250, "{r}");
    let near_watermark = r.summary.written;
    assert_eq!(near_watermark + r.summary.rejected_late, 300);
    let forced = IngestOptions {
        force: true,
        backfill: true,
        ..opts()
    };
    let r = ingest(&store, "txn", std::slice::from_ref(&file), &forced).unwrap();
    assert_eq!(r.summary.written, 300, "{r}");
    let (versions, _) = state(&store);
    assert_eq!(
        versions.iter().map(Vec::len).sum::<usize>() as u64,
        600 + near_watermark,
        "forced: a new version of every row written"
    );
    // The same bytes under another file name are the same batch.
    let renamed = tmp.path().join("copy.csv");
    std::fs::write(&renamed, std::fs::read(&file).unwrap()).unwrap();
    let r = ingest(&store, "txn", &[renamed], &opts()).unwrap();
    assert_eq!(r.summary.written, 0, "{r}");
}

#[test]
fn a_backfill_gives_the_store_that_received_the_events_in_time_order() {
    let tmp = tempfile::tempdir().unwrap();
    let evs = events(400);
    let cut = T0 + 30 * HOUR;
    let (old, live): (Vec<Ev>, Vec<Ev>) = evs.iter().partition(|e| e.1 < cut);
    assert!(old.len() > 100 && live.len() > 50);

    // In time order, in pushes of 25.
    let in_order = common::stores::store_with(tmp.path().join("a"), DEFS);
    for piece in evs.chunks(25) {
        let s = in_order.write("txn", &rows_of(piece)).unwrap();
        assert_eq!(s.written as usize, piece.len());
    }
    let want = state(&in_order);

    // Live first; the history afterwards is late...
    let late = common::stores::store_with(tmp.path().join("b"), DEFS);
    for piece in live.chunks(25) {
        late.write("txn", &rows_of(piece)).unwrap();
    }
    let file = csv(tmp.path(), "history.csv", &old);
    let r = ingest(&late, "txn", std::slice::from_ref(&file), &opts()).unwrap();
    assert_eq!(r.summary.rejected_late as usize, old.len(), "{r}");
    assert_eq!(r.summary.written, 0);
    assert!(!r.summary.complete());
    // ... and a backfill of the same file writes it, tiles corrected.
    let backfill = IngestOptions {
        backfill: true,
        ..opts()
    };
    let r = ingest(&late, "txn", std::slice::from_ref(&file), &backfill).unwrap();
    assert_eq!(r.summary.written as usize, old.len(), "{r}");
    assert!(r.summary.complete());
    assert_eq!(state(&late), want, "bulk backfill");

    // The same through the write path (a push with backfill), while
    // live pushes go on between its pieces.
    let pushed = common::stores::store_with(tmp.path().join("c"), DEFS);
    let (first_live, rest_live) = live.split_at(live.len() / 2);
    pushed.write("txn", &rows_of(first_live)).unwrap();
    let o = WriteOptions {
        backfill: true,
        ..WriteOptions::default()
    };
    for (i, piece) in old.chunks(40).enumerate() {
        let s = pushed.write_with("txn", &rows_of(piece), &o).unwrap();
        assert_eq!(s.written as usize, piece.len());
        if let Some(l) = rest_live.chunks(rest_live.len().div_ceil(3)).nth(i) {
            pushed.write("txn", &rows_of(l)).unwrap();
        }
    }
    let n = old.chunks(40).count();
    for l in rest_live.chunks(rest_live.len().div_ceil(3)).skip(n) {
        pushed.write("txn", &rows_of(l)).unwrap();
    }
    assert_eq!(state(&pushed), want, "pushed backfill");

    // A bulk backfill while live pushes run in another thread: none fails,
    // none waits for long, and the result is the same.
    let racing = common::stores::store_with(tmp.path().join("d"), DEFS);
    racing.write("txn", &rows_of(first_live)).unwrap();
    std::thread::scope(|s| {
        let live_pushes = s.spawn(|| {
            for piece in rest_live.chunks(5) {
                let w = racing.write("txn", &rows_of(piece)).unwrap();
                assert_eq!(w.written as usize, piece.len(), "{w}");
            }
        });
        let r = ingest(&racing, "txn", std::slice::from_ref(&file), &backfill).unwrap();
        assert_eq!(r.summary.written as usize, old.len(), "{r}");
        live_pushes.join().unwrap();
    });
    assert_eq!(state(&racing), want, "backfill beside live pushes");
}

#[test]
fn a_push_with_a_batch_id_is_written_once_and_the_summary_counts_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let store = common::stores::store_with(tmp.path().join("s"), DEFS);
    let evs = events(50);
    let batch = WriteOptions {
        batch: Some(BatchId::named("job-1/0")),
        label: "job-1/0".into(),
        ..WriteOptions::default()
    };
    let s = store.write_with("txn", &rows_of(&evs), &batch).unwrap();
    assert_eq!((s.rows, s.written, s.already_ingested_at), (50, 50, None));
    let before = state(&store);
    let again = store.write_with("txn", &rows_of(&evs), &batch).unwrap();
    assert_eq!(again.written, 0);
    assert!(again.already_ingested_at.is_some());
    assert_eq!(state(&store), before);
    let rec = store
        .ledger("txn", &BatchId::named("job-1/0"))
        .unwrap()
        .unwrap();
    assert_eq!((rec.label.as_str(), rec.summary.written), ("job-1/0", 50));
    // Another batch id is other data (here: the same versions, replaced;
    // older than the watermark, so written as a backfill).
    let other = WriteOptions {
        batch: Some(BatchId::named("job-2/0")),
        backfill: true,
        ..WriteOptions::default()
    };
    assert_eq!(
        store
            .write_with("txn", &rows_of(&evs[..3]), &other)
            .unwrap()
            .written,
        3
    );
    assert_eq!(state(&store), before, "rewriting a version changes nothing");

    // Late, duplicate and doubtful rows, each counted.
    let newest = evs.iter().map(|e| e.1).max().unwrap();
    let mut mixed = vec![
        (1, newest + 10, Some(1), 1.0),
        (1, newest + 10, Some(1), 2.0), // same version: the later row wins
        (2, newest - 5 * HOUR, Some(1), 3.0), // late
    ];
    mixed.push((3, newest + 20, Some(1), 4.0));
    let s = store.write("txn", &rows_of(&mixed)).unwrap();
    assert_eq!(
        (s.rows, s.written, s.rejected_late, s.duplicates),
        (4, 2, 1, 1),
        "{s}"
    );
    assert_eq!(
        s.to_string(),
        "4 row(s): 2 written, 1 refused as late (late_events = \"reject\"; --backfill writes them), 1 duplicate(s) dropped"
    );
    let warn = [
        RowWrite {
            key: vec![KeyValue::Int64(1)],
            event_ts: T0,
            created_ts: None,
            values: vec![Value::Int64(-3)],
        },
        RowWrite {
            key: vec![KeyValue::Int64(2)],
            event_ts: T0,
            created_ts: None,
            values: vec![Value::Int64(3)],
        },
    ];
    let s = store.write("scores", &warn).unwrap();
    assert_eq!((s.written, s.violations), (2, 1), "{s}");
}
