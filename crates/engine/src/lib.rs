//! The time-travel LSM engine.
//!
//! Writes go to a write-ahead log (group commit), then into a skiplist
//! memtable; full memtables are flushed by a background thread into
//! immutable, mmap'd segment files listed in the manifest. Reads merge the
//! memtables and segments, newest source first.
//!
//! The engine knows views by numeric id and rows as encoded bytes; names and
//! schemas live in the catalog above it.

mod commit;
mod compact;
mod error;
mod flush;
mod freshness;
pub mod group_commit;
mod history;
mod ingest;
mod io;
mod lock;
#[cfg(all(test, strata_loom))]
mod loom_tests;
mod manifest;
mod memtable;
mod open;
mod options;
mod prefetch;
mod read;
mod read_batch;
mod readset;
pub mod retire;
pub mod scan;
mod segment;
pub mod sync;
mod wal;

pub use compact::{CompactionOptions, MergeStats, ViewPolicy};
pub use error::{Error, Result};
pub use freshness::ViewFreshness;
pub use history::HistoryBounds;
#[doc(hidden)]
pub use io::fs::{Installed, install};
pub use io::fs::{replace, replace_with_mode};
#[cfg(any(test, feature = "test-util"))]
pub use io::{FaultOp, Faults, crash::CrashFs};
pub use io::{Fs, IoMode};
pub use open::OpenMode;
pub use options::{Clock, Options, SyncPolicy};
pub use read_batch::KeyBatch;
pub use segment::EntrySink;

use crate::sync::Arc;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::sync::SwapCell;
use parking_lot::{Condvar, Mutex};

use readset::ReadSet;
use strata_format::manifest::Manifest;

use strata_format::key::{self, ViewId};
use strata_format::segment::EntryKind;
use strata_format::wal::BatchEncoder;

/// A version as read: its timestamps and encoded row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub event_ts: i64,
    pub created_ts: i64,
    pub row: Vec<u8>,
}

impl From<history::HistoryEntry> for Version {
    fn from((event_ts, created_ts, row): history::HistoryEntry) -> Version {
        Version {
            event_ts,
            created_ts,
            row,
        }
    }
}

/// Writes applied atomically and durably together.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    enc: BatchEncoder,
    key: Vec<u8>,
}

impl WriteBatch {
    /// Adds a version of `(view, entity key)`. `event_ts` may not be
    /// `i64::MAX` (reserved for tombstones).
    pub fn put(
        &mut self,
        view: ViewId,
        entity_key: &[u8],
        event_ts: i64,
        created_ts: i64,
        row: &[u8],
    ) -> Result<()> {
        if event_ts == key::TOMBSTONE_TS {
            return Err(Error::InvalidWrite(format!(
                "event_ts {event_ts} is reserved"
            )));
        }
        if entity_key.len() > key::MAX_ENTITY_KEY_LEN {
            return Err(Error::InvalidWrite(format!(
                "entity key longer than {} bytes",
                key::MAX_ENTITY_KEY_LEN
            )));
        }
        key::internal_key(view, entity_key, event_ts, created_ts, &mut self.key);
        self.enc.put(EntryKind::Version, &self.key, row);
        Ok(())
    }

    /// Removes every version of `(view, entity key)` written before this batch.
    pub fn delete(&mut self, view: ViewId, entity_key: &[u8]) -> Result<()> {
        if entity_key.len() > key::MAX_ENTITY_KEY_LEN {
            return Err(Error::InvalidWrite(format!(
                "entity key longer than {} bytes",
                key::MAX_ENTITY_KEY_LEN
            )));
        }
        key::internal_key(
            view,
            entity_key,
            key::TOMBSTONE_TS,
            key::TOMBSTONE_TS,
            &mut self.key,
        );
        self.enc.put(EntryKind::Tombstone, &self.key, &[]);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.enc.count() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.enc.count() == 0
    }

    pub fn clear(&mut self) {
        self.enc.clear();
    }

    pub(crate) fn encoder(&self) -> &BatchEncoder {
        &self.enc
    }
}

/// What opening the store found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// WAL files replayed.
    pub wal_files: usize,
    /// Write batches replayed from them.
    pub batches: usize,
    /// A torn tail dropped from a WAL file: `(file, bytes dropped)`.
    pub torn_tails: Vec<(std::path::PathBuf, u64)>,
    /// Files left by an interrupted flush and removed.
    pub removed_orphans: Vec<std::path::PathBuf>,
}

