//! Compaction: merging segments into one.
//!
//! [`compact_all`] merges every segment of the current read set into a
//! single segment at the bottom of the store. On equal internal keys the
//! newest source wins; a tombstone hides the versions of its key in older
//! sources; since nothing is older than the output, the hidden versions and
//! the tombstones themselves are dropped. Memtables are not touched: they
//! are newer than every segment. The replaced segment files are removed when
//! the last read set that refers to them is dropped.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::format::key::TS_SUFFIX_LEN;
use crate::format::manifest::SegmentEntry;
use crate::format::segment::EntryKind;

use super::readset::ReadSet;
use super::segment::{self, Cursor, Segment};
use super::{Inner, Result, manifest};

/// Level recorded for the output of a full compaction.
const BOTTOM_LEVEL: u8 = 1;

/// Merges all current segments into one. Returns the number merged.
pub fn compact_all(inner: &Inner) -> Result<usize> {
    let _one_at_a_time = inner.compaction.lock();
    let inputs = inner.current.load().segments.clone();
    if inputs.len() < 2 && inputs.iter().all(|s| s.props().tombstones == 0) {
        return Ok(0);
    }
    let number = inner.next_file.fetch_add(1, Ordering::AcqRel);
    let props = segment::write_segment(&inner.dir, number, inner.opts.segment, |add| {
        merge(&inputs, add)
    })?;
    let output = match props {
        Some(_) => {
            super::wal::sync_dir(&segment::segment_dir(&inner.dir))?;
            Some(Arc::new(Segment::open(&inner.dir, number)?))
        }
        None => None,
    };
    let mut m = inner.state.lock();
    let cur = inner.current.load_full();
    let is_input = |s: &Arc<Segment>| inputs.iter().any(|i| Arc::ptr_eq(i, s));
    let mut segments: Vec<_> = cur
        .segments
        .iter()
        .filter(|s| !is_input(s))
        .cloned()
        .collect();
    let mut next = m.clone();
    next.segments
        .retain(|e| !inputs.iter().any(|i| i.number == e.number));
    if let Some(out) = &output {
        segments.push(out.clone());
        next.segments.push(SegmentEntry {
            number,
            level: BOTTOM_LEVEL,
            size: out.file_size(),
        });
    }
    next.next_file_number = inner.next_file.load(Ordering::Acquire);
    manifest::store(&inner.dir, &next)?;
    *m = next;
    inner.current.store(Arc::new(ReadSet {
        mem: cur.mem.clone(),
        imm: cur.imm.clone(),
        segments,
    }));
    drop(m);
    for s in &inputs {
        s.mark_obsolete();
    }
    Ok(inputs.len())
}

/// Feeds the merged, live entries of `inputs` (newest first) to `add`.
fn merge(inputs: &[Arc<Segment>], add: segment::EntrySink<'_>) -> Result<()> {
    let mut cursors: Vec<Cursor<'_>> = inputs.iter().map(|s| s.cursor()).collect();
    for c in &mut cursors {
        c.seek_first()?;
    }
    let mut prefix: Vec<u8> = Vec::new();
    // The newest source holding a tombstone of the current prefix.
    let mut tomb_source: Option<usize> = None;
    let mut key = Vec::new();
    loop {
        // The smallest key; on ties the newest source (lowest index) wins.
        let mut winner: Option<usize> = None;
        for (i, c) in cursors.iter().enumerate() {
            if c.valid() && winner.is_none_or(|w| c.key() < cursors[w].key()) {
                winner = Some(i);
            }
        }
        let Some(w) = winner else { return Ok(()) };
        key.clear();
        key.extend_from_slice(cursors[w].key());
        let p = &key[..key.len().saturating_sub(TS_SUFFIX_LEN)];
        if p != prefix.as_slice() {
            prefix.clear();
            prefix.extend_from_slice(p);
            tomb_source = None;
        }
        let (kind, row) = cursors[w].entry()?;
        match kind {
            EntryKind::Tombstone => tomb_source = Some(tomb_source.map_or(w, |t| t.min(w))),
            EntryKind::Version => {
                if tomb_source.is_none_or(|t| w <= t) {
                    add(&key, kind, row)?;
                }
            }
        }
        for c in &mut cursors {
            if c.valid() && c.key() == key.as_slice() {
                c.next()?;
            }
        }
    }
}
