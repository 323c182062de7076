//! Engine workloads: group commit, flush, bulk ingest, compaction.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;
use strata::engine::{CompactionOptions, Engine, IoMode, Options, SyncPolicy, WriteBatch};
use strata::format::key::{encode_int_key, internal_key};
use strata::format::segment::EntryKind;

use super::{Image, Points, files, report, scale};

const VIEW: u32 = 3;
const KEYS: i64 = 7;

/// Every batch (a write or an ingest) by number: its keys. A batch `b`
/// writes version `event_ts = b` of each of its keys, row `"b:k"`.
#[derive(Default)]
struct Model {
    submitted: BTreeMap<u64, Vec<i64>>,
    acked: BTreeSet<u64>,
}

type Shared = Arc<Mutex<Model>>;

fn row(b: u64, k: i64) -> Vec<u8> {
    format!("{b}:{k}").into_bytes()
}

fn keys_of(b: u64) -> Vec<i64> {
    let n = 1 + (b % 3) as i64;
    (0..n).map(|i| (b as i64 * 3 + i) % KEYS).collect()
}

fn options(io: IoMode) -> Options {
    Options {
        sync: SyncPolicy::Always,
        memtable_bytes: 2 << 10,
        compaction: CompactionOptions {
            background: false,
            min_merge: 2,
            ..CompactionOptions::default()
        },
        io,
        ..Options::default()
    }
}

fn write(e: &Engine, m: &Shared, b: u64) {
    let keys = keys_of(b);
    let mut batch = WriteBatch::default();
    for &k in &keys {
        batch
            .put(VIEW, &encode_int_key(k), b as i64, 1, &row(b, k))
            .unwrap();
    }
    m.lock().submitted.insert(b, keys);
    e.write(&batch).unwrap();
    m.lock().acked.insert(b);
}

fn ingest(e: &Engine, m: &Shared, b: u64) {
    let mut keys = keys_of(b);
    keys.sort_unstable();
    m.lock().submitted.insert(b, keys.clone());
    e.ingest_sorted(|add| {
        let mut k_buf = Vec::new();
        for &k in &keys {
            internal_key(VIEW, &encode_int_key(k), b as i64, 1, &mut k_buf);
            add(&k_buf, EntryKind::Version, &row(b, k))?;
        }
        Ok(())
    })
    .unwrap();
    m.lock().acked.insert(b);
}

/// Runs `work` on the simulator, then reopens every crash image and checks
/// it against the model.
/// Writes batches `1..=batches`, flushing after every `every`-th.
fn write_flushing(e: &Engine, m: &Shared, batches: u64, every: u64) {
    for b in 1..=batches {
        write(e, m, b);
        if b % every == 0 {
            e.flush().unwrap();
        }
    }
}

fn crash_test(name: &str, work: impl FnOnce(&Engine, &Shared)) {
    let model: Shared = Arc::default();
    let m = model.clone();
    let points = Points::new(move || m.lock().acked.clone());
    {
        let e = Engine::open(&points.dir, options(IoMode::Crash(points.crash.clone()))).unwrap();
        work(&e, &model);
    }
    let (images, n, _keep) = points.finish();
    let submitted = std::mem::take(&mut model.lock().submitted);
    for img in &images {
        check(img, &submitted);
    }
    report(name, n, images.len());
}

fn check(img: &Image<BTreeSet<u64>>, submitted: &BTreeMap<u64, Vec<i64>>) {
    let at = format!(
        "sync point {} seed {} ({})",
        img.point,
        img.seed,
        img.dir.display()
    );
    let e = match Engine::open(&img.dir, options(IoMode::Syscalls)) {
        Ok(e) => e,
        Err(err) => panic!("{at}: the store does not open after the crash: {err}"),
    };
    check_engine(&e, &img.state, submitted, &at);
    check_no_orphans(&e, &img.dir, &at);
    drop(e);
    // Recovery is idempotent: a second open finds the same.
    let e = Engine::open(&img.dir, options(IoMode::Syscalls)).unwrap();
    check_engine(&e, &img.state, submitted, &at);
}

fn check_engine(e: &Engine, acked: &BTreeSet<u64>, submitted: &BTreeMap<u64, Vec<i64>>, at: &str) {
    let mut present: BTreeMap<u64, usize> = BTreeMap::new();
    for k in 0..KEYS {
        for v in e
            .history(VIEW, &encode_int_key(k), i64::MIN, i64::MAX - 1, None)
            .unwrap()
        {
            let b = v.event_ts as u64;
            assert!(
                submitted.get(&b).is_some_and(|ks| ks.contains(&k)),
                "{at}: key {k} has a version never written: {v:?}"
            );
            assert_eq!(v.row, row(b, k), "{at}: key {k} batch {b}");
            *present.entry(b).or_default() += 1;
        }
    }
    for (b, keys) in submitted {
        let n = present.get(b).copied().unwrap_or(0);
        if acked.contains(b) {
            assert_eq!(n, keys.len(), "{at}: acknowledged batch {b} lost");
        } else {
            assert!(
                n == 0 || n == keys.len(),
                "{at}: batch {b} half applied ({n} of {} versions)",
                keys.len()
            );
        }
    }
}

/// After open: every segment file is listed, one WAL file is live, no
/// temporary file is left.
fn check_no_orphans(e: &Engine, dir: &Path, at: &str) {
    let segs = files(&dir.join("segments"), ".seg");
    assert_eq!(
        segs.len(),
        e.stats().segments,
        "{at}: orphan segments {segs:?}"
    );
    let wals = files(&dir.join("wal"), ".log");
    assert_eq!(wals.len(), 1, "{at}: WAL files left: {wals:?}");
    assert_eq!(files(dir, ".tmp"), Vec::<String>::new(), "{at}");
}

#[test]
fn crash_at_every_sync_point_of_group_commit() {
    crash_test("WAL writes with group commit", |e, m| {
        let per = 6 * scale() as u64;
        std::thread::scope(|s| {
            for t in 0..3u64 {
                s.spawn(move || {
                    for i in 0..per {
                        write(e, m, t * 1000 + i + 1);
                    }
                });
            }
        });
    });
}

#[test]
fn crash_at_every_sync_point_of_flushes() {
    crash_test("flush", |e, m| write_flushing(e, m, 9 * scale() as u64, 3));
}

#[test]
fn crash_at_every_sync_point_of_bulk_ingest() {
    crash_test("bulk ingest (Engine::ingest_sorted)", |e, m| {
        for b in 1..=(6 * scale() as u64) {
            write(e, m, 2 * b);
            ingest(e, m, 2 * b + 1);
        }
    });
}

#[test]
fn crash_at_every_sync_point_of_compaction() {
    crash_test("compaction", |e, m| {
        write_flushing(e, m, 8 * scale() as u64, 2);
        e.compact_as_needed().unwrap();
        write(e, m, 10_000);
        e.flush().unwrap();
        e.compact().unwrap();
    });
}
