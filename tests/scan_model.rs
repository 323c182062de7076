//! `Engine::scan_view` against a brute-force model, over random sequences
//! of writes (equal timestamps, rewrites, out of order), deletes, flushes and
//! compactions, so that a key's versions are spread over memtables and
//! segments: full scans of key ranges, with and without `known_at`, and
//! scans that seek from key to key.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

mod common;

use common::engine_ops::{self, Model, Op, string_key};
use common::stores;
use proptest::prelude::*;
use strata::engine::{Engine, Options, SyncPolicy, WriteBatch};

/// `(entity key, event_ts, created_ts, row)`, as a scan yields them.
type Item = (Vec<u8>, i64, i64, Vec<u8>);

impl Model {
    /// What a scan of `view` over `[from, to)` must yield: keys ascending,
    /// each key's versions newest first.
    fn scan(&self, view: u32, from: &[u8], to: Option<&[u8]>, known: Option<i64>) -> Vec<Item> {
        let k = known.unwrap_or(i64::MAX);
        let mut out = Vec::new();
        for ((v, key), versions) in &self.versions {
            if *v != view || key.as_slice() < from || to.is_some_and(|to| key.as_slice() >= to) {
                continue;
            }
            for ((e, c), row) in versions.iter().rev() {
                if *c <= k {
                    out.push((key.clone(), *e, *c, row.clone()));
                }
            }
        }
        out
    }
}

const KEYS: u8 = 7;

fn op() -> impl Strategy<Value = Op> {
    engine_ops::op(KEYS, 10, 8, 2, 0)
}

fn options() -> Options {
    // Tiny memtables and blocks: seals, several segments, scans over many
    // blocks.
    let mut o = stores::small(SyncPolicy::Never, 700, 128);
    o.segment.restart_interval = 3;
    o.compaction = stores::merging(3, 5, 8);
    o
}

fn collect(
    engine: &Engine,
    view: u32,
    from: &[u8],
    to: Option<&[u8]>,
    known: Option<i64>,
) -> Vec<Item> {
    engine
        .scan_view(view, from, to, known, |s| {
            let mut out = Vec::new();
            while let Some(v) = s.current().unwrap() {
                assert_eq!(s.entity_key(), v.entity_key);
                out.push((
                    v.entity_key.to_vec(),
                    v.event_ts,
                    v.created_ts,
                    v.row.to_vec(),
                ));
                s.advance().unwrap();
            }
            assert!(!s.valid() && !s.advance().unwrap());
            out
        })
        .unwrap()
}

fn check(engine: &Engine, model: &Model, seeks: &[u8]) -> Result<(), TestCaseError> {
    let mut keys: Vec<Vec<u8>> = (0..KEYS).map(string_key).collect();
    keys.sort();
    // Bounds: every key, and a byte string between keys.
    let mut bounds: Vec<Vec<u8>> = keys.clone();
    bounds.push(b"a".to_vec());
    bounds.push(Vec::new());
    for view in 1..3u32 {
        for known in [None, Some(0), Some(2)] {
            for from in &bounds {
                for to in bounds.iter().map(|b| Some(b.as_slice())).chain([None]) {
                    prop_assert_eq!(
                        collect(engine, view, from, to, known),
                        model.scan(view, from, to, known),
                        "view {} from {:?} to {:?} known {:?}",
                        view,
                        from,
                        to,
                        known
                    );
                }
            }
        }
        // Seeks: to chosen keys in order (some behind the position), taking
        // one key's versions after each.
        for known in [None, Some(1)] {
            let all = model.scan(view, &[], None, known);
            let got = engine
                .scan_view(view, &[], None, known, |s| {
                    let mut out = Vec::new();
                    for &k in seeks {
                        let target = string_key(k);
                        let ended = !s.valid();
                        let here = s.entity_key().to_vec();
                        let more = s.seek(&target).unwrap();
                        // The first version at or after max(target, here).
                        let floor = target.clone().max(here);
                        let want = if ended {
                            None
                        } else {
                            all.iter().find(|(key, ..)| *key >= floor).cloned()
                        };
                        let now = s.current().unwrap().map(|v| {
                            (
                                v.entity_key.to_vec(),
                                v.event_ts,
                                v.created_ts,
                                v.row.to_vec(),
                            )
                        });
                        if want != now || more != now.is_some() {
                            return Err(format!(
                                "seek to {target:?} from {:?}: got {now:?}, want {want:?}",
                                s.entity_key()
                            ));
                        }
                        // Take this key's versions.
                        let key = s.entity_key().to_vec();
                        while s.valid() && s.entity_key() == key.as_slice() {
                            let v = s.current().unwrap().unwrap();
                            out.push((key.clone(), v.event_ts, v.created_ts, v.row.to_vec()));
                            s.advance().unwrap();
                        }
                    }
                    Ok(out)
                })
                .unwrap();
            let got = got.map_err(TestCaseError::fail)?;
            // What was taken is, key by key, what the model holds.
            for (key, ..) in &got {
                let want: Vec<&Item> = all.iter().filter(|i| &i.0 == key).collect();
                let have: Vec<&Item> = got.iter().filter(|i| &i.0 == key).collect();
                prop_assert_eq!(have, want);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn scans_match_the_model(
        ops in prop::collection::vec(op(), 1..60),
        seeks in prop::collection::vec(0u8..KEYS, 1..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), options()).unwrap();
        let mut model = Model::default();
        for op in ops {
            engine_ops::apply(&engine, &mut model, &op, string_key);
        }
        check(&engine, &model, &seeks)?;
        // Everything in segments, then everything in one segment.
        engine.flush().unwrap();
        check(&engine, &model, &seeks)?;
        engine.compact().unwrap();
        check(&engine, &model, &seeks)?;
    }
}

/// Many versions per key, so that seeks both step forward and search the
/// index, over a memtable and several segments.
#[test]
fn long_runs_of_versions() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), options()).unwrap();
    let mut model = Model::default();
    for round in 0..4i64 {
        let mut b = WriteBatch::default();
        for k in 0..KEYS {
            for e in 0..40i64 {
                if (e + i64::from(k) + round) % 3 == 0 {
                    let row = [k, e as u8, round as u8];
                    b.put(1, &string_key(k), e, round, &row).unwrap();
                    model.put(1, &string_key(k), e, round, &row);
                }
            }
        }
        engine.write(&b).unwrap();
        if round < 3 {
            engine.flush().unwrap();
        }
    }
    let mut b = WriteBatch::default();
    b.delete(1, &string_key(3)).unwrap();
    engine.write(&b).unwrap();
    model.delete(1, &string_key(3));
    let all = model.scan(1, &[], None, None);
    assert_eq!(collect(&engine, 1, &[], None, None), all);
    let mut keys: Vec<Vec<u8>> = (0..KEYS).map(string_key).collect();
    keys.sort();
    // Every other key, by seeks.
    let got = engine
        .scan_view(1, &[], None, None, |s| {
            let mut out = Vec::new();
            for k in keys.iter().step_by(2) {
                s.seek(k).unwrap();
                s.for_each(|v| {
                    if v.entity_key != k.as_slice() {
                        return false;
                    }
                    out.push((k.clone(), v.event_ts, v.created_ts, v.row.to_vec()));
                    true
                })
                .unwrap();
            }
            out
        })
        .unwrap();
    let want: Vec<Item> = all
        .into_iter()
        .filter(|i| keys.iter().step_by(2).any(|k| *k == i.0))
        .collect();
    assert_eq!(got, want);
}
