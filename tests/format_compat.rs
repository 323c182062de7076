//! Format compatibility: `tests/fixtures/format-vN/` are small stores
//! written by the format versions of docs/FORMAT.md's version table —
//! `format-v1`: segment 1, WAL 1, MANIFEST 2, catalog 1, aggregation tiles
//! 1; `format-v2`: the same with segment 2 — each with views of several
//! feature types, versions in a segment and in the WAL, a delete (a
//! tombstone in the WAL), and an aggregation view's tiles. Every build
//! must open each and answer the same queries, read-only in place and
//! read-write on a copy (where a compaction rewrites the segments in the
//! current format).
//!
//! Write the current version's fixture (only when a format version
//! changes: add it as `format-vN`, keeping the old ones, and bump
//! [`CURRENT`]) with `cargo test --test format_compat -- --ignored regenerate`.

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

/// The fixture `regenerate` writes.
const CURRENT: u32 = 2;
/// Every fixture, and the segment format version its segment has.
const FIXTURES: [(u32, u32); 2] = [(1, 1), (2, 2)];

fn fixture(n: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/format-v{n}"))
}

/// The format versions of the segment files under `dir`.
fn segment_versions(dir: &Path) -> Vec<u32> {
    listing(dir)
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "seg"))
        .map(|(p, _)| {
            let bytes = std::fs::read(p).unwrap();
            strata::format::segment::SegmentLayout::parse(&bytes)
                .unwrap()
                .version()
        })
        .collect()
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
#[ignore = "writes tests/fixtures/format-vN; run only when a format version changes"]
fn regenerate() {
    let dir = fixture(CURRENT);
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
fn format_fixtures_open_read_only_in_place() {
    for (n, segment_version) in FIXTURES {
        read_only_in_place(n, segment_version);
    }
}

fn read_only_in_place(n: u32, segment_version: u32) {
    let fixture = || fixture(n);
    let before = listing(&fixture());
    assert_eq!(
        segment_versions(&fixture()),
        vec![segment_version],
        "format-v{n} has one segment of format {segment_version}"
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
fn format_fixtures_recover_read_write_on_a_copy() {
    for (n, _) in FIXTURES {
        read_write_on_a_copy(n);
    }
}

fn read_write_on_a_copy(n: u32) {
    let fixture = || fixture(n);
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
    assert!(
        segment_versions(t.path())
            .iter()
            .all(|&v| v == strata::format::segment::FORMAT_VERSION),
        "format-v{n}: compaction rewrote the segments in the current format"
    );
    let store = Store::open_with(t.path(), options(OpenMode::ReadWrite)).unwrap();
    check(&store);
}
