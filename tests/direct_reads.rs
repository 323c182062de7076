//! The lookup of segment format 2, which goes from a key's hash index slot
//! straight to its newest entry (docs/FORMAT.md, "Hash index"), against a
//! brute-force model and against the same writes stored in format 1:
//! many versions per key spanning blocks, newest entries that end a block,
//! older versions read by continuing from the newest entry across blocks,
//! tombstones, `known_at`, zstd blocks, fingerprint collisions, and
//! compaction rewriting format-1 segments in format 2.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

mod common;

use std::path::Path;

use common::engine_ops::Model;
use proptest::prelude::*;
use strata::engine::{Engine, KeyBatch, Options, SyncPolicy, Version, WriteBatch};
use strata::format::block::Block;
use strata::format::bloom;
use strata::format::hash_index::Position;
use strata::format::key::{self, encode_int_key};
use strata::format::segment::{BlockHandle, SegmentLayout, read_data_block};

const VIEW: u32 = 5;
/// Keys `0..KEYS` are written; key `KEYS` never is.
const KEYS: u8 = 8;

#[derive(Debug, Clone)]
enum Op {
    /// `(key, event_ts, created_ts, row length)`, one batch.
    Put(Vec<(u8, i64, i64, usize)>),
    Delete(u8),
    Flush,
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    let one = (0..KEYS, -3i64..40, 0i64..6, 0usize..48);
    prop_oneof![
        8 => prop::collection::vec(one, 1..30).prop_map(Op::Put),
        1 => (0..KEYS).prop_map(Op::Delete),
        2 => Just(Op::Flush),
        1 => Just(Op::Compact),
    ]
}

fn options(format_version: u32, block_size: usize, zstd: bool) -> Options {
    let mut o = common::stores::small(SyncPolicy::Never, 1500, block_size);
    o.segment.restart_interval = 4;
    o.segment.zstd_level = zstd.then_some(1);
    o.segment.format_version = format_version;
    o.compaction = common::stores::no_background();
    o
}

fn ek(k: u8) -> Vec<u8> {
    encode_int_key(i64::from(k) * 1000 - 3000).to_vec()
}

/// A row whose bytes say which version it is.
fn row(k: u8, e: i64, c: i64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as i64 + e * 7 + c * 13 + i64::from(k)) as u8)
        .collect()
}

fn apply(engine: &Engine, model: &mut Model, op: &Op) {
    match op {
        Op::Put(puts) => {
            let mut b = WriteBatch::default();
            for &(k, e, c, len) in puts {
                let r = row(k, e, c, len);
                b.put(VIEW, &ek(k), e, c, &r).unwrap();
                model.put(VIEW, &ek(k), e, c, &r);
            }
            engine.write(&b).unwrap();
        }
        Op::Delete(k) => {
            let mut b = WriteBatch::default();
            b.delete(VIEW, &ek(*k)).unwrap();
            engine.write(&b).unwrap();
            model.delete(VIEW, &ek(*k));
        }
        Op::Flush => engine.flush().unwrap(),
        Op::Compact => {
            engine.compact().unwrap();
        }
    }
}

fn model_as_of(model: &Model, k: u8, t: i64, known: Option<i64>) -> Option<Version> {
    model.as_of(VIEW, &ek(k), t, known)
}

const TIMES: [i64; 9] = [-4, -1, 0, 3, 7, 13, 22, 38, 41];

/// Every read of every key (and of a key never written) equals the model:
/// `latest`, `as_of` at several times and `known_at`, and batches.
fn check(engine: &Engine, model: &Model) -> Result<(), TestCaseError> {
    for k in 0..=KEYS {
        prop_assert_eq!(
            engine.latest(VIEW, &ek(k), None).unwrap(),
            model_as_of(model, k, i64::MAX - 1, None),
            "latest of key {}",
            k
        );
        for t in TIMES {
            for known in [None, Some(0), Some(2), Some(4)] {
                prop_assert_eq!(
                    engine.as_of(VIEW, &ek(k), t, known).unwrap(),
                    model_as_of(model, k, t, known),
                    "as_of key {} t {} known {:?}",
                    k,
                    t,
                    known
                );
            }
        }
    }
    let mut batch = KeyBatch::new();
    for k in (0..=KEYS).rev().chain(0..3) {
        batch.push(&ek(k));
    }
    for (t, known) in [(i64::MAX - 1, None), (13, None), (22, Some(2))] {
        let mut got = Vec::new();
        engine
            .as_of_many(VIEW, &batch, t, known, |_, v| {
                got.push(v.map(|(e, c, r)| (e, c, r.to_vec())));
            })
            .unwrap();
        let want: Vec<_> = (0..batch.len())
            .map(|i| {
                let k = (0..=KEYS).find(|&k| ek(k) == batch.get(i)).unwrap();
                model_as_of(model, k, t, known).map(|v| (v.event_ts, v.created_ts, v.row))
            })
            .collect();
        prop_assert_eq!(got, want, "batch at t {} known {:?}", t, known);
    }
    Ok(())
}

