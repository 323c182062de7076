//! Opening a store: lock, manifest, segments, WAL replay.
//!
//! Opening has a read phase, which writes nothing (manifest, segments, WAL
//! replay into a memtable), and, for a read-write open, a write phase:
//! the replayed memtable is written to a segment, a new WAL file and
//! manifest take over, and the replayed WAL files and orphans are removed.
//! A torn WAL tail (a crash during an append) is dropped and reported in
//! [`RecoveryReport`]; any other damage is an error naming the file and
//! offset.
//!
//! A read-only open ([`OpenMode::ReadOnly`]) stops after the read phase and
//! serves reads from the replayed memtable and the segments. So does a
//! read-write open whose write phase fails because the store cannot be
//! written (no space, a read-only file system or directory): it opens
//! anyway, and refuses writes with [`Error::ReadOnly`] saying why.

use crate::sync::Arc;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::sync::SwapCell;
use parking_lot::{Condvar, Mutex};

use strata_format::manifest::{Manifest, SegmentEntry};
use strata_format::wal as wal_format;

use super::io::{Fs, Io};
use super::memtable::Memtable;
use super::readset::ReadSet;
use super::segment::{self, Segment};
use super::wal::{self, WalWriter};
use super::{Error, Inner, Options, RecoveryReport, Result, flush, freshness, lock, manifest};

/// How a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpenMode {
    /// Recover, take `LOCK`, take writes. If the store cannot be written
    /// when it is opened (no space left, a read-only file system or
    /// directory), it still opens: reads work and writes are refused with
    /// [`Error::ReadOnly`] saying why.
    #[default]
    ReadWrite,
    /// Read only: nothing is created, written or removed, and no lock is
    /// taken, so it works on a full disk, a read-only directory, and beside
    /// a process that holds the store open. The WAL is replayed into
    /// memory; reads see the store as it was at open (later writes of
    /// another process are not seen). Writes, flush, compaction and ingest
    /// are refused with [`Error::ReadOnly`].
    ReadOnly,
}

