//! Sequential scans of one view: every live version, in entity-key order,
//! merged over all sources.
//!
//! A [`ViewScan`] walks the versions of one view with entity keys in
//! `[from, to)` (byte order of the encoded keys), each key's versions newest
//! first (by `(event_ts, created_ts)`, descending), with the read rules of
//! [`super::read`] applied on the way:
//!
//! - on an exact tie of `(entity key, event_ts, created_ts)` the newest
//!   source wins and the others' copies are skipped;
//! - a tombstone of a key hides that key's versions in every older source
//!   (inside a memtable, the versions written before it);
//! - with `known_at`, versions with `created_ts > known_at` are skipped.
//!
//! Segments are read through their mmap with one cursor each, sequentially
//! (a [`ViewScan::seek`] to a key close ahead steps forward instead of
//! searching the index). Memtables are copied once, for the key range only,
//! when the scan starts: they are small and a skiplist is slow to walk.
//! Nothing is allocated per version.

use std::cmp::Ordering;

use strata_format::key::{self, TOMBSTONE_TS, TS_SUFFIX_LEN, VIEW_ID_LEN, ViewId};
use strata_format::segment::EntryKind;

use super::memtable::Memtable;
use super::readset::ReadSet;
use super::segment::{Cursor, Segment};
use super::{Error, Result};

/// Entries a forward seek steps through in a segment before it searches the
/// segment's index instead.
const STEP_LIMIT: usize = 16;

/// Byte-wise comparison of short keys, eight bytes at a time (inline,
/// unlike `memcmp`, which dominates for keys of a few words).
#[inline]
fn cmp_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    let (mut x, mut y) = (&a[..n], &b[..n]);
    while x.len() >= 8 {
        let (xh, xt) = x.split_at(8);
        let (yh, yt) = y.split_at(8);
        let (u, v) = (word(xh), word(yh));
        if u != v {
            return u.cmp(&v);
        }
        (x, y) = (xt, yt);
    }
    for (p, q) in x.iter().zip(y) {
        if p != q {
            return p.cmp(q);
        }
    }
    a.len().cmp(&b.len())
}

/// Eight bytes as a big-endian integer.
#[inline]
fn word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_be_bytes(w)
}

/// `a == b` for short keys; see [`cmp_bytes`].
#[inline]
pub(crate) fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && cmp_bytes(a, b) == Ordering::Equal
}

/// One version, as [`ViewScan::current`] shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanVersion<'s> {
    /// The encoded entity key.
    pub entity_key: &'s [u8],
    pub event_ts: i64,
    pub created_ts: i64,
    /// The encoded row.
    pub row: &'s [u8],
}

/// A memtable's entries in the scan's range, copied out.
struct MemRun {
    /// Each entry's internal key followed by its row.
    bytes: Vec<u8>,
    entries: Vec<MemEntry>,
    pos: usize,
}

#[derive(Clone, Copy)]
struct MemEntry {
    at: usize,
    key_len: u32,
    row_len: u32,
    kind: EntryKind,
}

impl MemRun {
    fn new(mem: &Memtable, bounds: &Bounds) -> MemRun {
        let mut run = MemRun {
            bytes: Vec::new(),
            entries: Vec::new(),
            pos: 0,
        };
        if mem.is_empty() {
            return run;
        }
        mem.for_each_live(|k, kind, row| {
            if k < bounds.start.as_slice() || !bounds.contains(k) {
                return;
            }
            run.entries.push(MemEntry {
                at: run.bytes.len(),
                key_len: k.len() as u32,
                row_len: row.len() as u32,
                kind,
            });
            run.bytes.extend_from_slice(k);
            run.bytes.extend_from_slice(row);
        });
        run
    }

    fn key_at(&self, i: usize) -> &[u8] {
        let e = self.entries[i];
        &self.bytes[e.at..e.at + e.key_len as usize]
    }
}

/// One source of the merge.
enum Source<'a> {
    Mem(MemRun),
    Seg(&'a Segment, Cursor<'a>),
}

