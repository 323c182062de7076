//! The reads: `as_of` (and so `latest`), `history`, key listing.
//!
//! Sources are consulted newest first: the active memtable, sealed
//! memtables, then segments. For one `(view, key)`:
//! - the answer is the greatest qualifying version over all sources; on an
//!   exact tie of `(event_ts, created_ts)` the newer source wins (a rewrite
//!   replaces);
//! - a tombstone in a source hides the key's versions in every older source,
//!   so the search stops after the source that holds it.

use strata_format::bloom;
use strata_format::hash_index::Position;
use strata_format::key::{self, TOMBSTONE_TS, ViewId};
use strata_format::segment::{self, EntryKind};

use super::Result;
use super::memtable::same_prefix;
use super::readset::ReadSet;
use super::segment::{Cursor, Segment};

/// The best version found so far, its row copied into a reused buffer.
#[derive(Debug, Default)]
pub struct Best {
    pub found: bool,
    pub event_ts: i64,
    pub created_ts: i64,
    pub row: Vec<u8>,
}

impl Best {
    #[inline]
    pub(crate) fn offer(&mut self, e: i64, c: i64, row: &[u8]) {
        if !self.found || (e, c) > (self.event_ts, self.created_ts) {
            self.found = true;
            self.event_ts = e;
            self.created_ts = c;
            self.row.clear();
            self.row.extend_from_slice(row);
        }
    }

    pub fn reset(&mut self) {
        self.found = false;
        self.row.clear();
    }

    /// Starts from a version found elsewhere, `(event_ts, created_ts)`,
    /// whose row the caller keeps: a later offer replaces it only if it is
    /// greater, and then `row` holds the new one (a batched read checks the
    /// older sources of a key this way).
    pub(crate) fn seed(&mut self, event_ts: i64, created_ts: i64) {
        self.found = true;
        self.event_ts = event_ts;
        self.created_ts = created_ts;
        self.row.clear();
    }
}

/// Reusable buffers of one lookup.
#[derive(Debug, Default)]
pub struct Scratch {
    pub prefix: Vec<u8>,
    pub tomb_key: Vec<u8>,
    pub target: Vec<u8>,
    pub best: Best,
    /// Lent to segment cursors for their current key.
    pub key_buf: Vec<u8>,
}

impl Scratch {
    pub(crate) fn prepare(&mut self, view: ViewId, entity_key: &[u8], t: i64) {
        key::prefix(view, entity_key, &mut self.prefix);
        key::internal_key(
            view,
            entity_key,
            TOMBSTONE_TS,
            TOMBSTONE_TS,
            &mut self.tomb_key,
        );
        // The first version with event_ts <= t, any created_ts.
        key::internal_key(view, entity_key, t, i64::MAX, &mut self.target);
        self.best.reset();
    }
}

/// Entries a lookup scans forward through before it seeks instead.
const SCAN_LIMIT: usize = 32;

/// Positions `cur` on the key's first entry at or after `s.target` and says
/// whether the segment holds the key's tombstone; `None` if the segment
/// certainly lacks the key. Uses the segment's hash index (one probe, then
/// the key's first entry, or a scan from a restart point in format 1) where
/// it has one, else the bloom filter and the block index.
pub(crate) fn position(
    seg: &Segment,
    cur: &mut Cursor<'_>,
    h: u64,
    s: &Scratch,
) -> Result<Option<bool>> {
    let hidx = seg.hash_index();
    if hidx.is_present() {
        for p in hidx.candidates(h) {
            let found = match p {
                Position::Restart { block, restart } => cur.seek_at(block, restart, &s.tomb_key)?,
                Position::Entry(at) => cur.seek_entry(at)?,
                Position::Block(block) => cur.seek_in_block(block, &s.tomb_key)?,
            };
            if !found || !same_prefix(cur.key(), &s.prefix) {
                continue; // a fingerprint of another prefix
            }
            let tomb = cur.key() == s.tomb_key.as_slice();
            let mut scanned = 0;
            while cur.valid() && cur.key() < s.target.as_slice() {
                if scanned == SCAN_LIMIT {
                    cur.seek(&s.target)?;
                    break;
                }
                cur.next()?;
                scanned += 1;
            }
            return Ok(Some(tomb));
        }
        return Ok(None);
    }
    if !seg.bloom().may_contain(h) {
        return Ok(None);
    }
    if seg.props().tombstones == 0 {
        cur.seek(&s.target)?;
        return Ok(Some(false));
    }
    let mut tomb = false;
    if cur.seek(&s.tomb_key)? && cur.key() == s.tomb_key.as_slice() {
        tomb = true;
        cur.next()?;
    }
    if cur.valid() && cur.key() < s.target.as_slice() {
        cur.seek(&s.target)?;
    }
    Ok(Some(tomb))
}

/// The greatest version of `(view, key)` with `event_ts <= t` and
/// `created_ts <= known_at`, left in `s.best`.
pub fn as_of(
    rs: &ReadSet,
    view: ViewId,
    entity_key: &[u8],
    t: i64,
    known_at: Option<i64>,
    s: &mut Scratch,
) -> Result<()> {
    s.prepare(view, entity_key, t);
    let kmax = known_at.unwrap_or(i64::MAX);
    let h = bloom::hash(&s.prefix);
    if read_memtables(rs, h, kmax, s) {
        return Ok(());
    }
    for seg in &rs.segments {
        if read_segment(seg, h, kmax, s)? {
            return Ok(());
        }
    }
    Ok(())
}