/// File numbers in `dir` with `suffix`, ascending; none if `dir` is missing.
fn file_numbers(dir: &Path, suffix: &str) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    for e in entries {
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

/// What the read phase found.
struct Found {
    manifest: Manifest,
    /// There was no `MANIFEST`: a new store.
    new_store: bool,
    segments: Vec<Arc<Segment>>,
    /// Segment files the manifest does not list.
    orphans: Vec<u64>,
    mem: Arc<Memtable>,
    last_seqno: u64,
    next_file: u64,
    marks: freshness::Replayed,
    report: RecoveryReport,
}

/// Whether `e` means the store cannot be written here (rather than damage
/// or a bug): a read-write open then serves reads.
fn cannot_write(e: &Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(e, Error::Io { source, .. } if matches!(
        source.kind(),
        K::StorageFull | K::ReadOnlyFilesystem | K::PermissionDenied | K::QuotaExceeded
    ))
}

pub fn open(dir: &Path, opts: Options) -> Result<Inner> {
    // Every write below, recovery's included, goes through the backend.
    let poison = std::sync::Arc::new(parking_lot::Mutex::new(None));
    let io = Io::start(&opts.io, poison.clone())?;
    let fs = io.fs();
    let mut lock = None;
    let mut read_only = None;
    if opts.mode == OpenMode::ReadOnly {
        if !dir.is_dir() {
            return Err(Error::NotAStore {
                path: dir.to_path_buf(),
                reason: "no such directory (a read-only open creates nothing)".into(),
            });
        }
        read_only = Some("it was opened read-only".to_string());
    } else {
        match fs
            .create_dir_all(dir)
            .and_then(|()| lock::DirLock::acquire(dir))
        {
            Ok(l) => lock = Some(l),
            Err(e) if cannot_write(&e) && dir.is_dir() => read_only = Some(no_writes(&e)),
            Err(e) => return Err(e),
        }
    }
    // A concurrent writer (possible for a read-only open, which takes no
    // lock) may remove a file between the manifest read and its use: retry.
    let mut attempt = 0;
    let found = loop {
        match read_phase(dir, &opts, &fs) {
            Err(Error::Io { source, .. })
                if lock.is_none()
                    && source.kind() == std::io::ErrorKind::NotFound
                    && attempt < 5 =>
            {
                attempt += 1;
            }
            other => break other?,
        }
    };
    let now = opts.clock.now();
    let base = |read_only: Option<String>, writer, current, state, found: &Found| Inner {
        dir: dir.to_path_buf(),
        opts: opts.clone(),
        _lock: None,
        read_only,
        recovery: found.report.clone(),
        current: SwapCell::new(current),
        state: Mutex::new(state),
        next_file: AtomicU64::new(found.next_file),
        last_seqno: AtomicU64::new(found.last_seqno),
        wal: Mutex::new(writer),
        commit: Default::default(),
        flush: Mutex::default(),
        flush_cv: Condvar::new(),
        compaction: Mutex::new(()),
        compact_cv: Condvar::new(),
        policies: SwapCell::new(Default::default()),
        counters: Default::default(),
        freshness: found.marks.tracker(&found.manifest, now),
        poison: poison.clone(),
        io: io.clone(),
    };
    let serve_reads = |why: String, found: Found| {
        let current = ReadSet {
            mem: found.mem.clone(),
            imm: Vec::new(),
            segments: found.segments.clone(),
        };
        let writer = WalWriter::none(&io, &why);
        let mut inner = base(Some(why), writer, current, found.manifest.clone(), &found);
        inner.recovery.removed_orphans.clear();
        inner
    };
    let mut inner = match read_only {
        Some(why) => serve_reads(why, found),
        None => {
            let written = write_phase(dir, &io, &found, &opts).and_then(|(w, cur, m)| {
                let inner = base(None, w, cur, m.clone(), &found);
                inner.next_file.store(m.next_file_number, Ordering::Release);
                // The freshness marks raised by the replay, the new WAL
                // position and the replayed segment, in one manifest.
                let mut state = inner.state.lock();
                let mut next = m;
                freshness::store_manifest(&inner, &mut next, None)?;
                *state = next;
                drop(state);
                Ok(inner)
            });
            match written {
                Ok(inner) => inner,
                // Whatever the write phase left (a WAL file, a segment the
                // manifest does not list) is replayed or removed next time.
                Err(e) if cannot_write(&e) => serve_reads(no_writes(&e), found),
                Err(e) => return Err(e),
            }
        }
    };
    inner._lock = lock;
    if inner.read_only.is_none() {
        // Harmless if it fails: the files are below `first live wal`.
        let _ = remove_leftovers(&inner);
    }
    Ok(inner)
}

fn no_writes(e: &Error) -> String {
    format!(
        "it could not be written when it was opened ({e}); reads work; make room or fix permissions and reopen the store to write"
    )
}

/// Reads the manifest, opens the listed segments and replays the live WAL
/// files into a memtable. Writes nothing.
fn read_phase(dir: &Path, opts: &Options, fs: &Fs) -> Result<Found> {
    let seg_dir = segment::segment_dir(dir);
    let wal_dir = wal::wal_dir(dir);
    let seg_numbers = file_numbers(&seg_dir, ".seg")?;
    let wal_numbers = file_numbers(&wal_dir, ".log")?;
    let loaded = manifest::load(dir)?;
    let new_store = loaded.is_none();
    let m = match loaded {
        Some(m) => m,
        None if seg_numbers.is_empty() && wal_numbers.is_empty() => Manifest {
            next_file_number: 1,
            ..Manifest::default()
        },
        None => {
            return Err(Error::NotAStore {
                path: dir.to_path_buf(),
                reason: "it has segments/ or wal/ files but no MANIFEST; refusing to guess".into(),
            });
        }
    };
    let orphans: Vec<u64> = seg_numbers
        .iter()
        .copied()
        .filter(|n| !m.segments.iter().any(|s| s.number == *n))
        .collect();
    let max_seen = seg_numbers.iter().chain(&wal_numbers).copied().max();
    let next_file = m.next_file_number.max(max_seen.map_or(0, |n| n + 1));
    let mut segments = Vec::with_capacity(m.segments.len());
    for s in &m.segments {
        segments.push(Arc::new(Segment::open_with(fs, dir, s.number)?));
    }
    let live: Vec<u64> = wal_numbers
        .into_iter()
        .filter(|&n| n >= m.first_live_wal)
        .collect();
    let live_wal_bytes: u64 = live
        .iter()
        .filter_map(|&n| fs::metadata(wal::wal_path(dir, n)).ok())
        .map(|md| md.len())
        .sum();
    let mem = Memtable::new(0, opts.memtable_bytes.max(live_wal_bytes as usize));
    let mut last_seqno = m.last_seqno;
    let mut marks = freshness::Replayed::new(&m);
    let mut report = RecoveryReport::default();
    for &n in &live {
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
                mem.apply(batch.first_seqno + i as u64, op);
            }
            marks.batch(&path, batch.first_seqno, &batch.ops);
            last_seqno = last_seqno.max(last);
            report.batches += 1;
            Ok(())
        })?;
        report.wal_files += 1;
        if let Some(bytes) = replayed.torn_bytes {
            report.torn_tails.push((path, bytes));
        }
    }
    report.removed_orphans = orphans
        .iter()
        .map(|&n| segment::segment_path(dir, n))
        .collect();
    Ok(Found {
        manifest: m,
        new_store,
        segments,
        orphans,
        mem: Arc::new(mem),
        last_seqno,
        next_file,
        marks,
        report,
    })
}

