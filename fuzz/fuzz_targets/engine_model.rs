//! The engine against a `BTreeMap` model, under random operations.
//!
//! Each input byte pair is one operation on a fresh store: a write of one
//! version (view, key, event and created time, row from the input), a
//! delete, a flush, a full compaction, a run of the compaction policy, or a
//! reopen. After every operation, `latest`, `as_of` at a few times and
//! `history` of every key must equal the model's answers.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use strata_engine::{CompactionOptions, Engine, Options, SyncPolicy, Version, WriteBatch};
use strata_format::key::encode_key_string;
use strata_format::segment::SegmentOptions;

type Model = BTreeMap<(u32, Vec<u8>), BTreeMap<(i64, i64), Vec<u8>>>;

fn key(k: u8) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key_string(&[b'k'; 3][..(k % 3) as usize], &mut out);
    out
}

fn options() -> Options {
    Options {
        sync: SyncPolicy::Never,
        memtable_bytes: 300,
        segment: SegmentOptions {
            block_size: 96,
            restart_interval: 2,
            ..SegmentOptions::default()
        },
        compaction: CompactionOptions {
            background: false,
            min_merge: 2,
            max_segments: 3,
            ..CompactionOptions::default()
        },
        ..Options::default()
    }
}

fn as_of(model: &Model, view: u32, k: &[u8], t: i64) -> Option<Version> {
    let versions = model.get(&(view, k.to_vec()))?;
    versions
        .iter()
        .rev()
        .find(|((e, _), _)| *e <= t)
        .map(|((e, c), r)| Version {
            event_ts: *e,
            created_ts: *c,
            row: r.clone(),
        })
}

fn check(engine: &Engine, model: &Model) {
    for view in 1..3u32 {
        for k in 0..3u8 {
            let kb = key(k);
            for t in [-1, 0, 2, 5, i64::MAX - 1] {
                assert_eq!(
                    engine.as_of(view, &kb, t, None).unwrap(),
                    as_of(model, view, &kb, t),
                    "view {view} key {k} t {t}"
                );
            }
            let want: Vec<Version> = model
                .get(&(view, kb.clone()))
                .map(|m| {
                    m.iter()
                        .rev()
                        .map(|((e, c), r)| Version {
                            event_ts: *e,
                            created_ts: *c,
                            row: r.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(
                engine.history(view, &kb, i64::MIN, i64::MAX, None).unwrap(),
                want
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() > 400 {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Some(Engine::open(dir.path(), options()).unwrap());
    let mut model = Model::new();
    for op in data.chunks(2) {
        let (a, b) = (op[0], op.get(1).copied().unwrap_or(0));
        let e = engine.as_ref().unwrap();
        let view = 1 + u32::from(a & 1);
        let k = key((a >> 1) & 3);
        match a >> 5 {
            0..=3 => {
                let (event, created) = (i64::from(b & 7), i64::from(b >> 6));
                let row = vec![b; usize::from(a & 3)];
                let mut batch = WriteBatch::default();
                batch.put(view, &k, event, created, &row).unwrap();
                e.write(&batch).unwrap();
                model
                    .entry((view, k))
                    .or_default()
                    .insert((event, created), row);
            }
            4 => {
                let mut batch = WriteBatch::default();
                batch.delete(view, &k).unwrap();
                e.write(&batch).unwrap();
                model.remove(&(view, k));
            }
            5 => e.flush().unwrap(),
            6 => {
                if b & 1 == 0 {
                    e.compact().unwrap();
                } else {
                    e.compact_as_needed().unwrap();
                }
            }
            _ => {
                drop(engine.take());
                engine = Some(Engine::open(dir.path(), options()).unwrap());
            }
        }
        check(engine.as_ref().unwrap(), &model);
    }
});
