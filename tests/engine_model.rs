//! The engine's reads against a brute-force model, over random sequences of
//! writes (out of order, equal timestamps, rewrites), deletes, flushes,
//! memtable seals and reopens.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use strata::engine::{CompactionOptions, Engine, Options, SyncPolicy, Version, WriteBatch};
use strata::format::segment::SegmentOptions;

type ModelKey = (u32, Vec<u8>);

#[derive(Default)]
struct Model {
    versions: BTreeMap<ModelKey, BTreeMap<(i64, i64), Vec<u8>>>,
}

impl Model {
    fn put(&mut self, view: u32, key: &[u8], e: i64, c: i64, row: &[u8]) {
        self.versions
            .entry((view, key.to_vec()))
            .or_default()
            .insert((e, c), row.to_vec());
    }
    fn delete(&mut self, view: u32, key: &[u8]) {
        self.versions.remove(&(view, key.to_vec()));
    }
    fn as_of(&self, view: u32, key: &[u8], t: i64, known: Option<i64>) -> Option<Version> {
        let k = known.unwrap_or(i64::MAX);
        self.versions
            .get(&(view, key.to_vec()))?
            .iter()
            .rev()
            .find(|((e, c), _)| *e <= t && *c <= k)
            .map(|((e, c), r)| Version {
                event_ts: *e,
                created_ts: *c,
                row: r.clone(),
            })
    }
    fn history(
        &self,
        view: u32,
        key: &[u8],
        from: i64,
        to: i64,
        known: Option<i64>,
    ) -> Vec<Version> {
        let k = known.unwrap_or(i64::MAX);
        self.versions
            .get(&(view, key.to_vec()))
            .map(|m| {
                m.iter()
                    .rev()
                    .filter(|((e, c), _)| *e >= from && *e <= to && *c <= k)
                    .map(|((e, c), r)| Version {
                        event_ts: *e,
                        created_ts: *c,
                        row: r.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<(u32, u8, i64, i64, Vec<u8>)>),
    Delete(u32, u8),
    Flush,
    Compact,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let put = (
        1u32..3,
        0u8..5,
        -3i64..12,
        0i64..4,
        prop::collection::vec(any::<u8>(), 0..6),
    );
    prop_oneof![
        8 => prop::collection::vec(put, 1..6).prop_map(Op::Put),
        1 => (1u32..3, 0u8..5).prop_map(|(v, k)| Op::Delete(v, k)),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

/// Entity keys as the catalog encodes string keys: of varying length, some
/// sharing prefixes, none a prefix of another's encoding.
fn entity_key(k: u8) -> Vec<u8> {
    let s: &[u8] = match k {
        0 => b"",
        1 => b"a",
        2 => b"a\0",
        3 => b"ab",
        _ => b"\xff\xff",
    };
    let mut out = Vec::new();
    strata::format::key::encode_key_string(s, &mut out);
    out
}

fn options() -> Options {
    Options {
        sync: SyncPolicy::Never,
        // Tiny memtables and blocks: seals, several segments and multi-block scans.
        memtable_bytes: 600,
        segment: SegmentOptions {
            block_size: 128,
            restart_interval: 3,
            ..SegmentOptions::default()
        },
        // Merge often: after every 2 flushes, and never keep more than 3 segments.
        compaction: CompactionOptions {
            min_merge: 2,
            max_segments: 3,
            stall_segments: 6,
            ..CompactionOptions::default()
        },
        ..Options::default()
    }
}

fn check(engine: &Engine, model: &Model) -> Result<(), TestCaseError> {
    for view in 1..3u32 {
        for k in 0..5u8 {
            let key = entity_key(k);
            prop_assert_eq!(
                engine.latest(view, &key, None).unwrap(),
                model.as_of(view, &key, i64::MAX, None)
            );
            for t in [-4, -1, 0, 3, 5, 11, 20] {
                for known in [None, Some(0), Some(2)] {
                    prop_assert_eq!(
                        engine.as_of(view, &key, t, known).unwrap(),
                        model.as_of(view, &key, t, known),
                        "as_of view {} key {} t {} known {:?}",
                        view,
                        k,
                        t,
                        known
                    );
                }
            }
            for (from, to) in [(i64::MIN, i64::MAX), (0, 5), (4, 4), (6, 2)] {
                prop_assert_eq!(
                    engine.history(view, &key, from, to, None).unwrap(),
                    model.history(view, &key, from, to, None)
                );
            }
            prop_assert_eq!(
                engine
                    .history(view, &key, i64::MIN, i64::MAX, Some(1))
                    .unwrap(),
                model.history(view, &key, i64::MIN, i64::MAX, Some(1))
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn reads_match_the_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Some(Engine::open(dir.path(), options()).unwrap());
        let mut model = Model::default();
        for op in ops {
            let e = engine.as_ref().unwrap();
            match op {
                Op::Put(puts) => {
                    let mut b = WriteBatch::default();
                    for (view, k, ev, cr, row) in &puts {
                        b.put(*view, &entity_key(*k), *ev, *cr, row).unwrap();
                        model.put(*view, &entity_key(*k), *ev, *cr, row);
                    }
                    e.write(&b).unwrap();
                }
                Op::Delete(view, k) => {
                    let mut b = WriteBatch::default();
                    b.delete(view, &entity_key(k)).unwrap();
                    e.write(&b).unwrap();
                    model.delete(view, &entity_key(k));
                }
                Op::Flush => e.flush().unwrap(),
                Op::Compact => {
                    e.compact().unwrap();
                }
                Op::Reopen => {
                    drop(engine.take());
                    engine = Some(Engine::open(dir.path(), options()).unwrap());
                }
            }
            check(engine.as_ref().unwrap(), &model)?;
        }
    }
}
