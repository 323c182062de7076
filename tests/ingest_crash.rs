//! Crash tests of ingest into a source of aggregations: a child process
//! ingests a file (a plain ingest of new events, or a backfill of old ones
//! beneath live events) and is killed with SIGKILL at random moments.
//! After each kill the store is reopened and must hold all of the file or
//! none of it, its ledger record exactly when it holds it, and tiles equal
//! to a recomputation from the stored events; the retry that a scheduler
//! would run then writes exactly what is missing.
//!
//! The test runs itself as the child: with `STRATA_INGEST_CRASH_CHILD`
//! set, the test function ingests instead.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use common::stores::values_as_of;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use strata::format::schema::KeyValue;
use strata::offline::{IngestOptions, file_digest, ingest};
use strata::store::Store;

const DEFS: &str = include_str!("fixtures/ingest-crash.toml");

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;
/// 2024-05-01T00:00:00Z.
const T0: i64 = 1_714_521_600_000_000;
const KEYS: i64 = 400;
const ROWS: i64 = 20_000;
const ROUNDS: usize = 6;

/// `rows` events over `KEYS` keys spread over one day from `base`, with
/// created times (so that a version's identity is in the file).
fn write_file(path: &Path, base: i64, rows: i64) {
    let mut text = String::from("user_id,event_timestamp,created_timestamp,amount\n");
    for i in 0..rows {
        let ts = base + i * (DAY / rows);
        text.push_str(&format!("{},{ts},{base},{}\n", (i * 7919) % KEYS, i % 100));
    }
    std::fs::write(path, text).unwrap();
}

/// Versions of `txn` with event times in `[from, to]`.
fn count(store: &Store, from: i64, to: i64) -> usize {
    (0..KEYS)
        .map(|k| {
            store
                .history("txn", &[KeyValue::Int64(k)], from, to, None)
                .unwrap()
                .len()
        })
        .sum()
}

/// Asserts that the tiles of some keys read what the raw events give.
fn tiles_match_events(store: &Store, from: i64, to: i64) {
    for k in (0..KEYS).step_by(37) {
        let key = [KeyValue::Int64(k)];
        let mut t = from;
        while t <= to {
            let read = |known_at| values_as_of(store, "txn_stats", &key, t, known_at);
            assert_eq!(read(None), read(Some(i64::MAX - 1)), "key {k} at {t}");
            t += 5 * HOUR + 123_456_789;
        }
    }
}

fn child(spec: &str) {
    let mut parts = spec.split('|');
    let (mode, dir, file) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let store = Store::open(dir).expect("child open");
    let opts = IngestOptions {
        backfill: mode == "backfill",
        ..IngestOptions::default()
    };
    ingest(&store, "txn", &[PathBuf::from(file)], &opts).expect("child ingest");
}

fn spawn(test: &str, mode: &str, dir: &Path, file: &Path) -> std::process::Child {
    let spec = format!("{mode}|{}|{}", dir.display(), file.display());
    common::cli::rerun_test(test, ("STRATA_INGEST_CRASH_CHILD", spec), Stdio::null())
}

/// Rounds of killed ingests. `base(round)` is the first event time of the
/// round's file; `setup` prepares a store. In the child (the test run
/// again by [`spawn`]), the ingest of one round instead.
fn rounds(test: &str, mode: &str, setup: &dyn Fn(&Path), base: &dyn Fn(usize) -> i64) {
    if let Ok(spec) = std::env::var("STRATA_INGEST_CRASH_CHILD") {
        child(&spec);
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    setup(&dir);
    let scratch = tmp.path().join("scratch");
    setup(&scratch);
    let probe = tmp.path().join("probe.csv");
    write_file(&probe, base(0), ROWS);
    let t = Instant::now();
    assert!(
        spawn(test, mode, &scratch, &probe)
            .wait()
            .unwrap()
            .success()
    );
    let full = t.elapsed();

    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let (mut all, mut none) = (0, 0);
    let mut done: Vec<i64> = Vec::new();
    let reference = |dir: &Path| -> usize {
        let s = Store::open(dir).unwrap();
        count(&s, i64::MIN, i64::MAX - 1)
    };
    let mut total = reference(&dir);
    for round in 0..ROUNDS {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let b = base(round);
        let file = tmp.path().join(format!("round{round}.csv"));
        write_file(&file, b, ROWS);
        // Kills from a third of the way in to past the end: the commit is
        // at the end, after the tiles are computed.
        let at = full.mul_f64(0.3 + (rng % 1000) as f64 / 1000.0 * 0.9);
        let mut c = spawn(test, mode, &dir, &file);
        common::cli::kill_after(&mut c, at);

        let s = Store::open(&dir).unwrap();
        let got = count(&s, b, b + DAY - 1);
        let digest = file_digest(&file, &[]).unwrap();
        let recorded = s.ledger("txn", &digest).unwrap().is_some();
        match got {
            0 => {
                none += 1;
                assert!(!recorded, "round {round}: a ledger record without the rows");
            }
            n if n == ROWS as usize => {
                all += 1;
                assert!(
                    recorded,
                    "round {round}: the rows without their ledger record"
                );
                total += n;
            }
            n => panic!("round {round}: {n} of {ROWS} rows after the kill"),
        }
        assert_eq!(
            count(&s, i64::MIN, i64::MAX - 1),
            total,
            "round {round}: other data changed"
        );
        tiles_match_events(&s, b - DAY, b + 2 * DAY);
        for &d in &done {
            assert_eq!(count(&s, d, d + DAY - 1), ROWS as usize, "round {round}");
        }
        // The retry: writes the file if it is missing, nothing otherwise.
        let opts = IngestOptions {
            backfill: mode == "backfill",
            ..IngestOptions::default()
        };
        let r = ingest(&s, "txn", std::slice::from_ref(&file), &opts).unwrap();
        if got == 0 {
            assert_eq!(r.summary.written, ROWS as u64, "round {round}: {r}");
            total += ROWS as usize;
        } else {
            assert_eq!(r.summary.written, 0, "round {round}: {r}");
            assert!(r.summary.already_ingested_at.is_some());
        }
        assert_eq!(count(&s, b, b + DAY - 1), ROWS as usize);
        tiles_match_events(&s, b - DAY, b + 2 * DAY);
        done.push(b);
    }
    eprintln!("{mode}: {all} round(s) all, {none} none (full ingest {full:?})");
}

#[test]
fn a_killed_ingest_into_an_aggregation_source_is_all_or_nothing() {
    let setup = |dir: &Path| {
        let s = common::stores::store_with(dir, DEFS);
        let before = dir.with_extension("before.csv");
        write_file(&before, T0, 5_000);
        ingest(&s, "txn", &[before], &IngestOptions::default()).unwrap();
    };
    // Each round's events are newer than everything before: none is late.
    rounds(
        "a_killed_ingest_into_an_aggregation_source_is_all_or_nothing",
        "plain",
        &setup,
        &|round| T0 + (round as i64 + 1) * DAY,
    );
}

#[test]
fn a_killed_backfill_is_all_or_nothing() {
    // Live events 30 days on: every round's file is late, so only a
    // backfill writes it.
    let setup = |dir: &Path| {
        let s = common::stores::store_with(dir, DEFS);
        let live = dir.with_extension("live.csv");
        write_file(&live, T0 + 30 * DAY, 5_000);
        ingest(&s, "txn", &[live], &IngestOptions::default()).unwrap();
    };
    rounds(
        "a_killed_backfill_is_all_or_nothing",
        "backfill",
        &setup,
        &|round| T0 + round as i64 * DAY,
    );
}
