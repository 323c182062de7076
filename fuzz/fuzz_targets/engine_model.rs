//! The engine against a `BTreeMap` model, under random operations.
//!
//! Each input byte pair is one operation on a fresh store: a write of one
//! version (view, key, event and created time, row from the input), a
//! delete, a flush, a full compaction, a run of the compaction policy, or a
//! reopen. After every operation, `latest`, `as_of` at a few times and
//! `history` of every key must equal the model's answers.
//!
//! The first byte picks a schedule of storage trouble:
//!
//! - even: the store runs on the power-loss simulator (`CrashFs`, sync
//!   policy `always`), and operation 7 with an odd second byte is a power
//!   loss: the store is reopened from a crash image (what a real file
//!   system could keep), which must hold exactly the model (every write
//!   was acknowledged, so none may be lost; none is half applied);
//! - odd: the store runs on the fault-injecting backend, and operation 7
//!   with an odd second byte arms a failure of one kind of I/O (the second
//!   byte picks which and when). An operation that then fails is followed
//!   by a reopen on healthy I/O; a failed write or delete may be present or
//!   not, but wholly, and the model follows what the store kept.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use strata_engine::{
    CompactionOptions, CrashFs, Engine, FaultOp, Faults, IoMode, Options, SyncPolicy, Version,
    WriteBatch,
};
use strata_format::key::encode_key_string;
use strata_format::segment::SegmentOptions;

type Model = BTreeMap<(u32, Vec<u8>), BTreeMap<(i64, i64), Vec<u8>>>;

fn key(k: u8) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key_string(&[b'k'; 3][..(k % 3) as usize], &mut out);
    out
}

fn options(io: IoMode) -> Options {
    Options {
        io,
        sync: SyncPolicy::Always,
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

const FAULTS: [FaultOp; 12] = [
    FaultOp::WalWrite,
    FaultOp::WalSync,
    FaultOp::SegmentWrite,
    FaultOp::SegmentSync,
    FaultOp::Read,
    FaultOp::MetaWrite,
    FaultOp::MetaSync,
    FaultOp::Create,
    FaultOp::Rename,
    FaultOp::Remove,
    FaultOp::DirSync,
    FaultOp::SetLen,
];

/// The store under test and what it runs on.
struct Store {
    root: tempfile::TempDir,
    /// The current store directory (a new one after each power loss).
    dir: std::path::PathBuf,
    generation: u32,
    crash: Option<CrashFs>,
    faults: Faults,
}

impl Store {
    fn io(&mut self) -> IoMode {
        match &self.crash {
            Some(_) => {
                let c = CrashFs::new(&self.dir).unwrap();
                self.crash = Some(c.clone());
                IoMode::Crash(c)
            }
            None => {
                self.faults = Faults::new();
                IoMode::Faulty(self.faults.clone())
            }
        }
    }

    fn open(&mut self) -> Engine {
        let io = self.io();
        Engine::open(&self.dir, options(io)).unwrap()
    }

    /// A power loss now: the next store is a crash image of this one.
    fn power_loss(&mut self, seed: u64) {
        self.generation += 1;
        let next = self.root.path().join(self.generation.to_string());
        let c = self.crash.as_ref().unwrap();
        c.crash_image(&next, seed).unwrap();
        self.dir = next;
    }
}

/// After a failed write of `(view, k)`: the model follows what the store
/// kept, which must be all of the write or none of it.
fn reconcile(engine: &Engine, model: &mut Model, view: u32, k: &[u8], put: Option<(i64, i64, Vec<u8>)>) {
    let got = engine.history(view, k, i64::MIN, i64::MAX, None).unwrap();
    let entry = (view, k.to_vec());
    match put {
        Some((event, created, row)) => {
            if got.iter().any(|v| (v.event_ts, v.created_ts, &v.row) == (event, created, &row)) {
                model.entry(entry).or_default().insert((event, created), row);
            }
        }
        None => {
            if got.is_empty() {
                model.remove(&entry);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() > 400 || data.is_empty() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let crash_schedule = data[0] & 1 == 0;
    let mut store = Store {
        dir: root.path().join("0"),
        root,
        generation: 0,
        crash: None,
        faults: Faults::new(),
    };
    if crash_schedule {
        store.crash = Some(CrashFs::new(&store.dir).unwrap());
    }
    let mut engine = Some(store.open());
    let mut model = Model::new();
    for op in data[1..].chunks(2) {
        let (a, b) = (op[0], op.get(1).copied().unwrap_or(0));
        let e = engine.as_ref().unwrap();
        let view = 1 + u32::from(a & 1);
        let k = key((a >> 1) & 3);
        // What a failed operation may have half done, to reconcile.
        let mut failed_write = None;
        let outcome = match a >> 5 {
            0..=3 => {
                let (event, created) = (i64::from(b & 7), i64::from(b >> 6));
                let row = vec![b; usize::from(a & 3)];
                let mut batch = WriteBatch::default();
                batch.put(view, &k, event, created, &row).unwrap();
                let r = e.write(&batch);
                match r {
                    Ok(()) => {
                        model
                            .entry((view, k.clone()))
                            .or_default()
                            .insert((event, created), row);
                    }
                    Err(_) => failed_write = Some(Some((event, created, row))),
                }
                r
            }
            4 => {
                let mut batch = WriteBatch::default();
                batch.delete(view, &k).unwrap();
                let r = e.write(&batch);
                match r {
                    Ok(()) => {
                        model.remove(&(view, k.clone()));
                    }
                    Err(_) => failed_write = Some(None),
                }
                r
            }
            5 => e.flush(),
            6 if b & 1 == 0 => e.compact().map(drop),
            6 => e.compact_as_needed().map(drop),
            _ if b & 1 == 1 && crash_schedule => {
                store.power_loss(u64::from(b));
                drop(engine.take());
                engine = Some(store.open());
                Ok(())
            }
            _ if b & 1 == 1 => {
                let which = FAULTS[usize::from(b >> 1) % FAULTS.len()];
                store.faults.fail_nth(which, 1 + u64::from(b >> 5));
                Ok(())
            }
            _ => {
                drop(engine.take());
                engine = Some(store.open());
                Ok(())
            }
        };
        if outcome.is_err() {
            // Only injected faults may fail an operation.
            assert!(!crash_schedule && store.faults.injected() > 0, "{outcome:?}");
            drop(engine.take());
            engine = Some(store.open());
            if let Some(put) = failed_write {
                reconcile(engine.as_ref().unwrap(), &mut model, view, &k, put);
            }
        }
        check(engine.as_ref().unwrap(), &model);
    }
});
