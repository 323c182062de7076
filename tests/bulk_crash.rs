//! Crash test of the bulk-ingest fast path: a child process ingests a large
//! Parquet file and is killed with SIGKILL at random moments; after each
//! kill the store is reopened and the view must hold all of the file or
//! none of it, and the data ingested before (by earlier rounds too) must be
//! as it was.
//!
//! The test runs itself as the child: with `STRATA_BULK_CRASH_CHILD` set,
//! the test function ingests instead. Each round ingests its own file
//! (its own range of event times) into the same store.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{Float64Array, Int64Array, TimestampMicrosecondArray};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use strata::format::schema::{KeyValue, Value};
use strata::offline::ingest_file;
use strata::store::Store;

const DEFS: &str = include_str!("fixtures/bulk-crash.toml");

const KEYS: i64 = 5_000;
const ROWS: i64 = 150_000;
const ROUNDS: usize = 10;
const T0: i64 = 1_700_000_000_000_000;

/// `rows` rows over `KEYS` keys starting at event time `base`.
fn write_file(path: &Path, base: i64, rows: i64) {
    let b = common::tables::columns(vec![
        (
            "user_id",
            Arc::new(Int64Array::from_iter_values(
                (0..rows).map(|i| (i * 7919) % KEYS),
            )),
        ),
        (
            "event_timestamp",
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                (0..rows).map(|i| base + i),
            )),
        ),
        (
            "created_timestamp",
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                (0..rows).map(|_| base),
            )),
        ),
        (
            "a",
            Arc::new(Float64Array::from_iter_values((0..rows).map(|i| i as f64))),
        ),
        ("b", Arc::new(Int64Array::from_iter_values(0..rows))),
    ]);
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(20_000))
        .build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        b.schema(),
        Some(props),
    )
    .unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
}

/// Versions in the view with event times in `[from, to]`, and a check of
/// their values against the file's formula.
fn count(store: &Store, from: i64, to: i64) -> usize {
    let mut n = 0;
    for k in 0..KEYS {
        for v in store
            .history("bulk", &[KeyValue::Int64(k)], from, to, None)
            .unwrap()
        {
            let i = v.values[1].clone();
            let Value::Int64(i) = i else {
                panic!("bad row {v:?}")
            };
            assert_eq!(v.event_ts - from, i, "row {i} has the wrong event time");
            assert_eq!(v.values[0], Value::Float64(i as f64));
            n += 1;
        }
    }
    n
}

fn child(dir: &Path, file: &Path) {
    let store = Store::open(dir).expect("child open");
    ingest_file(&store, "bulk", file, false).expect("child ingest");
    println!("done");
}

fn spawn(dir: &Path, file: &Path) -> std::process::Child {
    common::cli::rerun_test(
        "a_killed_bulk_ingest_is_all_or_nothing",
        (
            "STRATA_BULK_CRASH_CHILD",
            format!("{}|{}", dir.display(), file.display()),
        ),
        Stdio::null(),
    )
}

#[test]
fn a_killed_bulk_ingest_is_all_or_nothing() {
    if let Ok(spec) = std::env::var("STRATA_BULK_CRASH_CHILD") {
        let (dir, file) = spec.split_once('|').unwrap();
        child(Path::new(dir), Path::new(file));
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let before = tmp.path().join("before.parquet");
    write_file(&before, T0, 10_000);
    let big = tmp.path().join("big.parquet");
    write_file(&big, T0 + 1_000_000_000, ROWS);
    let setup = |dir: &Path| {
        let s = common::stores::store_with(dir, DEFS);
        // Data ingested before: must survive every kill.
        ingest_file(&s, "bulk", &before, false).unwrap();
    };
    let dir = tmp.path().join("store");
    setup(&dir);
    // One uninterrupted run, in another store, to time the ingest.
    let scratch = tmp.path().join("scratch");
    setup(&scratch);
    let t = Instant::now();
    assert!(spawn(&scratch, &big).wait().unwrap().success());
    let full = t.elapsed();

    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let (mut all, mut none, mut orphans) = (0, 0, 0);
    // Per earlier round: its base event time and whether its file got in.
    let mut outcomes: Vec<(i64, bool)> = Vec::new();
    for round in 0..ROUNDS {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let base = T0 + (round as i64 + 2) * 1_000_000_000;
        let file = tmp.path().join(format!("round{round}.parquet"));
        write_file(&file, base, ROWS);
        let at = full.mul_f64((rng % 1000) as f64 / 1000.0 * 1.1);
        let mut c = spawn(&dir, &file);
        common::cli::kill_after(&mut c, at);
        let s = Store::open(&dir).unwrap();
        orphans += s.engine().recovery().removed_orphans.len();
        assert_eq!(
            count(&s, T0, T0 + 9_999),
            10_000,
            "round {round}: earlier data damaged"
        );
        for (b, was_in) in &outcomes {
            let want = if *was_in { ROWS as usize } else { 0 };
            assert_eq!(
                count(&s, *b, b + ROWS),
                want,
                "round {round}: an earlier round's file changed"
            );
        }
        match count(&s, base, base + ROWS) {
            0 => {
                none += 1;
                outcomes.push((base, false));
            }
            n if n == ROWS as usize => {
                all += 1;
                outcomes.push((base, true));
            }
            n => panic!("round {round}: {n} of {ROWS} rows of the file are in the store"),
        }
    }
    eprintln!(
        "{ROUNDS} kills during a {ROWS}-row ingest of {full:?}: {all} with all rows, {none} with none, {orphans} orphan segment(s) removed"
    );
}