impl Source<'_> {
    #[inline]
    fn valid(&self) -> bool {
        match self {
            Source::Mem(m) => m.pos < m.entries.len(),
            Source::Seg(_, c) => c.valid(),
        }
    }

    /// The current internal key (only while valid).
    #[inline]
    fn key(&self) -> &[u8] {
        match self {
            Source::Mem(m) => m.key_at(m.pos),
            Source::Seg(_, c) => c.key(),
        }
    }

    #[inline]
    fn entry(&self) -> Result<(EntryKind, &[u8])> {
        match self {
            Source::Mem(m) => {
                let e = m.entries[m.pos];
                let at = e.at + e.key_len as usize;
                Ok((e.kind, &m.bytes[at..at + e.row_len as usize]))
            }
            Source::Seg(_, c) => c.entry(),
        }
    }

    #[inline]
    fn next(&mut self) -> Result<()> {
        match self {
            Source::Mem(m) => m.pos += 1,
            Source::Seg(_, c) => {
                c.next()?;
            }
        }
        Ok(())
    }

    /// Moves forward to the first entry `>= target` (never backward).
    fn seek_forward(&mut self, target: &[u8]) -> Result<()> {
        match self {
            Source::Mem(m) => {
                let bytes = &m.bytes;
                let rest = &m.entries[m.pos..];
                m.pos += rest.partition_point(|e| {
                    cmp_bytes(&bytes[e.at..e.at + e.key_len as usize], target) == Ordering::Less
                });
            }
            Source::Seg(_, c) => {
                let mut steps = 0;
                while c.valid() && cmp_bytes(c.key(), target) == Ordering::Less {
                    if steps == STEP_LIMIT {
                        c.seek(target)?;
                        break;
                    }
                    c.next()?;
                    steps += 1;
                }
            }
        }
        Ok(())
    }

    fn corrupt(&self, e: strata_format::DecodeError) -> Error {
        match self {
            Source::Mem(_) => Error::InvalidWrite(format!("a memtable key: {e}")),
            Source::Seg(seg, _) => Error::corruption(&seg.path, 0, e),
        }
    }
}

/// The key range of a scan.
struct Bounds {
    view: ViewId,
    /// `view | from`: where the scan starts.
    start: Vec<u8>,
    /// Entity keys at or after this are past the end.
    to: Option<Vec<u8>>,
}

impl Bounds {
    /// Whether the `view | entity key` of a key at or after `start` is
    /// still in range.
    #[inline]
    fn contains_prefix(&self, p: &[u8]) -> bool {
        if p.len() < VIEW_ID_LEN || p[..VIEW_ID_LEN] != self.view.to_be_bytes() {
            return false;
        }
        match &self.to {
            None => true,
            Some(to) => cmp_bytes(&p[VIEW_ID_LEN..], to) == Ordering::Less,
        }
    }

    /// Whether an internal key at or after `start` is still in range.
    fn contains(&self, k: &[u8]) -> bool {
        k.len() >= VIEW_ID_LEN + TS_SUFFIX_LEN
            && self.contains_prefix(&k[..k.len() - TS_SUFFIX_LEN])
    }
}

/// A merged forward scan of one view's versions; see the module docs.
pub struct ViewScan<'a> {
    bounds: Bounds,
    kmax: i64,
    /// Newest first.
    sources: Vec<Source<'a>>,
    /// The source of the current version, if positioned on one.
    cur: Option<usize>,
    event_ts: i64,
    created_ts: i64,
    /// The `view | entity key` the tombstone state is about.
    prefix: Vec<u8>,
    /// The newest source holding a tombstone of `prefix`.
    tomb: Option<usize>,
    /// The current key, while the ties of a multi-source merge are skipped.
    key_buf: Vec<u8>,
    done: bool,
}

