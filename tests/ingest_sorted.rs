//! `Engine::ingest_sorted`: a sorted run becomes one segment, atomically,
//! newer than every earlier write.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
use strata::engine::{Engine, Error, Options, SyncPolicy, WriteBatch};
use strata::format::key::{encode_int_key, internal_key};
use strata::format::segment::EntryKind;

fn opts() -> Options {
    Options {
        sync: SyncPolicy::Never,
        ..Options::default()
    }
}

fn key(k: i64, e: i64, c: i64) -> Vec<u8> {
    let mut out = Vec::new();
    internal_key(1, &encode_int_key(k), e, c, &mut out);
    out
}

#[test]
fn an_ingested_run_is_read_like_written_versions_and_wins_ties() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(dir.path(), opts()).unwrap();
    let mut b = WriteBatch::default();
    b.put(1, &encode_int_key(1), 10, 1, b"written").unwrap();
    b.put(1, &encode_int_key(1), 30, 1, b"newer, written")
        .unwrap();
    e.write(&b).unwrap();
    let props = e
        .ingest_sorted(|add| {
            for k in 0..100 {
                // Keys ascend; a key's versions newest first.
                for ev in [20, 10] {
                    add(
                        &key(k, ev, 1),
                        EntryKind::Version,
                        format!("ingested {k}@{ev}").as_bytes(),
                    )?;
                }
            }
            Ok(())
        })
        .unwrap()
        .unwrap();
    assert_eq!(props.entries, 200);
    let at = |k: i64, t: i64| {
        e.as_of(1, &encode_int_key(k), t, None)
            .unwrap()
            .map(|v| String::from_utf8(v.row).unwrap())
    };
    assert_eq!(
        at(1, 10).as_deref(),
        Some("ingested 1@10"),
        "the same version ingested later replaces it"
    );
    assert_eq!(at(1, 25).as_deref(), Some("ingested 1@20"));
    assert_eq!(
        at(1, 40).as_deref(),
        Some("newer, written"),
        "a newer event time still wins"
    );
    assert_eq!(at(99, 40).as_deref(), Some("ingested 99@20"));
    drop(e);
    let e = Engine::open(dir.path(), opts()).unwrap();
    assert_eq!(
        e.history(1, &encode_int_key(50), i64::MIN, i64::MAX, None)
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn an_unsorted_run_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(dir.path(), opts()).unwrap();
    let before = std::fs::read_dir(dir.path().join("segments"))
        .unwrap()
        .count();
    let err = e
        .ingest_sorted(|add| {
            add(&key(5, 1, 1), EntryKind::Version, b"a")?;
            add(&key(4, 1, 1), EntryKind::Version, b"b")
        })
        .unwrap_err();
    assert!(matches!(err, Error::InvalidWrite(_)), "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path().join("segments"))
            .unwrap()
            .count(),
        before
    );
    assert_eq!(e.latest(1, &encode_int_key(5), None).unwrap(), None);
    assert_eq!(e.stats().segments, 0);
}
