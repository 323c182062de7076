//! Sealing memtables and flushing them to segments.
//!
//! A full memtable is *sealed*: a new WAL file and memtable take the writes
//! and the sealed one joins the read set's immutable list. The flush thread
//! writes the oldest sealed memtable to a new segment file, syncs it, records
//! it in the manifest together with the first WAL file still needed, swaps
//! the read set, and removes the WAL files that are no longer needed.

use crate::sync::Arc;
use std::sync::atomic::Ordering;

use std::path::Path;

use strata_format::manifest::SegmentEntry;
use strata_format::segment::SegmentOptions;

use super::io::Io;

use super::memtable::Memtable;
use super::readset::ReadSet;
use super::segment::{self, Segment};
use super::wal::{self, WalWriter};
use super::{Error, Inner, Result};

/// Sealed memtables allowed to wait for the flush thread before writers
/// wait too.
const MAX_SEALED: usize = 4;

#[derive(Debug, Default)]
pub struct FlushState {
    pub shutdown: bool,
    /// The compaction thread has work to look at.
    pub compact_requested: bool,
    /// Flushes completed, for waiters.
    pub completed: u64,
    pub error: Option<String>,
}

/// Seals the active memtable (if it holds anything). The caller holds the
/// WAL lock, so no write is in progress.
pub fn seal(inner: &Inner, wal: &mut WalWriter) -> Result<()> {
    if inner.current.load().mem.is_empty() {
        return Ok(());
    }
    // Backpressure: let the flush thread catch up first.
    {
        let mut st = inner.flush.lock();
        while inner.current.load().imm.len() >= MAX_SEALED && st.error.is_none() && !st.shutdown {
            inner.flush_cv.wait(&mut st);
        }
        if let Some(e) = &st.error {
            return Err(Error::Poisoned(e.clone()));
        }
    }
    wal.sync()?;
    let number = inner.next_file.fetch_add(1, Ordering::AcqRel);
    *wal = WalWriter::create_with(&inner.io, &inner.dir, number)?;
    let _state = inner.state.lock();
    let cur = inner.current.load_full();
    let mut imm = Vec::with_capacity(cur.imm.len() + 1);
    imm.push(cur.mem.clone());
    imm.extend(cur.imm.iter().cloned());
    inner.current.store(Arc::new(ReadSet {
        mem: Arc::new(Memtable::new(number, inner.opts.memtable_bytes)),
        imm,
        segments: cur.segments.clone(),
    }));
    drop(_state);
    // Notify under the lock the flush thread checks its condition under.
    let _st = inner.flush.lock();
    inner.flush_cv.notify_all();
    Ok(())
}

/// Writes a memtable's live entries to segment `number`; `None` if it held
/// nothing to write.
pub fn write_memtable(inner: &Inner, mem: &Memtable, number: u64) -> Result<Option<Arc<Segment>>> {
    write_memtable_with(&inner.io, &inner.dir, mem, number, inner.opts.segment)
}

/// [`write_memtable`] before there is an engine (recovery).
pub fn write_memtable_with(
    io: &Io,
    dir: &Path,
    mem: &Memtable,
    number: u64,
    opts: SegmentOptions,
) -> Result<Option<Arc<Segment>>> {
    let props = segment::write_segment_with(io, dir, number, opts, |add| {
        let mut result = Ok(());
        mem.for_each_live(|k, kind, row| {
            if result.is_ok() {
                result = add(k, kind, row);
            }
        });
        result
    })?;
    if props.is_none() {
        return Ok(None);
    }
    let fs = io.fs();
    wal::sync_dir(&fs, &segment::segment_dir(dir))?;
    Ok(Some(Arc::new(Segment::open_with(&fs, dir, number)?)))
}

/// Flushes the oldest sealed memtable. Returns `false` if there was none.
fn flush_one(inner: &Inner) -> Result<bool> {
    let Some(oldest) = inner.current.load().imm.last().cloned() else {
        return Ok(false);
    };
    let number = inner.next_file.fetch_add(1, Ordering::AcqRel);
    let seg = write_memtable(inner, &oldest, number)?;
    if let Some(seg) = &seg {
        inner
            .counters
            .flushed_bytes
            .fetch_add(seg.file_size(), Ordering::Relaxed);
    }
    let mut m = inner.state.lock();
    let cur = inner.current.load_full();
    let imm: Vec<_> = cur
        .imm
        .iter()
        .filter(|x| !Arc::ptr_eq(x, &oldest))
        .cloned()
        .collect();
    let first_live_wal = imm.last().map_or(cur.mem.wal_number, |x| x.wal_number);
    let mut next = m.clone();
    if let Some(seg) = &seg {
        next.segments.insert(
            0,
            SegmentEntry {
                number,
                level: 0,
                size: seg.file_size(),
            },
        );
    }
    next.last_seqno = next.last_seqno.max(oldest.last_seqno());
    next.first_live_wal = first_live_wal;
    next.next_file_number = inner.next_file.load(Ordering::Acquire);
    super::freshness::store_manifest(inner, &mut next, None)?;
    *m = next;
    let mut segments = cur.segments.clone();
    if let Some(seg) = seg {
        segments.insert(0, seg);
    }
    inner.current.store(Arc::new(ReadSet {
        mem: cur.mem.clone(),
        imm,
        segments,
    }));
    drop(m);
    remove_wal_files_below(inner, first_live_wal);
    Ok(true)
}

/// Removes WAL files whose writes are all in segments. Failures are
/// harmless: the files are replayed idempotently and removed next time.
pub fn remove_wal_files_below(inner: &Inner, first_live: u64) {
    if let Ok(numbers) = wal::list(&inner.dir) {
        for n in numbers.into_iter().filter(|&n| n < first_live) {
            let _ = inner.io.fs().remove(&wal::wal_path(&inner.dir, n));
        }
    }
}

/// The flush thread.
pub fn run(inner: &Inner) {
    loop {
        {
            let mut st = inner.flush.lock();
            // Backpressure: while compaction is this far behind, flushes
            // wait, sealed memtables pile up, and then writers wait.
            let stall = inner.opts.compaction.stall_segments;
            let behind = |st: &FlushState| {
                inner.opts.compaction.background
                    && inner.current.load().segments.len() >= stall
                    && st.error.is_none()
            };
            while !st.shutdown && (inner.current.load().imm.is_empty() || behind(&st)) {
                inner.flush_cv.wait(&mut st);
            }
            if st.shutdown {
                return;
            }
        }
        match flush_one(inner) {
            Ok(_) => {
                let mut st = inner.flush.lock();
                st.completed += 1;
                st.compact_requested = true;
                inner.flush_cv.notify_all();
                inner.compact_cv.notify_all();
            }
            Err(e) => {
                inner.set_poison(&e);
                inner.flush.lock().error = Some(e.to_string());
                inner.flush_cv.notify_all();
                return;
            }
        }
    }
}

/// Seals the memtable and waits until no sealed memtable is left.
pub fn flush_and_wait(inner: &Inner) -> Result<()> {
    inner.check_writable()?;
    {
        let mut wal = inner.wal.lock();
        seal(inner, &mut wal)?;
    }
    let mut st = inner.flush.lock();
    loop {
        if let Some(e) = &st.error {
            return Err(Error::Poisoned(e.clone()));
        }
        if inner.current.load().imm.is_empty() {
            return Ok(());
        }
        if st.shutdown {
            return Err(Error::Closed);
        }
        inner.flush_cv.wait(&mut st);
    }
}
