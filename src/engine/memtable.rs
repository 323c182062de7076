//! The memtable: a lock-free skiplist of recent writes.
//!
//! Keys are internal keys; each entry keeps the sequence number of the write
//! that made it. A tombstone entry of `(view, key)` hides every entry of that
//! prefix in this memtable with a smaller sequence number (writes after the
//! delete have larger ones) and everything in older sources. Applying a
//! tombstone also removes the entries it hides, so they are not flushed.

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_skiplist::SkipMap;

use crate::format::key::{self, TS_SUFFIX_LEN};
use crate::format::segment::EntryKind;
use crate::format::wal::Op;

/// One memtable entry's value.
#[derive(Debug)]
pub struct MemValue {
    pub seqno: u64,
    pub kind: EntryKind,
    pub row: Box<[u8]>,
}

/// A memtable, and the WAL file that holds its writes.
#[derive(Debug)]
pub struct Memtable {
    map: SkipMap<Box<[u8]>, MemValue>,
    bytes: AtomicUsize,
    /// The WAL file whose records this memtable holds.
    pub wal_number: u64,
    /// The largest sequence number applied.
    last_seqno: AtomicU64,
}

/// Bookkeeping bytes counted per entry besides key and row.
const ENTRY_OVERHEAD: usize = 64;

/// `key` belongs to `prefix` (and is not a longer prefix's key).
#[inline]
pub fn same_prefix(key: &[u8], prefix: &[u8]) -> bool {
    key.len() == prefix.len() + TS_SUFFIX_LEN && key.starts_with(prefix)
}

impl Memtable {
    pub fn new(wal_number: u64) -> Self {
        Memtable {
            map: SkipMap::new(),
            bytes: AtomicUsize::new(0),
            wal_number,
            last_seqno: AtomicU64::new(0),
        }
    }

    pub fn approximate_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn last_seqno(&self) -> u64 {
        self.last_seqno.load(Ordering::Acquire)
    }

    /// Applies one op with sequence number `seqno`. Only one thread applies
    /// at a time (the commit leader); readers may run concurrently.
    pub fn apply(&self, seqno: u64, op: &Op<'_>) {
        self.bytes.fetch_add(
            op.key.len() + op.row.len() + ENTRY_OVERHEAD,
            Ordering::Relaxed,
        );
        let value = MemValue {
            seqno,
            kind: op.kind,
            row: op.row.into(),
        };
        self.map.insert(op.key.into(), value);
        if op.kind == EntryKind::Tombstone {
            let prefix = &op.key[..op.key.len() - TS_SUFFIX_LEN];
            // The tombstone is already visible, so readers skip what follows
            // by seqno while it is being removed.
            let mut hidden = Vec::new();
            for e in self
                .map
                .range::<[u8], _>((Bound::Excluded(op.key), Bound::Unbounded))
            {
                if !same_prefix(e.key(), prefix) {
                    break;
                }
                if e.value().seqno < seqno {
                    hidden.push(e.key().clone());
                }
            }
            for k in hidden {
                self.map.remove(&k[..]);
            }
        }
        self.last_seqno.fetch_max(seqno, Ordering::Release);
    }

    /// The tombstone of `prefix` in this memtable: its sequence number.
    pub fn tombstone(&self, tomb_key: &[u8]) -> Option<u64> {
        self.map.get(tomb_key).map(|e| e.value().seqno)
    }

    /// Calls `f(event_ts, created_ts, row)` for the versions of `prefix` from
    /// the first one `>= from_key` on, in key order (newest first), skipping
    /// those hidden by this memtable's tombstone, until `f` returns false.
    pub fn scan_prefix(
        &self,
        prefix: &[u8],
        from_key: &[u8],
        tomb_seqno: Option<u64>,
        mut f: impl FnMut(i64, i64, &[u8]) -> bool,
    ) {
        let floor = tomb_seqno.unwrap_or(0);
        for e in self
            .map
            .range::<[u8], _>((Bound::Included(from_key), Bound::Unbounded))
        {
            let k = e.key();
            if !same_prefix(k, prefix) {
                break;
            }
            let v = e.value();
            if v.kind != EntryKind::Version || v.seqno < floor {
                continue;
            }
            let Ok(parts) = key::split(k) else { continue };
            if !f(parts.event_ts, parts.created_ts, &v.row) {
                break;
            }
        }
    }

    /// Every entry in key order, for flushing: tombstones and versions,
    /// without the versions a tombstone of this memtable hides.
    pub fn for_each_live(&self, mut f: impl FnMut(&[u8], EntryKind, &[u8])) {
        let mut tomb: Option<(Vec<u8>, u64)> = None;
        for e in self.map.iter() {
            let k = e.key();
            let v = e.value();
            if v.kind == EntryKind::Tombstone {
                tomb = Some((k[..k.len() - TS_SUFFIX_LEN].to_vec(), v.seqno));
            } else if let Some((p, s)) = &tomb
                && same_prefix(k, p)
                && v.seqno < *s
            {
                continue;
            }
            f(k, v.kind, &v.row);
        }
    }

    /// Distinct prefixes of one view present in this memtable.
    pub fn prefixes_of_view(&self, view_prefix: &[u8], out: &mut Vec<Vec<u8>>) {
        for e in self
            .map
            .range::<[u8], _>((Bound::Included(view_prefix), Bound::Unbounded))
        {
            let k = e.key();
            if !k.starts_with(view_prefix) {
                break;
            }
            let p = &k[..k.len() - TS_SUFFIX_LEN];
            if out.last().is_none_or(|l| l.as_slice() != p) {
                out.push(p.to_vec());
            }
        }
    }
}