impl<'a> ViewScan<'a> {
    /// Opens a scan of `view` over the sources of `rs`, positioned on the
    /// first version (if any).
    pub(crate) fn open(
        rs: &'a ReadSet,
        view: ViewId,
        from: &[u8],
        to: Option<&[u8]>,
        known_at: Option<i64>,
    ) -> Result<ViewScan<'a>> {
        let mut start = Vec::with_capacity(VIEW_ID_LEN + from.len());
        key::prefix(view, from, &mut start);
        let bounds = Bounds {
            view,
            start,
            to: to.map(<[u8]>::to_vec),
        };
        let mut sources = Vec::with_capacity(1 + rs.imm.len() + rs.segments.len());
        for mem in rs.memtables() {
            let run = MemRun::new(mem, &bounds);
            if !run.entries.is_empty() {
                sources.push(Source::Mem(run));
            }
        }
        for seg in &rs.segments {
            let mut c = seg.cursor();
            if c.seek(&bounds.start)? {
                sources.push(Source::Seg(seg, c));
            }
        }
        let mut scan = ViewScan {
            bounds,
            kmax: known_at.unwrap_or(i64::MAX),
            sources,
            cur: None,
            event_ts: 0,
            created_ts: 0,
            prefix: Vec::new(),
            tomb: None,
            key_buf: Vec::new(),
            done: false,
        };
        scan.settle()?;
        Ok(scan)
    }

    /// Whether the scan is positioned on a version (`false` at the end).
    #[inline]
    pub fn valid(&self) -> bool {
        self.cur.is_some()
    }

    /// The current version's entity key (empty at the end).
    #[inline]
    pub fn entity_key(&self) -> &[u8] {
        match self.cur {
            Some(i) => {
                let k = self.sources[i].key();
                &k[VIEW_ID_LEN..k.len() - TS_SUFFIX_LEN]
            }
            None => &[],
        }
    }

    /// The current version's event time (only while [`ViewScan::valid`]).
    #[inline]
    pub fn event_ts(&self) -> i64 {
        self.event_ts
    }

    /// The current version's created time (only while [`ViewScan::valid`]).
    #[inline]
    pub fn created_ts(&self) -> i64 {
        self.created_ts
    }

    /// The current version, `None` at the end.
    pub fn current(&self) -> Result<Option<ScanVersion<'_>>> {
        let Some(i) = self.cur else { return Ok(None) };
        let src = &self.sources[i];
        let (kind, row) = src.entry()?;
        if kind != EntryKind::Version {
            let e = strata_format::DecodeError::invalid(
                "entry value",
                0,
                "a version's key holds a tombstone",
            );
            return Err(src.corrupt(e));
        }
        Ok(Some(ScanVersion {
            entity_key: self.entity_key(),
            event_ts: self.event_ts,
            created_ts: self.created_ts,
            row,
        }))
    }

    /// Moves to the next version; `false` at the end.
    pub fn advance(&mut self) -> Result<bool> {
        if let Some(i) = self.cur.take() {
            self.step(i)?;
        }
        self.settle()
    }

    /// Skips every version whose entity key is before `entity_key` (a
    /// target behind the current version moves nothing); `false` if no
    /// version is left.
    pub fn seek(&mut self, entity_key: &[u8]) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        if self.cur.is_some() && cmp_bytes(self.entity_key(), entity_key) != Ordering::Less {
            return Ok(true);
        }
        self.cur = None;
        let mut target = std::mem::take(&mut self.key_buf);
        key::prefix(self.bounds.view, entity_key, &mut target);
        let r = self
            .sources
            .iter_mut()
            .try_for_each(|s| s.seek_forward(&target));
        self.key_buf = target;
        r?;
        self.settle()
    }

    /// Calls `f` with every version from the current one on, until it
    /// returns `false` or the scan ends.
    pub fn for_each(&mut self, mut f: impl FnMut(ScanVersion<'_>) -> bool) -> Result<()> {
        while let Some(v) = self.current()? {
            if !f(v) {
                return Ok(());
            }
            self.advance()?;
        }
        Ok(())
    }

    /// Moves source `i` past its current key, and every other source
    /// holding the same key (an older copy of it) too.
    #[inline]
    fn step(&mut self, i: usize) -> Result<()> {
        if self.sources.len() > 1 {
            let mut key = std::mem::take(&mut self.key_buf);
            key.clear();
            key.extend_from_slice(self.sources[i].key());
            let r = self
                .sources
                .iter_mut()
                .filter(|s| s.valid() && eq_bytes(s.key(), &key))
                .try_for_each(Source::next);
            self.key_buf = key;
            return r;
        }
        self.sources[i].next()
    }

    /// Positions on the first visible version from the sources' current
    /// entries on.
    fn settle(&mut self) -> Result<bool> {
        loop {
            // The smallest key; on ties the newest source (lowest index).
            let w = if self.sources.len() == 1 {
                self.sources[0].valid().then_some(0)
            } else {
                let mut w = None;
                for (i, s) in self.sources.iter().enumerate() {
                    if s.valid()
                        && w.is_none_or(|w: usize| {
                            cmp_bytes(s.key(), self.sources[w].key()) == Ordering::Less
                        })
                    {
                        w = Some(i);
                    }
                }
                w
            };
            let Some(w) = w else {
                self.done = true;
                return Ok(false);
            };
            let src = &self.sources[w];
            let k = src.key();
            let Some(split) = k.len().checked_sub(TS_SUFFIX_LEN) else {
                return Err(src.corrupt(short_key(k)));
            };
            let (p, ts) = k.split_at(split);
            if !eq_bytes(p, &self.prefix) {
                if !self.bounds.contains_prefix(p) {
                    self.done = true;
                    return Ok(false);
                }
                self.prefix.clear();
                self.prefix.extend_from_slice(p);
                self.tomb = None;
            }
            let e = key::decode_ts_desc(ts[..8].try_into().unwrap_or_default());
            let c = key::decode_ts_desc(ts[8..].try_into().unwrap_or_default());
            // A tombstone's key has both times at the reserved maximum,
            // which no version may have.
            let visible = if e == TOMBSTONE_TS && c == TOMBSTONE_TS {
                self.tomb = Some(self.tomb.map_or(w, |t| t.min(w)));
                false
            } else {
                self.tomb.is_none_or(|t| w <= t) && c <= self.kmax
            };
            if visible {
                self.event_ts = e;
                self.created_ts = c;
                self.cur = Some(w);
                return Ok(true);
            }
            self.step(w)?;
        }
    }
}

fn short_key(k: &[u8]) -> strata_format::DecodeError {
    strata_format::DecodeError::Truncated {
        what: "internal key",
        offset: 0,
        needed: VIEW_ID_LEN + TS_SUFFIX_LEN,
        available: k.len(),
    }
}

/// Opens a [`ViewScan`] over `rs` and hands it to `f`.
pub(crate) fn scan_view<R>(
    rs: &ReadSet,
    view: ViewId,
    from: &[u8],
    to: Option<&[u8]>,
    known_at: Option<i64>,
    f: impl FnOnce(&mut ViewScan<'_>) -> R,
) -> Result<R> {
    let mut scan = ViewScan::open(rs, view, from, to, known_at)?;
    Ok(f(&mut scan))
}