/// Makes what was replayed durable in a segment and starts a new WAL file;
/// returns the writer, the read set and the manifest to store.
fn write_phase(
    dir: &Path,
    io: &Io,
    found: &Found,
    opts: &Options,
) -> Result<(WalWriter, ReadSet, Manifest)> {
    let fs = io.fs();
    for d in [segment::segment_dir(dir), wal::wal_dir(dir)] {
        fs.create_dir_all(&d)?;
    }
    for &n in &found.orphans {
        fs.remove_if_exists(&segment::segment_path(dir, n))?;
    }
    if found.new_store {
        // The manifest first: a crash before it is in place must not leave
        // a WAL file without a manifest (which open refuses as not a store).
        manifest::store(&fs, dir, &found.manifest)?;
    }
    let next_file = AtomicU64::new(found.next_file);
    let wal_number = next_file.fetch_add(1, Ordering::AcqRel);
    let writer = WalWriter::create_with(io, dir, wal_number)?;
    let mut m = found.manifest.clone();
    let mut segments = found.segments.clone();
    // Write what was replayed to a segment; the new WAL is then the first
    // live one and the replayed files are no longer needed.
    if !found.mem.is_empty() {
        let number = next_file.fetch_add(1, Ordering::AcqRel);
        if let Some(seg) = flush::write_memtable_with(io, dir, &found.mem, number, opts.segment)? {
            m.segments.insert(
                0,
                SegmentEntry {
                    number,
                    level: 0,
                    size: seg.file_size(),
                },
            );
            segments.insert(0, seg);
        }
    }
    m.last_seqno = found.last_seqno;
    m.first_live_wal = wal_number;
    m.next_file_number = next_file.load(Ordering::Acquire);
    let current = ReadSet {
        mem: Arc::new(Memtable::new(wal_number, opts.memtable_bytes)),
        imm: Vec::new(),
        segments,
    };
    Ok((writer, current, m))
}

/// After the manifest of a read-write open is in place: removes the
/// replayed WAL files and a leftover `MANIFEST.tmp`.
fn remove_leftovers(inner: &Inner) -> Result<()> {
    let first_live = inner.state.lock().first_live_wal;
    flush::remove_wal_files_below(inner, first_live);
    let fs = inner.io.fs();
    fs.remove_if_exists(&inner.dir.join(format!("{}.tmp", manifest::FILE)))
}
