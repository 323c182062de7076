//! Batched point reads: `as_of` of many keys of one view at once.
//!
//! A point read in a segment waits on a chain of cache misses: in format 2,
//! the hash index's home slot, then the key's newest entry; in format 1,
//! the home slot, the block's offset, the block's tail (restart array),
//! then the entry. One key at a time, each miss waits for the previous one.
//! A batch takes its keys [`CHUNK`] at a time and, for each segment (newest
//! first), starts the first link of every key's chain before it waits on
//! the second of any:
//!
//! 1. hashes every key's prefix and prefetches its home slot (no wait);
//! 2. reads each home slot (by now in cache, or arriving) and notes where
//!    its first candidate points (format 1: loads the block's offset),
//!    then (2b.) prefetches those entries (format 1: the block's restart
//!    entry) in a loop of little else, so that many are in flight;
//! 3. reads each key: format 2 through [`probe_direct`], the single-key
//!    direct path, whose slot and entry are now in cache; a key the direct
//!    path does not answer (a tombstone, an older `as_of`, `known_at`, a
//!    compressed block, format 1) through [`read_segment`], the single-key
//!    checked path.
//!
//! Steps 1–2 only prefetch and are never trusted: step 3 is exactly what a
//! single read does. So a batch answers what the same keys read one by one
//! answer (`tests/batch_reads.rs` checks it), with the misses of a chunk in
//! flight together.
//!
//! Nothing is allocated per key, or per call once warm: the per-key state,
//! the keys' prefixes, rows copied out of memtables and the checked path's
//! buffers live in one per-thread [`BatchScratch`], reused. A row found in
//! a segment is handed to the caller straight from the map, uncopied.

use std::cell::RefCell;
use std::ops::Range;

use strata_format::block::peek_restart;
use strata_format::bloom;
use strata_format::hash_index::Position;
use strata_format::key::{self, ViewId};

use crate::prefetch::{prefetch, prefetch_entry};
use crate::read::{Direct, Scratch, probe_direct, read_memtables, read_segment};
use crate::readset::ReadSet;
use crate::segment::Segment;
use crate::{Engine, Result};

/// Keys whose reads are in flight together. Enough misses to keep the
/// core's miss buffers busy; few enough that a chunk's slots and entries
/// (two or three lines per key) stay in L1/L2 until step 3 reads them.
const CHUNK: usize = 64;