/// The memtables' part of [`as_of`] for the key `s` was prepared for (`h`
/// its prefix hash): offers their qualifying versions to `s.best`; `true`
/// if one holds the key's tombstone (older sources are hidden).
pub(crate) fn read_memtables(rs: &ReadSet, h: u64, kmax: i64, s: &mut Scratch) -> bool {
    for mem in rs.memtables() {
        let best = &mut s.best;
        let tomb = mem.read_prefix(h, &s.prefix, &s.tomb_key, &s.target, |e, c, row| {
            if c > kmax {
                return true;
            }
            best.offer(e, c, row);
            false
        });
        if tomb {
            return true;
        }
    }
    false
}

/// What the direct path found for a key in one segment.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Direct<'a> {
    /// The segment's answer: the key's newest entry there, a version with
    /// `event_ts <= t` and `created_ts <= known_at`; `row` is in the map.
    Hit {
        event_ts: i64,
        created_ts: i64,
        row: &'a [u8],
    },
    /// No candidate of the hash index holds the key: the segment lacks it.
    Absent,
    /// The checked path must read the key here (its newest entry is a
    /// tombstone, newer than `t` or created after `known_at`, or its block
    /// is compressed), starting again from the slot.
    Checked,
}

/// The direct path of [`read_segment`] (format 2, every data block
/// verified at open, `seg.is_direct()`): the hash index slot gives the
/// file offset of the key's newest entry, which is decoded on its own from
/// the mmap — one cache miss for the slot, one for the entry, no checksum,
/// no block trailer or restart array, no allocation. `prefix` is the key's
/// `view | entity key` and `h` its hash; `target_suffix` the timestamp
/// suffix of the read's target key (see [`Scratch::prepare`]): an entry of
/// the prefix answers if its key is at or after `prefix | target_suffix`.
/// Batched reads ([`crate::read_batch`]) take the same path.
#[inline]
pub(crate) fn probe_direct<'a>(
    seg: &'a Segment,
    h: u64,
    prefix: &[u8],
    target_suffix: &[u8],
    kmax: i64,
) -> Result<Direct<'a>> {
    let file = seg.bytes();
    let layout = seg.layout();
    for p in seg.hash_index().candidates(h) {
        let Position::Entry(at) = p else {
            return Ok(Direct::Checked);
        };
        let e = layout.entry_at(file, at).map_err(|e| seg.corrupt(e))?;
        if !same_prefix(e.key, prefix) {
            continue; // a fingerprint of another prefix
        }
        if e.key
            .get(prefix.len()..)
            .is_some_and(|suffix| suffix >= target_suffix)
        {
            let (kind, row) =
                segment::decode_value(e.value).map_err(|x| seg.corrupt_at(e.value_at, x))?;
            let parts = key::split(e.key).map_err(|x| seg.corrupt_at(at, x))?;
            if kind == EntryKind::Version && parts.created_ts <= kmax {
                return Ok(Direct::Hit {
                    event_ts: parts.event_ts,
                    created_ts: parts.created_ts,
                    row,
                });
            }
        }
        return Ok(Direct::Checked);
    }
    Ok(Direct::Absent)
}

/// One segment's part of [`as_of`]: offers the key's greatest qualifying
/// version in `seg` to `s.best`; `true` if `seg` holds the key's tombstone.
pub(crate) fn read_segment(seg: &Segment, h: u64, kmax: i64, s: &mut Scratch) -> Result<bool> {
    if seg.is_direct() {
        let suffix = s.target.len().saturating_sub(key::TS_SUFFIX_LEN);
        let target_suffix = s.target.get(suffix..).unwrap_or_default();
        match probe_direct(seg, h, &s.prefix, target_suffix, kmax)? {
            Direct::Hit {
                event_ts,
                created_ts,
                row,
            } => {
                s.best.offer(event_ts, created_ts, row);
                return Ok(false);
            }
            Direct::Absent => return Ok(false),
            Direct::Checked => {}
        }
    }
    let mut cur = seg.cursor_with(std::mem::take(&mut s.key_buf));
    let Some(tomb) = position(seg, &mut cur, h, s)? else {
        s.key_buf = cur.into_key_buf();
        return Ok(false);
    };
    while cur.valid() && same_prefix(cur.key(), &s.prefix) {
        let (kind, row) = cur.entry()?;
        let parts = key::split(cur.key()).map_err(|e| super::Error::corruption(&seg.path, 0, e))?;
        if kind == EntryKind::Version && parts.created_ts <= kmax {
            s.best.offer(parts.event_ts, parts.created_ts, row);
            break;
        }
        cur.next()?;
    }
    s.key_buf = cur.into_key_buf();
    Ok(tomb)
}

/// Entity keys of `view` present in any source (deleted ones may be listed).
pub fn keys_of_view(rs: &ReadSet, view: ViewId) -> Result<Vec<Vec<u8>>> {
    let view_prefix = view.to_be_bytes();
    let mut prefixes = Vec::new();
    for mem in rs.memtables() {
        mem.prefixes_of_view(&view_prefix, &mut prefixes);
    }
    for seg in &rs.segments {
        let mut cur = seg.cursor();
        let mut ok = cur.seek(&view_prefix)?;
        while ok && cur.key().starts_with(&view_prefix) {
            let k = cur.key();
            let p = &k[..k.len().saturating_sub(key::TS_SUFFIX_LEN)];
            if prefixes.last().is_none_or(|l: &Vec<u8>| l.as_slice() != p) {
                prefixes.push(p.to_vec());
            }
            ok = cur.next()?;
        }
    }
    prefixes.sort_unstable();
    prefixes.dedup();
    Ok(prefixes
        .into_iter()
        .map(|p| p[key::VIEW_ID_LEN..].to_vec())
        .collect())
}