/// The format version of every segment file of the store at `dir`, and
/// whether each names all its keys' newest entries by file offset.
fn segment_formats(dir: &Path) -> Vec<(u32, bool)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir.join("segments")).unwrap() {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        let layout = SegmentLayout::parse(&bytes).unwrap();
        let hidx = layout.hash_index(&bytes);
        let all_entries = hidx.is_present()
            && (0..=KEYS).all(|k| {
                let mut p = Vec::new();
                key::prefix(VIEW, &ek(k), &mut p);
                hidx.candidates(bloom::hash(&p))
                    .all(|c| matches!(c, Position::Entry(_)))
            });
        out.push((layout.version(), all_entries));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn format_2_reads_match_the_model_and_format_1(
        ops in prop::collection::vec(op(), 1..30),
        block_size in 48usize..400,
        zstd in any::<bool>(),
    ) {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let engines: Vec<Engine> = [2, 1]
            .iter()
            .zip(&dirs)
            .map(|(&v, d)| Engine::open(d.path(), options(v, block_size, zstd)).unwrap())
            .collect();
        let mut models = [Model::default(), Model::default()];
        for op in &ops {
            for (engine, model) in engines.iter().zip(&mut models) {
                apply(engine, model, op);
            }
        }
        for (engine, model) in engines.iter().zip(&models) {
            check(engine, model)?;
            engine.flush().unwrap();
            engine.compact().unwrap();
            check(engine, model)?;
        }
        let formats: Vec<Vec<(u32, bool)>> = dirs.iter().map(|d| segment_formats(d.path())).collect();
        prop_assert!(formats[0].iter().all(|&(v, direct)| v == 2 && (direct || zstd)), "{:?}", formats[0]);
        prop_assert!(formats[1].iter().all(|&(v, _)| v == 1), "{:?}", formats[1]);
        // Compaction by an engine writing format 2 rewrites format 1.
        drop(engines);
        let engine = Engine::open(dirs[1].path(), options(2, block_size, zstd)).unwrap();
        check(&engine, &models[1])?;
        engine.compact().unwrap();
        check(&engine, &models[1])?;
        let after = segment_formats(dirs[1].path());
        prop_assert!(after.iter().all(|&(v, _)| v == 2), "{:?}", after);
    }
}

/// Where each data block of the one segment of `dir` ends, as `(last key
/// of the block, whether it is the first entry of its prefix)`.
fn block_ends(dir: &Path) -> Vec<(Vec<u8>, bool)> {
    let seg = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let file = std::fs::read(seg.path()).unwrap();
    let layout = SegmentLayout::parse(&file).unwrap();
    let index = layout.index(&file).unwrap();
    let mut out = Vec::new();
    let mut prev_prefix: Vec<u8> = Vec::new();
    for i in 0..layout.data_blocks() {
        let h: BlockHandle = layout.block_handle(&index, i).unwrap();
        let mut scratch = Vec::new();
        assert!(!read_data_block(&file, h, true, &mut scratch).unwrap());
        let block = Block::new(&file[h.offset..h.offset + h.len]).unwrap();
        let mut it = block.iter();
        let mut last = (Vec::new(), false);
        while it.advance(&block).unwrap() {
            let prefix = key::split(it.key()).unwrap().prefix.to_vec();
            last = (it.key().to_vec(), prefix != prev_prefix);
            prev_prefix = prefix;
        }
        out.push(last);
    }
    out
}

