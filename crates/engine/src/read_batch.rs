//! Batched point reads: `as_of` of many keys of one view at once.
//!
//! A point read in a segment waits on a chain of cache misses: in format 2,
//! the hash index's home slot, then the key's newest entry; in format 1,
//! the home slot, the block's offset, the block's tail (restart array),
//! then the entry. One key at a time, each miss waits for the previous one.
//! A batch walks its keys in groups of [`GROUP`] and, for each segment,
//! loads the first link of every key's chain before the second of any:
//!
//! 1. the home slot of each key (independent loads: their misses overlap);
//! 2. format 2: the first byte of each key's entry at its slot's file
//!    offset; format 1: each key's candidate block offset (the slot is now
//!    cached), then (3.) each block's tail and the key's restart entry;
//! 4. the real read of each key through the single-key path of [`as_of`],
//!    whose memory is now in the cache.
//!
//! Steps 1–3 only read and are never trusted: everything is read again and
//! checked in step 4, which is exactly the single-key read. So a batch
//! answers what the same keys read one by one answer (a property test
//! checks it), with the misses of a group in flight together.
//!
//! [`as_of`]: crate::read::as_of

use std::hint::black_box;

use strata_format::block::peek_restart;
use strata_format::bloom;
use strata_format::hash_index::Position;
use strata_format::key::ViewId;

use crate::read::{Scratch, read_memtables, read_segment};
use crate::readset::ReadSet;
use crate::{Engine, Result};

/// Keys read together: enough misses in flight to fill the core's line
/// fill buffers, few enough that a group's lines stay in L1/L2.
const GROUP: usize = 16;

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

/// Per-key state of a group.
#[derive(Default)]
struct Slot {
    scratch: Scratch,
    hash: u64,
    /// A tombstone hides the key in older sources.
    done: bool,
    /// Where step 2 found the key's block: `(offset, len, restart)`.
    block: Option<(usize, usize, usize)>,
}

impl Engine {
    /// `as_of(view, key, t, known_at)` of every key of `keys`, handed to
    /// `f(i, Some((event_ts, created_ts, row)))` or `f(i, None)` in key
    /// order. The same answers as [`Engine::as_of_with`] key by key; see the
    /// module docs for why it is faster.
    pub fn as_of_many(
        &self,
        view: ViewId,
        keys: &KeyBatch,
        t: i64,
        known_at: Option<i64>,
        mut f: impl FnMut(usize, Option<(i64, i64, &[u8])>),
    ) -> Result<()> {
        let rs = self.inner.current.load();
        let kmax = known_at.unwrap_or(i64::MAX);
        let mut group: Vec<Slot> = (0..GROUP.min(keys.len()))
            .map(|_| Slot::default())
            .collect();
        let mut first = 0;
        while first < keys.len() {
            let n = GROUP.min(keys.len() - first);
            let slots = &mut group[..n];
            for (j, slot) in slots.iter_mut().enumerate() {
                slot.scratch.prepare(view, keys.get(first + j), t);
                slot.hash = bloom::hash(&slot.scratch.prefix);
                slot.done = read_memtables(&rs, slot.hash, kmax, &mut slot.scratch);
            }
            read_segments(&rs, kmax, slots)?;
            for (j, slot) in slots.iter().enumerate() {
                let b = &slot.scratch.best;
                f(
                    first + j,
                    b.found
                        .then_some((b.event_ts, b.created_ts, b.row.as_slice())),
                );
            }
            first += n;
        }
        Ok(())
    }
}

/// Steps 1–4 of the module docs over every segment, newest first.
fn read_segments(rs: &ReadSet, kmax: i64, slots: &mut [Slot]) -> Result<()> {
    for seg in &rs.segments {
        let hidx = seg.hash_index();
        if hidx.is_present() {
            let file = seg.bytes();
            // 1. Home slots.
            let mut touched = 0u64;
            for s in slots.iter().filter(|s| !s.done) {
                touched ^= hidx.home_slot(s.hash);
            }
            // 2. Format 2: the entries; format 1: block offsets of the
            // candidates.
            for s in slots.iter_mut() {
                s.block = None;
                if s.done {
                    continue;
                }
                match hidx.candidates(s.hash).next() {
                    Some(Position::Entry(at)) => {
                        touched ^= u64::from(file.get(at).copied().unwrap_or(0));
                    }
                    Some(Position::Restart { block, restart }) => {
                        if let Some((offset, len)) = hidx.block(block) {
                            s.block = Some((offset, len, restart));
                        }
                    }
                    Some(Position::Block(_)) | None => {}
                }
            }
            // 3. Block tails and restart entries.
            for s in slots.iter() {
                if let Some((offset, len, restart)) = s.block
                    && let Some(at) = peek_restart(file, offset, len, restart)
                {
                    touched ^= u64::from(file.get(at).copied().unwrap_or(0));
                }
            }
            black_box(touched);
        }
        // 4. The checked reads.
        for s in slots.iter_mut().filter(|s| !s.done) {
            s.done = read_segment(seg, s.hash, kmax, &mut s.scratch)?;
        }
    }
    Ok(())
}
