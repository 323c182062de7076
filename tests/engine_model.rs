//! The engine's reads against a brute-force model, over random sequences of
//! writes (out of order, equal timestamps, rewrites), deletes, flushes,
//! memtable seals and reopens.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

mod common;

use common::engine_ops::{self, Model, Op, string_key};
use common::stores;
use proptest::prelude::*;
use strata::engine::{Engine, HistoryBounds, Options, SyncPolicy, Version};

impl Model {
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

fn op() -> impl Strategy<Value = Op> {
    engine_ops::op(5, 8, 6, 1, 1)
}

/// Keys 0 to 3 of [`string_key`], and its last (`"\xff\xff"`) as key 4.
fn entity_key(k: u8) -> Vec<u8> {
    string_key([0, 1, 2, 3, 6][usize::from(k)])
}

fn options() -> Options {
    // Tiny memtables and blocks: seals, several segments and multi-block
    // scans. Merge often: after every 2 flushes, and never keep more than 3
    // segments.
    let mut o = stores::small(SyncPolicy::Never, 600, 128);
    o.segment.restart_interval = 3;
    o.compaction = stores::merging(2, 3, 6);
    o
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
                // Limits stop the scan and keep the newest: at most
                // `limit` versions, past the first at most `max_bytes`.
                for (limit, bytes, known) in [
                    (0, usize::MAX, None),
                    (1, usize::MAX, None),
                    (2, usize::MAX, Some(1)),
                    (3, usize::MAX, None),
                    (usize::MAX, 0, None),
                    (usize::MAX, 40, None),
                    (4, 100, Some(2)),
                ] {
                    let all = model.history(view, &key, from, to, known);
                    let mut want = Vec::new();
                    let mut used = 0;
                    for v in &all {
                        if want.len() == limit || (!want.is_empty() && used + v.row.len() > bytes) {
                            break;
                        }
                        used += v.row.len();
                        want.push(v.clone());
                    }
                    let more = want.len() < all.len();
                    let bounds = HistoryBounds {
                        from,
                        to,
                        known_at: known,
                        limit,
                        max_bytes: bytes,
                    };
                    let (got, got_more) = engine.history_newest(view, &key, &bounds).unwrap();
                    prop_assert_eq!(&got, &want);
                    // More is said when there are more; it may be said
                    // when a source was left exactly at its end.
                    prop_assert!(got_more || !more);
                }
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
                Op::Reopen => {
                    drop(engine.take());
                    engine = Some(Engine::open(dir.path(), options()).unwrap());
                }
                op => engine_ops::apply(e, &mut model, &op, entity_key),
            }
            check(engine.as_ref().unwrap(), &model)?;
        }
    }
}
