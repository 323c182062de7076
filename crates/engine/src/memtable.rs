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

use strata_format::bloom;
use strata_format::key::{self, TS_SUFFIX_LEN};
use strata_format::segment::EntryKind;
use strata_format::wal::Op;

/// One memtable entry's value.
#[derive(Debug)]
pub struct MemValue {
    pub seqno: u64,
    pub kind: EntryKind,
    pub row: Box<[u8]>,
}

/// A lock-free blocked bloom filter over the prefixes written to a
/// memtable: a lookup of a key the memtable lacks costs one cache line
/// instead of a skiplist search.
#[derive(Debug)]
struct PrefixFilter {
    lines: Box<[[AtomicU64; 8]]>,
}

const FILTER_K: u8 = 6;

impl PrefixFilter {
    /// Sized for `capacity` prefixes at about 10 bits each.
    fn new(capacity: usize) -> Self {
        let n = (capacity * 10).div_ceil(512).clamp(1, u32::MAX as usize);
        PrefixFilter {
            lines: (0..n).map(|_| Default::default()).collect(),
        }
    }

    fn insert(&self, h: u64) {
        let line = &self.lines[bloom::line_of(h, self.lines.len() as u32)];
        for p in bloom::probes(h, FILTER_K) {
            line[(p / 64) as usize].fetch_or(1 << (p % 64), Ordering::Relaxed);
        }
    }

    #[inline]
    fn may_contain(&self, h: u64) -> bool {
        let line = &self.lines[bloom::line_of(h, self.lines.len() as u32)];
        bloom::probes(h, FILTER_K)
            .all(|p| line[(p / 64) as usize].load(Ordering::Relaxed) & (1 << (p % 64)) != 0)
    }
}

/// Entries a read scans forward through before it searches instead.
const SCAN_LIMIT: usize = 32;

/// A memtable, and the WAL file that holds its writes.
#[derive(Debug)]
pub struct Memtable {
    map: SkipMap<Box<[u8]>, MemValue>,
    filter: PrefixFilter,
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
    /// A memtable expected to hold about `capacity_bytes` (its filter is
    /// sized for that; more still works, with more false positives).
    pub fn new(wal_number: u64, capacity_bytes: usize) -> Self {
        Memtable {
            map: SkipMap::new(),
            filter: PrefixFilter::new(capacity_bytes / ENTRY_OVERHEAD),
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
        let prefix = &op.key[..op.key.len().saturating_sub(TS_SUFFIX_LEN)];
        self.filter.insert(bloom::hash(prefix));
        self.map.insert(op.key.into(), value);
        if op.kind == EntryKind::Tombstone {
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

    /// `false` if this memtable certainly holds no entry of the prefix
    /// hashing to `h` (it is empty, or its filter says so).
    #[inline]
    pub fn may_hold(&self, h: u64) -> bool {
        !self.map.is_empty() && self.filter.may_contain(h)
    }

    /// Reads the versions of `prefix` (whose filter hash is `h`) from the
    /// first one `>= target` on, in key order (newest first), calling
    /// `f(event_ts, created_ts, row)` until it returns false. Versions hidden
    /// by this memtable's tombstone of the prefix (`tomb_key`) are skipped.
    /// Returns whether this memtable holds that tombstone.
    pub fn read_prefix(
        &self,
        h: u64,
        prefix: &[u8],
        tomb_key: &[u8],
        target: &[u8],
        mut f: impl FnMut(i64, i64, &[u8]) -> bool,
    ) -> bool {
        // An empty memtable (the common case right after a seal) costs no
        // filter line.
        if !self.may_hold(h) {
            return false;
        }
        let mut entry = self.map.lower_bound(Bound::Included(tomb_key));
        let mut floor = 0;
        let mut tomb = false;
        if let Some(e) = &entry
            && e.key().as_ref() == tomb_key
        {
            tomb = true;
            floor = e.value().seqno;
            entry = e.next();
        }
        let mut scanned = 0;
        while let Some(e) = &entry {
            if !same_prefix(e.key(), prefix) || e.key().as_ref() >= target {
                break;
            }
            scanned += 1;
            entry = if scanned > SCAN_LIMIT {
                self.map.lower_bound(Bound::Included(target))
            } else {
                e.next()
            };
            if scanned > SCAN_LIMIT {
                break;
            }
        }
        while let Some(e) = entry {
            let k = e.key();
            if !same_prefix(k, prefix) {
                break;
            }
            let v = e.value();
            if v.kind == EntryKind::Version && v.seqno >= floor {
                let Ok(parts) = key::split(k) else { break };
                if !f(parts.event_ts, parts.created_ts, &v.row) {
                    break;
                }
            }
            entry = e.next();
        }
        tomb
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
