//! Opening a store: lock, manifest, segments, WAL replay.
//!
//! Recovery replays every live WAL file into a memtable and, if anything was
//! replayed, writes it to a segment before the store takes writes; then the
//! replayed WAL files are removed. A torn WAL tail (a crash during an
//! append) is dropped and reported in [`RecoveryReport`]; any other damage
//! is an error naming the file and offset.

use crate::sync::Arc;
use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicU64;

use crate::sync::SwapCell;
use parking_lot::{Condvar, Mutex};

use strata_format::manifest::{Manifest, SegmentEntry};
use strata_format::wal as wal_format;

use super::io::Io;
use super::memtable::Memtable;
use super::readset::ReadSet;
use super::segment::{self, Segment};
use super::wal::{self, WalWriter};
use super::{Error, Inner, Options, RecoveryReport, Result, flush, freshness, lock, manifest};

fn file_numbers(dir: &Path, suffix: &str) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
        let e = e.map_err(|e| Error::io("list", dir, e))?;
        if let Some(n) = e
            .file_name()
            .to_string_lossy()
            .strip_suffix(suffix)
            .and_then(|n| n.parse().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

pub fn open(dir: &Path, opts: Options) -> Result<Inner> {
    fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    let lock = lock::DirLock::acquire(dir)?;
    // Every write below, recovery's included, goes through the backend.
    let poison = std::sync::Arc::new(parking_lot::Mutex::new(None));
    let io = Io::start(&opts.io, poison.clone())?;
    let seg_dir = segment::segment_dir(dir);
    let wal_dir = wal::wal_dir(dir);
    let mut report = RecoveryReport::default();
    let mut m = match manifest::load(dir)? {
        Some(m) => m,
        None => {
            let has_data = [&seg_dir, &wal_dir]
                .iter()
                .any(|d| fs::read_dir(d).is_ok_and(|mut r| r.next().is_some()));
            if has_data {
                return Err(Error::NotAStore {
                    path: dir.to_path_buf(),
                    reason: "it has segments/ or wal/ files but no MANIFEST; refusing to guess"
                        .into(),
                });
            }
            Manifest {
                next_file_number: 1,
                ..Manifest::default()
            }
        }
    };
    for d in [&seg_dir, &wal_dir] {
        fs::create_dir_all(d).map_err(|e| Error::io("create", d, e))?;
    }
    let seg_numbers = file_numbers(&seg_dir, ".seg")?;
    let wal_numbers = wal::list(dir)?;
    // Segment files not in the manifest were left by an interrupted flush.
    for n in &seg_numbers {
        if !m.segments.iter().any(|s| s.number == *n) {
            let p = segment::segment_path(dir, *n);
            fs::remove_file(&p).map_err(|e| Error::io("remove", &p, e))?;
            report.removed_orphans.push(p);
        }
    }
    let max_seen = seg_numbers
        .iter()
        .chain(&wal_numbers)
        .copied()
        .max()
        .unwrap_or(0);
    let next_file = AtomicU64::new(m.next_file_number.max(max_seen + 1));
    let mut segments = Vec::with_capacity(m.segments.len());
    for s in &m.segments {
        segments.push(Arc::new(Segment::open(dir, s.number)?));
    }

    // Replay the live WAL files into one memtable.
    let live_wal_bytes: u64 = wal_numbers
        .iter()
        .filter(|&&n| n >= m.first_live_wal)
        .filter_map(|&n| fs::metadata(wal::wal_path(dir, n)).ok())
        .map(|md| md.len())
        .sum();
    let replay_mem = Memtable::new(0, opts.memtable_bytes.max(live_wal_bytes as usize));
    let mut last_seqno = m.last_seqno;
    let mut replayed_marks = freshness::Replayed::new(&m);
    for &n in wal_numbers.iter().filter(|&&n| n >= m.first_live_wal) {
        let path = wal::wal_path(dir, n);
        let replayed = wal::replay(dir, n, |at, payload| {
            let batch =
                wal_format::decode_batch(payload).map_err(|e| Error::corruption(&path, at, e))?;
            let count = batch.ops.len() as u64;
            let last = batch
                .first_seqno
                .checked_add(count.saturating_sub(1))
                .filter(|_| count > 0);
            let Some(last) = last.filter(|&l| l < u64::MAX / 2) else {
                let why = format!("batch of {count} ops numbered from {}", batch.first_seqno);
                return Err(Error::corruption(
                    &path,
                    at,
                    strata_format::DecodeError::Invalid {
                        what: "wal batch",
                        offset: 0,
                        reason: why,
                    },
                ));
            };
            for (i, op) in batch.ops.iter().enumerate() {
                replay_mem.apply(batch.first_seqno + i as u64, op);
            }
            replayed_marks.batch(&path, batch.first_seqno, &batch.ops);
            last_seqno = last_seqno.max(last);
            report.batches += 1;
            Ok(())
        })?;
        report.wal_files += 1;
        if let Some(bytes) = replayed.torn_bytes {
            report.torn_tails.push((path, bytes));
        }
    }

    let memtable_bytes = opts.memtable_bytes;
    let freshness = replayed_marks.into_tracker(&m, opts.clock.now());
    let wal_number = next_file.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    let writer = WalWriter::create_with(&io, dir, wal_number)?;
    let inner = Inner {
        dir: dir.to_path_buf(),
        opts,
        _lock: lock,
        recovery: report,
        current: SwapCell::new(ReadSet {
            mem: Arc::new(Memtable::new(wal_number, memtable_bytes)),
            imm: Vec::new(),
            segments,
        }),
        state: Mutex::new(m.clone()),
        next_file,
        last_seqno: AtomicU64::new(last_seqno),
        wal: Mutex::new(writer),
        commit: Default::default(),
        flush: Mutex::default(),
        flush_cv: Condvar::new(),
        compaction: Mutex::new(()),
        compact_cv: Condvar::new(),
        policies: SwapCell::new(Default::default()),
        counters: Default::default(),
        freshness,
        poison,
        io,
    };
    // Write what was replayed to a segment, then record the new WAL as the
    // first live one: the replayed files are no longer needed.
    if !replay_mem.is_empty() {
        let number = inner
            .next_file
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        if let Some(seg) = flush::write_memtable(&inner, &replay_mem, number)? {
            m.segments.insert(
                0,
                SegmentEntry {
                    number,
                    level: 0,
                    size: seg.file_size(),
                },
            );
            let cur = inner.current.load_full();
            let mut segs = cur.segments.clone();
            segs.insert(0, seg);
            inner.current.store(Arc::new(ReadSet {
                mem: cur.mem.clone(),
                imm: Vec::new(),
                segments: segs,
            }));
        }
    }
    m.last_seqno = last_seqno;
    m.first_live_wal = wal_number;
    m.next_file_number = inner.next_file.load(std::sync::atomic::Ordering::Acquire);
    {
        let mut state = inner.state.lock();
        freshness::store_manifest(&inner, &mut m, None)?;
        *state = m;
    }
    flush::remove_wal_files_below(&inner, wal_number);
    Ok(inner)
}