/// Counters for monitoring.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub memtable_bytes: usize,
    pub sealed_memtables: usize,
    pub segments: usize,
    pub segment_bytes: u64,
    pub last_seqno: u64,
    /// Bytes of segments written by flushes since open.
    pub flushed_bytes: u64,
    /// Bytes of segments written by compactions since open.
    pub compacted_bytes: u64,
    pub compactions: u64,
}

/// The engine. Share it by reference across threads; dropping it stops the
/// background threads and syncs the WAL.
pub struct Engine {
    inner: Arc<Inner>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Engine {
    /// Opens or creates the store in `dir`, holding `dir/LOCK`, and recovers
    /// from the manifest and the WAL.
    pub fn open(dir: &Path, opts: Options) -> Result<Engine> {
        let inner = Arc::new(open::open(dir, opts)?);
        let mut threads = Vec::new();
        if inner.read_only.is_some() {
            return Ok(Engine { inner, threads });
        }
        let i = inner.clone();
        threads.push(spawn("strata-flush", move || flush::run(&i))?);
        if inner.opts.compaction.background {
            let i = inner.clone();
            threads.push(spawn("strata-compact", move || compact::run(&i))?);
            // Segments left over from before may already call for a merge.
            inner.request_compaction();
        }
        if let SyncPolicy::Interval(every) = inner.opts.sync {
            let i = inner.clone();
            threads.push(spawn("strata-sync", move || commit::sync_every(&i, every))?);
        }
        Ok(Engine { inner, threads })
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The clock the engine reads (the injected one in tests).
    pub fn clock(&self) -> &Clock {
        &self.inner.opts.clock
    }

    /// The freshness of `view` (`None` if no version was ever written to
    /// it). Reflects every [`Engine::write`] that has returned and every
    /// finished [`Engine::ingest_sorted`]. See [`ViewFreshness`].
    pub fn freshness(&self, view: ViewId) -> Option<ViewFreshness> {
        self.inner.freshness.get(view, self.inner.opts.clock.now())
    }

    /// The freshness of every view written to, by view id.
    pub fn freshness_all(&self) -> Vec<(ViewId, ViewFreshness)> {
        self.inner.freshness.all(self.inner.opts.clock.now())
    }

    /// Why the store takes no writes (opened read-only, or no space or
    /// permission to write when it was opened); `None` if it takes writes.
    pub fn read_only_reason(&self) -> Option<&str> {
        self.inner.read_only.as_deref()
    }

    /// What recovery found when the store was opened.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    /// Applies a batch atomically; returns once it is durable per the sync
    /// policy and visible to every read that starts afterwards.
    pub fn write(&self, batch: &WriteBatch) -> Result<()> {
        commit::write(&self.inner, batch)
    }

    /// The greatest version of `(view, entity key)`.
    pub fn latest(
        &self,
        view: ViewId,
        entity_key: &[u8],
        known_at: Option<i64>,
    ) -> Result<Option<Version>> {
        self.as_of(view, entity_key, key::TOMBSTONE_TS - 1, known_at)
    }

    /// The greatest version with `event_ts <= t` (and `created_ts <= known_at`).
    pub fn as_of(
        &self,
        view: ViewId,
        entity_key: &[u8],
        t: i64,
        known_at: Option<i64>,
    ) -> Result<Option<Version>> {
        self.as_of_with(view, entity_key, t, known_at, |v| {
            v.map(|(event_ts, created_ts, row)| Version {
                event_ts,
                created_ts,
                row: row.to_vec(),
            })
        })
    }

    /// Like [`Engine::as_of`], handing the version to `f` without copying
    /// it out: `f(Some((event_ts, created_ts, row)))`, or `f(None)`. Uses
    /// per-thread buffers, so it does not allocate once warm.
    pub fn as_of_with<R>(
        &self,
        view: ViewId,
        entity_key: &[u8],
        t: i64,
        known_at: Option<i64>,
        f: impl FnOnce(Option<(i64, i64, &[u8])>) -> R,
    ) -> Result<R> {
        thread_local! {
            static SCRATCH: std::cell::RefCell<read::Scratch> = std::cell::RefCell::default();
        }
        let rs = self.inner.current.load();
        SCRATCH.with(|cell| {
            let mut fresh = read::Scratch::default();
            let mut borrowed = cell.try_borrow_mut();
            let s = match borrowed.as_deref_mut() {
                Ok(s) => s,
                Err(_) => &mut fresh,
            };
            read::as_of(&rs, view, entity_key, t, known_at, s)?;
            let b = &s.best;
            Ok(f(b.found.then_some((
                b.event_ts,
                b.created_ts,
                b.row.as_slice(),
            ))))
        })
    }

    /// Every version with `from <= event_ts <= to`, newest first.
    pub fn history(
        &self,
        view: ViewId,
        entity_key: &[u8],
        from: i64,
        to: i64,
        known_at: Option<i64>,
    ) -> Result<Vec<Version>> {
        Ok(self
            .history_newest(view, entity_key, &HistoryBounds::all(from, to, known_at))?
            .0)
    }

    /// The newest of [`Engine::history`]'s versions within `bounds` (at
    /// most `limit`, and past the first at most `max_bytes` of rows); and
    /// whether there are more. Read with work bounded by the limits, not
    /// by the key's history.
    pub fn history_newest(
        &self,
        view: ViewId,
        entity_key: &[u8],
        bounds: &HistoryBounds,
    ) -> Result<(Vec<Version>, bool)> {
        let rs = self.inner.current.load();
        let (some, more) = history::history(&rs, view, entity_key, bounds)?;
        Ok((some.into_iter().map(Version::from).collect(), more))
    }

    /// A merged sequential scan of `view`'s versions with entity keys in
    /// `[from, to)`, in key order and newest first per key, skipping those
    /// created after `known_at`; handed to `f`. See [`scan::ViewScan`].
    pub fn scan_view<R>(
        &self,
        view: ViewId,
        from: &[u8],
        to: Option<&[u8]>,
        known_at: Option<i64>,
        f: impl FnOnce(&mut scan::ViewScan<'_>) -> R,
    ) -> Result<R> {
        scan::scan_view(&self.inner.current.load_full(), view, from, to, known_at, f)
    }

    /// The entity keys present in `view` (keys deleted since the last
    /// compaction may be listed too).
    pub fn keys_of_view(&self, view: ViewId) -> Result<Vec<Vec<u8>>> {
        read::keys_of_view(&self.inner.current.load(), view)
    }

    /// Seals the memtable and waits until everything written before this
    /// call is in segments.
    pub fn flush(&self) -> Result<()> {
        flush::flush_and_wait(&self.inner)
    }

    /// Merges every segment into one, dropping versions hidden by deletes
    /// and rewrites, tombstones, and what the views' retention and
    /// `max_versions` no longer keep.
    pub fn compact(&self) -> Result<MergeStats> {
        compact::compact_all(&self.inner)
    }

    /// Bulk ingest: writes the entries `fill` produces (internal keys, see
    /// [`strata_format::key::internal_key`], in strictly increasing order) as
    /// one new segment and adds it to the store atomically, bypassing the
    /// WAL and the memtable. The run is newer than every write acknowledged
    /// before the call. Returns the segment's statistics (`None` if empty).
    pub fn ingest_sorted(
        &self,
        fill: impl FnOnce(EntrySink<'_>) -> Result<()>,
    ) -> Result<Option<strata_format::segment::SegmentProps>> {
        ingest::ingest_sorted(&self.inner, fill)
    }

    /// Runs the compaction policy now, in this thread, until it picks
    /// nothing more. Returns the number of merges.
    pub fn compact_as_needed(&self) -> Result<usize> {
        compact::compact_as_needed(&self.inner)
    }

    /// Sets how each view's history is pruned by compaction (views not
    /// listed keep everything).
    pub fn set_view_policies(&self, policies: std::collections::HashMap<ViewId, ViewPolicy>) {
        self.inner.policies.store(Arc::new(policies));
    }

    /// The backend's durable file operations ([`Fs::replace`] for small
    /// metadata files next to the engine's).
    pub fn fs(&self) -> Fs {
        self.inner.io.fs()
    }

    /// The I/O backend in use: `"io_uring"`, `"syscalls"` (or
    /// `"fault-injection"` in tests).
    pub fn io_backend(&self) -> &'static str {
        self.inner.io.name()
    }

    /// Why io_uring is not in use although the [`IoMode`] tried it (the
    /// kernel refused it).
    pub fn io_fallback_reason(&self) -> Option<&str> {
        self.inner.io.fallback_reason()
    }

    /// Reads every entry of every segment as a compaction does: through the
    /// I/O backend's sequential reader if `through_io`, else through the
    /// mmap. Returns the entries read. For benchmarks.
    #[cfg(any(test, feature = "test-util"))]
    pub fn scan_segments(&self, through_io: bool) -> Result<u64> {
        let rs = self.inner.current.load();
        segment::scan_entries(&rs.segments, through_io.then_some(&self.inner.io))
    }

    pub fn stats(&self) -> Stats {
        let rs = self.inner.current.load();
        Stats {
            memtable_bytes: rs.memtables().map(|m| m.approximate_bytes()).sum(),
            sealed_memtables: rs.imm.len(),
            segments: rs.segments.len(),
            segment_bytes: rs.segments.iter().map(|s| s.file_size()).sum(),
            last_seqno: self.inner.last_seqno.load(Ordering::Acquire),
            flushed_bytes: self.inner.counters.flushed_bytes.load(Ordering::Relaxed),
            compacted_bytes: self.inner.counters.compacted_bytes.load(Ordering::Relaxed),
            compactions: self.inner.counters.compactions.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.inner.shut_down();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // Make what was acknowledged under a relaxed sync policy durable.
        let _ = self.inner.wal.lock().sync();
        freshness::persist_on_close(&self.inner);
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map_err(|e| Error::io("spawn thread", name, e))
}

/// State shared by the engine's handle and its threads.
pub(crate) struct Inner {
    pub dir: PathBuf,
    pub opts: Options,
    /// `None` for a read-only open (which takes no lock).
    _lock: Option<lock::DirLock>,
    /// Why this store takes no writes, if it takes none.
    pub read_only: Option<String>,
    pub recovery: RecoveryReport,
    /// What reads consult.
    pub current: SwapCell<ReadSet>,
    /// Serializes changes of `current` and of the manifest.
    pub state: Mutex<Manifest>,
    pub next_file: AtomicU64,
    pub last_seqno: AtomicU64,
    /// The WAL being appended to; held by the commit leader.
    pub wal: Mutex<wal::WalWriter>,
    pub commit: group_commit::GroupCommit<strata_format::wal::BatchEncoder>,
    pub flush: Mutex<flush::FlushState>,
    pub flush_cv: Condvar,
    /// Held while a compaction runs.
    pub compaction: Mutex<()>,
    /// Wakes the compaction thread (with the `flush` mutex).
    pub compact_cv: Condvar,
    pub policies: SwapCell<std::collections::HashMap<ViewId, ViewPolicy>>,
    pub counters: Counters,
    /// Freshness per view ([`freshness`]).
    pub freshness: freshness::Tracker,
    /// Set once a write, sync or flush failed: writes are refused after it.
    /// Shared with `io`, which sets it when a write or sync fails.
    pub poison: std::sync::Arc<parking_lot::Mutex<Option<String>>>,
    pub io: io::Io,
}

impl Inner {
    pub fn poisoned(&self) -> Option<String> {
        self.poison.lock().clone()
    }

    /// Refuses a write if the store takes none (read-only) or is poisoned.
    pub fn check_writable(&self) -> Result<()> {
        if let Some(reason) = &self.read_only {
            return Err(Error::ReadOnly {
                path: self.dir.clone(),
                reason: reason.clone(),
            });
        }
        match self.poisoned() {
            Some(why) => Err(Error::Poisoned(why)),
            None => Ok(()),
        }
    }

    pub fn set_poison(&self, why: &Error) {
        let mut p = self.poison.lock();
        if p.is_none() {
            *p = Some(why.to_string());
        }
    }

    fn shut_down(&self) {
        self.flush.lock().shutdown = true;
        self.flush_cv.notify_all();
        self.compact_cv.notify_all();
    }

    pub fn request_compaction(&self) {
        let mut st = self.flush.lock();
        st.compact_requested = true;
        self.compact_cv.notify_all();
    }
}

/// Bytes and operations counted since open.
#[derive(Debug, Default)]
pub struct Counters {
    pub flushed_bytes: AtomicU64,
    pub compacted_bytes: AtomicU64,
    pub compactions: AtomicU64,
}