/// Keys with 1 to 40 versions in tiny blocks: some keys' newest entry is
/// the last entry of its block (the next entry, an older version, is in
/// the next block), and reading older versions crosses blocks.
#[test]
fn newest_entries_that_end_a_block_and_versions_across_blocks() {
    let mut ends_seen = 0;
    for block_size in (40..200).step_by(9) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), options(2, block_size, false)).unwrap();
        let mut model = Model::default();
        for k in 0..KEYS {
            let n = [1, 2, 40, 3, 17, 1, 9, 25][usize::from(k)];
            let puts = (0..n)
                .map(|i| {
                    (
                        k,
                        i * 41 / n - 2,
                        i % 3,
                        5 + (i as usize * 7 + usize::from(k)) % 30,
                    )
                })
                .collect();
            apply(&engine, &mut model, &Op::Put(puts));
        }
        apply(&engine, &mut model, &Op::Delete(3));
        apply(
            &engine,
            &mut model,
            &Op::Put(vec![(3, 5, 1, 9), (3, 1, 1, 4)]),
        );
        engine.flush().unwrap();
        engine.compact().unwrap();
        assert_eq!(segment_formats(dir.path()), vec![(2, true)]);
        ends_seen += block_ends(dir.path())
            .iter()
            .filter(|(_, first_of_prefix)| *first_of_prefix)
            .count();
        check(&engine, &model).unwrap();
        // Every version of every key, through as_of at its own time.
        for ((_, key), versions) in &model.versions {
            let k = (0..KEYS).find(|&k| &ek(k) == key).unwrap();
            for &(e, c) in versions.keys() {
                assert_eq!(
                    engine.as_of(VIEW, key, e, Some(c)).unwrap(),
                    model_as_of(&model, k, e, Some(c)),
                    "key {k} version ({e}, {c}) block size {block_size}"
                );
            }
        }
    }
    assert!(
        ends_seen > 5,
        "only {ends_seen} blocks ended with a key's newest entry"
    );
}

/// Pairs of keys whose prefixes have the same hash index fingerprint
/// (24 bits, found by search), so one key's probe meets the other's slot:
/// the reader must check the key it lands on and go on probing.
#[test]
fn fingerprint_collisions_are_told_apart() {
    let prefix = |k: i64| {
        let mut p = Vec::new();
        key::prefix(VIEW, &encode_int_key(k), &mut p);
        p
    };
    let fingerprint = |k: i64| (bloom::hash(&prefix(k)) >> 40) | 1;
    let mut by_fp = std::collections::HashMap::new();
    let mut pairs = Vec::new();
    for k in 0..40_000i64 {
        if let Some(other) = by_fp.insert(fingerprint(k), k) {
            pairs.push((other, k));
        }
    }
    assert!(pairs.len() > 10, "only {} colliding pairs", pairs.len());
    let mut met = 0;
    for &(a, b) in &pairs {
        // A segment of `a` only (a table of 2 slots), then one of both.
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), options(2, 64, false)).unwrap();
        let mut w = WriteBatch::default();
        for e in 0..6 {
            w.put(VIEW, &encode_int_key(a), e, 0, &[e as u8; 20])
                .unwrap();
        }
        engine.write(&w).unwrap();
        engine.flush().unwrap();
        let file = std::fs::read(
            std::fs::read_dir(dir.path().join("segments"))
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path(),
        )
        .unwrap();
        let layout = SegmentLayout::parse(&file).unwrap();
        if layout
            .hash_index(&file)
            .candidates(bloom::hash(&prefix(b)))
            .next()
            .is_some()
        {
            met += 1;
        }
        assert_eq!(engine.latest(VIEW, &encode_int_key(b), None).unwrap(), None);
        assert_eq!(
            engine.as_of(VIEW, &encode_int_key(b), 3, None).unwrap(),
            None
        );
        let mut w = WriteBatch::default();
        w.put(VIEW, &encode_int_key(b), 2, 1, b"bee").unwrap();
        engine.write(&w).unwrap();
        engine.flush().unwrap();
        engine.compact().unwrap();
        let a_latest = engine
            .latest(VIEW, &encode_int_key(a), None)
            .unwrap()
            .unwrap();
        assert_eq!((a_latest.event_ts, a_latest.row), (5, vec![5u8; 20]));
        let b_latest = engine
            .latest(VIEW, &encode_int_key(b), None)
            .unwrap()
            .unwrap();
        assert_eq!((b_latest.event_ts, b_latest.row), (2, b"bee".to_vec()));
        assert_eq!(
            engine.as_of(VIEW, &encode_int_key(b), 1, None).unwrap(),
            None
        );
        assert_eq!(
            engine
                .as_of(VIEW, &encode_int_key(a), 2, None)
                .unwrap()
                .map(|v| v.row),
            Some(vec![2u8; 20])
        );
        let mut batch = KeyBatch::new();
        for k in [a, b, a] {
            batch.push(&encode_int_key(k));
        }
        let mut got = Vec::new();
        engine
            .as_of_many(VIEW, &batch, i64::MAX - 1, None, |_, v| {
                got.push(v.map(|x| x.0))
            })
            .unwrap();
        assert_eq!(got, vec![Some(5), Some(2), Some(5)]);
    }
    assert!(met > 0, "no absent key's probe met a colliding fingerprint");
}