/// Encoded entity keys, one after the other (no allocation per key).
#[derive(Debug, Clone, Default)]
pub struct KeyBatch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl KeyBatch {
    pub fn new() -> KeyBatch {
        KeyBatch::default()
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    /// Appends the encoded entity key `key`.
    pub fn push(&mut self, key: &[u8]) {
        self.bytes.extend_from_slice(key);
        self.ends.push(self.bytes.len());
    }

    /// Appends a key built by `f` into the batch's own buffer.
    pub fn push_with(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        f(&mut self.bytes);
        self.ends.push(self.bytes.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Key `i`.
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    /// The length of key `i`.
    pub fn key_len(&self, i: usize) -> usize {
        self.get(i).len()
    }
}

/// Where the best version found so far keeps its row.
#[derive(Debug, Clone, Copy)]
enum RowAt {
    /// In [`BatchScratch::arena`] (copied from a memtable or by the
    /// checked path).
    Arena { start: usize, len: usize },
    /// In the map of segment `seg` of the read set, at file offset `at`.
    Segment { seg: usize, at: usize, len: usize },
}

/// The state of one key of a chunk.
#[derive(Debug, Clone)]
struct KeyState {
    /// Its `view | entity key` in [`BatchScratch::prefixes`].
    prefix: Range<usize>,
    hash: u64,
    /// A tombstone was found: older sources are hidden.
    done: bool,
    /// The best version so far: `(event_ts, created_ts, row)`.
    best: Option<(i64, i64, RowAt)>,
    /// Step 2: what the first candidate of the segment's hash index names.
    next: Next,
}

/// The next link of a key's chain in the current segment (step 2).
#[derive(Debug, Clone, Copy)]
enum Next {
    None,
    /// Format 2: the entry at this file offset.
    Entry(usize),
    /// Format 1: block `(offset, len)` and the restart point to scan from.
    Restart(usize, usize, usize),
}

impl KeyState {
    /// Keeps `(e, c)` if it is greater than the best so far (on a tie the
    /// newer source, seen first, wins: a rewrite replaces).
    #[inline]
    fn offer(&mut self, e: i64, c: i64, row: impl FnOnce() -> RowAt) {
        if self.best.is_none_or(|(be, bc, _)| (e, c) > (be, bc)) {
            self.best = Some((e, c, row()));
        }
    }
}

/// The reusable buffers of a batched read (one per thread).
#[derive(Debug, Default)]
struct BatchScratch {
    keys: Vec<KeyState>,
    prefixes: Vec<u8>,
    arena: Vec<u8>,
    /// The single-key path's buffers, for keys the direct path does not
    /// answer.
    checked: Scratch,
}

/// What every key of one batched read shares.
struct Read<'a> {
    rs: &'a ReadSet,
    view: ViewId,
    keys: &'a KeyBatch,
    t: i64,
    kmax: i64,
    /// The timestamp suffix of the target key (`key::internal_key(view,
    /// key, t, i64::MAX)`, as the single path's `Scratch::prepare`).
    target_suffix: [u8; key::TS_SUFFIX_LEN],
}

impl Engine {
    /// `as_of(view, key, t, known_at)` of every key of `keys`, handed to
    /// `f(i, Some((event_ts, created_ts, row)))` or `f(i, None)` in key
    /// order. The same answers as [`Engine::as_of_with`] key by key; see the
    /// module docs for why it is faster. Allocates nothing once warm
    /// (unless `f` itself starts another batched read on this thread).
    pub fn as_of_many(
        &self,
        view: ViewId,
        keys: &KeyBatch,
        t: i64,
        known_at: Option<i64>,
        mut f: impl FnMut(usize, Option<(i64, i64, &[u8])>),
    ) -> Result<()> {
        thread_local! {
            static SCRATCH: RefCell<BatchScratch> = RefCell::default();
        }
        let rs = self.inner.current.load();
        let mut target_suffix = [0u8; key::TS_SUFFIX_LEN];
        target_suffix[..8].copy_from_slice(&key::encode_ts_desc(t));
        target_suffix[8..].copy_from_slice(&key::encode_ts_desc(i64::MAX));
        let read = Read {
            rs: &rs,
            view,
            keys,
            t,
            kmax: known_at.unwrap_or(i64::MAX),
            target_suffix,
        };
        SCRATCH.with(|cell| {
            // `f` may start a batched read of its own: that one gets fresh
            // buffers.
            let mut fresh = BatchScratch::default();
            let mut borrowed = cell.try_borrow_mut();
            let b = match borrowed.as_deref_mut() {
                Ok(b) => b,
                Err(_) => &mut fresh,
            };
            let mut first = 0;
            while first < keys.len() {
                let chunk = first..keys.len().min(first + CHUNK);
                b.read_chunk(&read, chunk.clone())?;
                for (i, k) in chunk.zip(&b.keys) {
                    f(i, k.best.map(|(e, c, row)| (e, c, b.row(&read, row))));
                }
                first += CHUNK;
            }
            Ok(())
        })
    }
}

impl BatchScratch {
    /// Reads keys `chunk` of `r.keys` into `self.keys`.
    fn read_chunk(&mut self, r: &Read<'_>, chunk: Range<usize>) -> Result<()> {
        self.keys.clear();
        self.prefixes.clear();
        self.arena.clear();
        for i in chunk.clone() {
            let start = self.prefixes.len();
            self.prefixes.extend_from_slice(&r.view.to_be_bytes());
            self.prefixes.extend_from_slice(r.keys.get(i));
            let prefix = start..self.prefixes.len();
            self.keys.push(KeyState {
                hash: bloom::hash(&self.prefixes[prefix.clone()]),
                prefix,
                done: false,
                best: None,
                next: Next::None,
            });
        }
        if r.rs.memtables().any(|m| !m.is_empty()) {
            self.read_memtables(r, chunk.start);
        }
        for (no, seg) in r.rs.segments.iter().enumerate() {
            if self.keys.iter().all(|k| k.done) {
                break;
            }
            self.read_segment(r, chunk.start, no, seg)?;
        }
        Ok(())
    }

    /// The memtables' part (no prefetch: a skiplist search is a chain of
    /// dependent loads; the filters skip most keys).
    fn read_memtables(&mut self, r: &Read<'_>, first: usize) {
        let BatchScratch {
            keys,
            arena,
            checked,
            ..
        } = self;
        for (i, k) in (first..).zip(keys.iter_mut()) {
            if !r.rs.memtables().any(|m| m.may_hold(k.hash)) {
                continue;
            }
            checked.prepare(r.view, r.keys.get(i), r.t);
            k.done = read_memtables(r.rs, k.hash, r.kmax, checked);
            let b = &checked.best;
            if b.found {
                k.best = Some((b.event_ts, b.created_ts, keep(arena, &b.row)));
            }
        }
    }

    /// Segment `no`'s part: steps 1–3 of the module docs.
    fn read_segment(&mut self, r: &Read<'_>, first: usize, no: usize, seg: &Segment) -> Result<()> {
        let BatchScratch {
            keys,
            prefixes,
            arena,
            checked,
        } = self;
        let hidx = seg.hash_index();
        let file = seg.bytes();
        if hidx.is_present() {
            // 1. Home slots.
            for k in keys.iter().filter(|k| !k.done) {
                if let Some(b) = hidx.home_slot_byte(k.hash) {
                    prefetch(b);
                }
            }
            // 2. The first candidate of each key. (Its slot is in cache
            // or arriving: no prefetch here, which would wait for the
            // entry's address translation, holding back the next keys.)
            for k in keys.iter_mut().filter(|k| !k.done) {
                k.next = match hidx.candidates(k.hash).next() {
                    Some(Position::Entry(at)) => Next::Entry(at),
                    Some(Position::Restart { block, restart }) => hidx
                        .block(block)
                        .map_or(Next::None, |(o, l)| Next::Restart(o, l, restart)),
                    Some(Position::Block(_)) | None => Next::None,
                };
            }
            // 2b. Their entries (format 2), or block tails and restart
            // entries (format 1), in a loop of little else, so that many
            // prefetches (and the page walks they start) are in flight.
            for k in keys.iter().filter(|k| !k.done) {
                match k.next {
                    Next::Entry(at) => prefetch_entry(file, at),
                    Next::Restart(offset, len, restart) => {
                        if let Some(at) = peek_restart(file, offset, len, restart) {
                            prefetch_entry(file, at);
                        }
                    }
                    Next::None => {}
                }
            }
        }
        // 3. The reads.
        for (i, k) in (first..).zip(keys.iter_mut()) {
            if k.done {
                continue;
            }
            if seg.is_direct() {
                let prefix = prefixes.get(k.prefix.clone()).unwrap_or_default();
                match probe_direct(seg, k.hash, prefix, &r.target_suffix, r.kmax)? {
                    Direct::Hit {
                        event_ts,
                        created_ts,
                        row,
                    } => {
                        k.offer(event_ts, created_ts, || RowAt::Segment {
                            seg: no,
                            at: row.as_ptr().addr() - file.as_ptr().addr(),
                            len: row.len(),
                        });
                        continue;
                    }
                    Direct::Absent => continue,
                    Direct::Checked => {}
                }
            }
            checked.prepare(r.view, r.keys.get(i), r.t);
            if let Some((e, c, _)) = k.best {
                checked.best.seed(e, c);
            }
            k.done = read_segment(seg, k.hash, r.kmax, checked)?;
            let b = &checked.best;
            if b.found
                && k.best
                    .is_none_or(|(e, c, _)| (e, c) != (b.event_ts, b.created_ts))
            {
                k.best = Some((b.event_ts, b.created_ts, keep(arena, &b.row)));
            }
        }
        Ok(())
    }

    /// The bytes of a row found by this chunk's reads.
    fn row<'a>(&'a self, r: &Read<'a>, row: RowAt) -> &'a [u8] {
        let bytes = match row {
            RowAt::Arena { start, len } => self.arena.get(start..start + len),
            RowAt::Segment { seg, at, len } => {
                r.rs.segments
                    .get(seg)
                    .and_then(|s| s.bytes().get(at..at + len))
            }
        };
        bytes.expect("a row's place was taken from these bytes, which are still held")
    }
}

/// Copies `row` into the arena.
fn keep(arena: &mut Vec<u8>, row: &[u8]) -> RowAt {
    let start = arena.len();
    arena.extend_from_slice(row);
    RowAt::Arena {
        start,
        len: row.len(),
    }
}
