//! Format compatibility: `tests/fixtures/format-v1/` is a small store
//! written by the format versions of docs/FORMAT.md's version table
//! (segment 1, WAL 1, MANIFEST 2, catalog 1, aggregation tiles 1): views
//! with several feature types, versions in a segment and in the WAL, a
//! delete (a tombstone in the WAL), and an aggregation view's tiles.
//! Every build must open it and answer the same queries, read-only in
//! place and read-write on a copy.
//!
//! Regenerate it (only when the format version changes, keeping the old
//! directory as `format-vN`) with
//! `cargo test --test format_compat -- --ignored regenerate`.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

use std::path::{Path, PathBuf};

use strata::catalog::defs;
use strata::engine::{OpenMode, Options, SyncPolicy};
use strata::format::schema::{KeyValue, Value};
use strata::store::{ReadOptions, RowWrite, Status, Store, StoreOptions};

const DEFS: &str = include_str!("fixtures/format-compat.toml");

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-v1")
}

fn user(u: i64) -> Vec<KeyValue> {
    vec![KeyValue::Int64(u)]
}

fn profile(u: i64, version: i64) -> Vec<Value> {
    vec![
        Value::Int64(version * 100 + u),
        Value::String(format!("user {u} v{version}")),
        Value::Float64(u as f64 / 4.0),
        Value::ListFloat32(vec![u as f32, version as f32]),
    ]
}

#[test]
#[ignore = "writes tests/fixtures/format-v1; run only when the format version changes"]
fn regenerate() {
    let dir = fixture();
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open_with(&dir, options(OpenMode::ReadWrite)).unwrap();
    let d = defs::parse(DEFS).unwrap();
    store
        .set_catalog(defs::apply(&store.catalog(), &d).unwrap())
        .unwrap();
    let rows = |version: i64, users: std::ops::RangeInclusive<i64>| -> Vec<RowWrite> {
        users
            .map(|u| RowWrite {
                key: user(u),
                event_ts: 1000 * version + u,
                created_ts: Some(version),
                values: profile(u, version),
            })
            .collect()
    };
    store.write("profile", &rows(1, 1..=20)).unwrap();
    for (ts, n) in [(10, 1), (20, 2), (30, 3)] {
        let r = RowWrite {
            key: user(1),
            event_ts: ts,
            created_ts: Some(1),
            values: vec![Value::Int64(n)],
        };
        store.write("clicks", &[r]).unwrap();
    }
    store.flush().unwrap();
    // In the WAL only: a second version of users 1..=5, and a delete.
    store.write("profile", &rows(2, 1..=5)).unwrap();
    store.delete("user", &user(3)).unwrap();
    drop(store);
    let _ = std::fs::remove_file(dir.join("LOCK"));
}

fn options(mode: OpenMode) -> StoreOptions {
    StoreOptions {
        engine: Options {
            mode,
            sync: SyncPolicy::Always,
            ..Options::default()
        },
    }
}

/// The answers the fixture was written to give.
fn check(store: &Store) {
    let latest = ReadOptions::default();
    for u in 1..=20 {
        let r = store.get("profile", &user(u), latest).unwrap();
        match u {
            3 => assert_eq!(r.statuses[0], Status::NotFound, "user 3 was deleted"),
            1..=5 => {
                assert_eq!(r.values, profile(u, 2), "user {u}");
                assert_eq!((r.event_ts, r.created_ts), (Some(2000 + u), Some(2)));
            }
            _ => assert_eq!(r.values, profile(u, 1), "user {u}"),
        }
    }
    let as_of = ReadOptions {
        as_of: Some(1500),
        known_at: None,
    };
    assert_eq!(
        store.get("profile", &user(2), as_of).unwrap().values,
        profile(2, 1)
    );
    let h = store
        .history("profile", &user(4), i64::MIN, i64::MAX - 1, None)
        .unwrap();
    let got: Vec<_> = h.iter().map(|v| (v.event_ts, v.values.clone())).collect();
    assert_eq!(got, vec![(2004, profile(4, 2)), (1004, profile(4, 1))]);
    let at = |t| ReadOptions {
        as_of: Some(t),
        known_at: None,
    };
    let s = store.get("click_stats", &user(1), at(30)).unwrap();
    assert_eq!(s.values, vec![Value::Int64(3), Value::Float64(6.0)]);
    let s = store.get("click_stats", &user(1), at(115)).unwrap();
    assert_eq!(s.values, vec![Value::Int64(2), Value::Float64(5.0)]);
}

fn listing(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(listing(&e.path()));
        } else {
            out.push((e.path(), e.metadata().unwrap().len()));
        }
    }
    out.sort();
    out
}

#[test]
fn format_v1_fixture_opens_read_only_in_place() {
    let before = listing(&fixture());
    assert!(
        before
            .iter()
            .any(|(p, _)| p.extension().is_some_and(|e| e == "seg")),
        "the fixture has a segment"
    );
    let store = Store::open_with(fixture(), options(OpenMode::ReadOnly)).unwrap();
    check(&store);
    assert_eq!(
        store.engine().recovery().batches,
        2,
        "two batches in the WAL"
    );
    drop(store);
    assert_eq!(
        listing(&fixture()),
        before,
        "reading the fixture changed it"
    );
}

#[test]
fn format_v1_fixture_recovers_read_write_on_a_copy() {
    let t = tempfile::tempdir().unwrap();
    for (p, _) in listing(&fixture()) {
        let to = t.path().join(p.strip_prefix(fixture()).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&p, &to).unwrap();
    }
    {
        let store = Store::open_with(t.path(), options(OpenMode::ReadWrite)).unwrap();
        check(&store);
        store.engine().compact().unwrap();
        check(&store);
    }
    let store = Store::open_with(t.path(), options(OpenMode::ReadWrite)).unwrap();
    check(&store);
}
