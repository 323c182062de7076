//! `history`: the newest versions of one key in a time range, bounded in
//! count and in bytes while it is read.
//!
//! Sources are read newest first (memtables, then segments), each newest
//! version first, and merged into one map; on an exact tie of `(event_ts,
//! created_ts)` the newer source's row wins. The answer is exact (the
//! newest `limit` versions, past the first at most `max_bytes` of rows)
//! while every source is read only as far as it must be:
//!
//! - a source is **left** once the versions merged so far at and before
//!   its position (its own and the newer sources', each key counted once
//!   with the row that wins) are more than `limit`, or at least two and
//!   more than `max_bytes`: the answer ends there, whatever the older
//!   sources hold, so the newest place where a source was left is the
//!   **cut**, and what is past it is dropped at once;
//! - a source stops at the cut without reading past it.
//!
//! Every source is complete up to the cut (a newer one was not left
//! before it, an older one reads up to it), so the versions up to the cut
//! are exactly the store's, and the answer is their newest part that fits.
//! What the merge holds is thus about `max_bytes` (the versions up to the
//! cut and one row past the bound), not the key's history.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::ops::Bound;

use strata_format::bloom;
use strata_format::key::{self, TOMBSTONE_TS, ViewId};
use strata_format::segment::EntryKind;

use super::Result;
use super::memtable::same_prefix;
use super::read::{Scratch, position};
use super::readset::ReadSet;

/// One version returned by [`history`].
pub type HistoryEntry = (i64, i64, Vec<u8>);

/// What a history read answers: the versions with `from <= event_ts <=
/// to` and `created_ts <= known_at`, newest first; at most `limit` of
/// them, and past the first at most `max_bytes` of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryBounds {
    pub from: i64,
    pub to: i64,
    pub known_at: Option<i64>,
    pub limit: usize,
    pub max_bytes: usize,
}

impl HistoryBounds {
    /// Every version with `from <= event_ts <= to` known at `known_at`.
    pub fn all(from: i64, to: i64, known_at: Option<i64>) -> HistoryBounds {
        HistoryBounds {
            from,
            to,
            known_at,
            limit: usize::MAX,
            max_bytes: usize::MAX,
        }
    }
}

/// Newest first: `(Reverse(event_ts), Reverse(created_ts))`.
type Key = (Reverse<i64>, Reverse<i64>);

/// The versions merged so far and where the answer ends.
struct Merge {
    out: BTreeMap<Key, Vec<u8>>,
    cut: Option<Key>,
    limit: usize,
    max_bytes: usize,
}

/// One source's walk: its last version taken, and the merged versions at
/// and before it (count and bytes of the winning rows).
#[derive(Default)]
struct Walk {
    last: Option<Key>,
    versions: usize,
    bytes: usize,
}

impl Merge {
    /// Whether the source walking `w` goes on to its next version, at `k`:
    /// not past the cut, and not once the versions merged up to its last
    /// one already fill the answer (the source is left there: a cut).
    fn goes_on(&mut self, w: &Walk, k: Key) -> bool {
        if self.cut.is_some_and(|c| k > c) {
            return false;
        }
        let full = w.versions > self.limit || (w.versions >= 2 && w.bytes > self.max_bytes);
        if full && let Some(last) = w.last {
            self.cut_at(last);
            return false;
        }
        true
    }

    /// Takes a version the walk reached (a newer source's row at the same
    /// key wins), and counts the merged versions up to it.
    fn take(&mut self, w: &mut Walk, k: Key, row: &[u8]) {
        self.out.entry(k).or_insert_with(|| row.to_vec());
        if self.limit == usize::MAX && self.max_bytes == usize::MAX {
            w.last = Some(k);
            return; // unbounded: no source is ever left, nothing to count
        }
        let from = w.last.map_or(Bound::Unbounded, Bound::Excluded);
        for (_, r) in self.out.range((from, Bound::Included(k))) {
            w.versions += 1;
            w.bytes += r.len();
        }
        w.last = Some(k);
    }

    /// The answer ends at `k` (or before): what is past it is dropped.
    fn cut_at(&mut self, k: Key) {
        let c = self.cut.map_or(k, |x| x.min(k));
        self.cut = Some(c);
        let mut past = self.out.split_off(&c);
        if let Some(row) = past.remove(&c) {
            self.out.insert(c, row);
        }
    }
}

/// The versions within `bounds` (see [`HistoryBounds`]), newest first;
/// and whether there are more (it may be said when a source was left
/// exactly at its end). The work and the memory are bounded by the
/// limits, not by the key's history (module docs).
pub fn history(
    rs: &ReadSet,
    view: ViewId,
    entity_key: &[u8],
    bounds: &HistoryBounds,
) -> Result<(Vec<HistoryEntry>, bool)> {
    let HistoryBounds {
        from,
        to,
        known_at,
        limit,
        max_bytes,
    } = *bounds;
    let mut s = Scratch::default();
    s.prepare(view, entity_key, to.min(TOMBSTONE_TS - 1));
    let kmax = known_at.unwrap_or(i64::MAX);
    let mut m = Merge {
        out: BTreeMap::new(),
        cut: None,
        limit,
        max_bytes,
    };
    if from <= to {
        'sources: {
            let h = bloom::hash(&s.prefix);
            for mem in rs.memtables() {
                let mut w = Walk::default();
                let tomb = mem.read_prefix(h, &s.prefix, &s.tomb_key, &s.target, |e, c, row| {
                    let k = (Reverse(e), Reverse(c));
                    if e < from || !m.goes_on(&w, k) {
                        return false;
                    }
                    if c <= kmax {
                        m.take(&mut w, k, row);
                    }
                    true
                });
                if tomb {
                    break 'sources;
                }
            }
            for seg in &rs.segments {
                let mut cur = seg.cursor();
                let Some(tomb) = position(seg, &mut cur, h, &s)? else {
                    continue;
                };
                let mut w = Walk::default();
                while cur.valid() && same_prefix(cur.key(), &s.prefix) {
                    let parts = key::split(cur.key())
                        .map_err(|e| super::Error::corruption(&seg.path, 0, e))?;
                    let k = (Reverse(parts.event_ts), Reverse(parts.created_ts));
                    if parts.event_ts < from || !m.goes_on(&w, k) {
                        break;
                    }
                    let (kind, row) = cur.entry()?;
                    if kind == EntryKind::Version && parts.created_ts <= kmax {
                        m.take(&mut w, k, row);
                    }
                    cur.next()?;
                }
                if tomb {
                    break 'sources;
                }
            }
        }
    }
    let more = m.cut.is_some() || m.out.len() > limit;
    let mut bytes = 0usize;
    let mut versions = Vec::new();
    for ((Reverse(e), Reverse(c)), row) in m.out {
        if versions.len() == limit || (!versions.is_empty() && bytes + row.len() > max_bytes) {
            return Ok((versions, true));
        }
        bytes += row.len();
        versions.push((e, c, row));
    }
    Ok((versions, more))
}
