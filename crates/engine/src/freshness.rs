//! Freshness per view, kept by the engine: the newest `event_ts` ever
//! written, the time of the last write, and how many rows were written.
//!
//! Every write is observed where it is applied: the commit leader records
//! its group (after the WAL append, before any writer of the group returns,
//! so once [`Engine::write`](super::Engine::write) returns,
//! [`Engine::freshness`](super::Engine::freshness) reflects it), and a bulk
//! ingest records its run with the manifest update that adds it. Only
//! versions count; tombstones (deletes) change nothing here. Times are the
//! engine's [`Clock`](super::Clock). The read path never touches this.
//!
//! Persistence: the newest `event_ts` and the last write time of every view
//! ([`ViewMark`]s) go into every manifest the engine writes (flush,
//! compaction, ingest, open) and into one more at a clean close when they
//! changed, so a reopen finds them exactly. With them goes the WAL sequence
//! number they account for; after a crash, WAL replay raises the newest
//! `event_ts` from the replayed versions (a maximum, so replaying twice is
//! harmless), and a view written by batches numbered after that sequence
//! number gets as last write time the WAL file's modification time, capped
//! at the clock when the store is opened (the write happened before both).
//! Row counts and rates are since open only: they start at zero.

use std::collections::HashMap;
use std::path::Path;

use parking_lot::Mutex;

use strata_format::key::{self, ViewId};
use strata_format::manifest::{Manifest, ViewMark};
use strata_format::segment::EntryKind;
use strata_format::wal::Op;

use super::{Inner, Result, manifest};

/// Width of one bucket of the rate ring, µs.
const BUCKET_MICROS: i64 = 10_000_000;
/// Buckets kept: one hour.
const BUCKETS: usize = 360;
/// Buckets in a minute.
const MINUTE_BUCKETS: i64 = 6;

/// The freshness of one view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewFreshness {
    /// The greatest `event_ts` of any version ever written to the view
    /// (deleted or not; tombstones excluded). Persisted.
    pub newest_event_ts: i64,
    /// The engine clock (µs) at the view's last write: a WAL write, or the
    /// bulk ingest of a run holding the view. Persisted; never goes back.
    pub last_write_micros: i64,
    /// Versions written to the view since the store was opened.
    pub rows_since_open: u64,
    /// Versions written in the last minute (in 10-second steps: the
    /// current bucket and the five before it). Since open.
    pub rows_last_minute: u64,
    /// Versions written in the last hour (in 10-second steps). Since open.
    pub rows_last_hour: u64,
}

/// What one write (a commit group, an ingest, replayed batches) holds per
/// view: `(view, greatest event_ts, versions)`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Seen {
    views: Vec<(ViewId, i64, u64)>,
}

impl Seen {
    /// Counts one entry (an internal key and its kind).
    #[inline]
    pub fn observe(&mut self, kind: EntryKind, internal_key: &[u8]) {
        if kind != EntryKind::Version {
            return;
        }
        let Ok(parts) = key::split(internal_key) else {
            return;
        };
        let view = parts.view();
        // Writes usually hold one view, or a few: a short scan, newest first.
        match self.views.iter_mut().rev().find(|e| e.0 == view) {
            Some(e) => {
                e.1 = e.1.max(parts.event_ts);
                e.2 += 1;
            }
            None => self.views.push((view, parts.event_ts, 1)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.views.is_empty()
    }
}

/// Versions written per 10-second bucket: `(bucket number, rows)`.
type Ring = [(i64, u64); BUCKETS];

#[derive(Debug, Clone)]
struct ViewState {
    newest_event_ts: i64,
    last_write_micros: i64,
    rows_since_open: u64,
    ring: Option<Box<Ring>>,
}

impl ViewState {
    fn new(newest_event_ts: i64, last_write_micros: i64) -> ViewState {
        ViewState {
            newest_event_ts,
            last_write_micros,
            rows_since_open: 0,
            ring: None,
        }
    }

    fn add_rows(&mut self, rows: u64, now: i64) {
        self.rows_since_open += rows;
        let bucket = now.div_euclid(BUCKET_MICROS);
        let ring = self
            .ring
            .get_or_insert_with(|| Box::new([(i64::MIN, 0); BUCKETS]));
        let slot = &mut ring[bucket.rem_euclid(BUCKETS as i64) as usize];
        if slot.0 == bucket {
            slot.1 += rows;
        } else if slot.0 < bucket {
            *slot = (bucket, rows);
        }
        // Else the clock went back by more than an hour: not a rate worth
        // keeping.
    }

    /// Rows in the `n` buckets up to and including the one of `now`.
    fn rows_within(&self, now: i64, n: i64) -> u64 {
        let bucket = now.div_euclid(BUCKET_MICROS);
        self.ring.as_ref().map_or(0, |ring| {
            ring.iter()
                .filter(|(b, _)| *b <= bucket && *b > bucket - n)
                .map(|(_, rows)| rows)
                .sum()
        })
    }

    fn report(&self, now: i64) -> ViewFreshness {
        ViewFreshness {
            newest_event_ts: self.newest_event_ts,
            last_write_micros: self.last_write_micros,
            rows_since_open: self.rows_since_open,
            rows_last_minute: self.rows_within(now, MINUTE_BUCKETS),
            rows_last_hour: self.rows_within(now, BUCKETS as i64),
        }
    }

    fn mark(&self, view: ViewId) -> ViewMark {
        ViewMark {
            view,
            newest_event_ts: self.newest_event_ts,
            last_write_micros: self.last_write_micros,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    views: HashMap<ViewId, ViewState>,
    /// Every WAL write numbered up to this is recorded.
    seqno: u64,
}

/// The freshness of every view. One short lock per commit group, ingest
/// or query; it is taken last (nothing is locked while holding it).
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    state: Mutex<State>,
}

impl Tracker {
    /// Records a write made at `now`; `seqno`: the last WAL sequence number
    /// it used (`None` for a bulk ingest).
    pub fn record(&self, seen: &Seen, now: i64, seqno: Option<u64>) {
        let mut st = self.state.lock();
        if let Some(s) = seqno {
            st.seqno = st.seqno.max(s);
        }
        for &(view, newest, rows) in &seen.views {
            let v = st
                .views
                .entry(view)
                .or_insert_with(|| ViewState::new(newest, now));
            v.newest_event_ts = v.newest_event_ts.max(newest);
            v.last_write_micros = v.last_write_micros.max(now);
            v.add_rows(rows, now);
        }
    }

    pub fn get(&self, view: ViewId, now: i64) -> Option<ViewFreshness> {
        self.state.lock().views.get(&view).map(|v| v.report(now))
    }

    /// Every view written to, by id.
    pub fn all(&self, now: i64) -> Vec<(ViewId, ViewFreshness)> {
        let st = self.state.lock();
        let mut out: Vec<_> = st
            .views
            .iter()
            .map(|(id, v)| (*id, v.report(now)))
            .collect();
        out.sort_unstable_by_key(|(id, _)| *id);
        out
    }

    /// The marks to persist (by view id) and the sequence number they
    /// account for, with `extra` (written at `now`) counted in.
    fn marks(&self, extra: Option<(&Seen, i64)>) -> (u64, Vec<ViewMark>) {
        let st = self.state.lock();
        let mut marks: Vec<ViewMark> = st.views.iter().map(|(id, v)| v.mark(*id)).collect();
        if let Some((seen, now)) = extra {
            for &(view, newest, _) in &seen.views {
                match marks.iter_mut().find(|m| m.view == view) {
                    Some(m) => {
                        m.newest_event_ts = m.newest_event_ts.max(newest);
                        m.last_write_micros = m.last_write_micros.max(now);
                    }
                    None => marks.push(ViewMark {
                        view,
                        newest_event_ts: newest,
                        last_write_micros: now,
                    }),
                }
            }
        }
        marks.sort_unstable_by_key(|m| m.view);
        (st.seqno, marks)
    }
}

/// Stores `next` as the manifest with the current freshness marks (and
/// those of `extra`, a bulk ingest made at the given time, which is recorded
/// once the manifest is in place). Call with `inner.state` locked, so that
/// manifests are written in order and none loses a mark another recorded.
pub(crate) fn store_manifest(
    inner: &Inner,
    next: &mut Manifest,
    extra: Option<(&Seen, i64)>,
) -> Result<()> {
    let (seqno, views) = inner.freshness.marks(extra);
    next.freshness_seqno = seqno;
    next.views = views;
    manifest::store(&inner.io.fs(), &inner.dir, next)?;
    if let Some((seen, now)) = extra {
        inner.freshness.record(seen, now, None);
    }
    Ok(())
}

/// At a clean close: stores the manifest once more if the marks changed
/// since it was written. Errors are ignored (the marks are then recovered
/// as after a crash).
pub(crate) fn persist_on_close(inner: &Inner) {
    if inner.poisoned().is_some() || inner.read_only.is_some() {
        return;
    }
    let mut m = inner.state.lock();
    let (seqno, views) = inner.freshness.marks(None);
    if m.views == views && m.freshness_seqno == seqno {
        return;
    }
    let mut next = m.clone();
    next.freshness_seqno = seqno;
    next.views = views;
    if manifest::store(&inner.io.fs(), &inner.dir, &next).is_ok() {
        *m = next;
    }
}

/// What WAL replay at open found, to rebuild the tracker from.
#[derive(Debug)]
pub(crate) struct Replayed {
    persisted_seqno: u64,
    seen: Seen,
    /// Views written by batches the persisted marks do not account for, and
    /// the latest modification time (µs) of a WAL file holding such a batch.
    unaccounted: HashMap<ViewId, i64>,
    last_seqno: u64,
    /// The modification time of the WAL file being replayed.
    file: Option<(std::path::PathBuf, i64)>,
}

impl Replayed {
    pub fn new(m: &Manifest) -> Replayed {
        Replayed {
            persisted_seqno: m.freshness_seqno,
            seen: Seen::default(),
            unaccounted: HashMap::new(),
            last_seqno: 0,
            file: None,
        }
    }

    /// One replayed batch of the WAL file `path`.
    pub fn batch(&mut self, path: &Path, first_seqno: u64, ops: &[Op<'_>]) {
        let mut seen = Seen::default();
        for op in ops {
            seen.observe(op.kind, op.key);
        }
        let last = first_seqno.saturating_add((ops.len() as u64).saturating_sub(1));
        self.last_seqno = self.last_seqno.max(last);
        if last > self.persisted_seqno && !seen.is_empty() {
            let mtime = match &self.file {
                Some((p, t)) if p == path => *t,
                _ => {
                    let t = modified_micros(path);
                    self.file = Some((path.to_path_buf(), t));
                    t
                }
            };
            for &(view, _, _) in &seen.views {
                let e = self.unaccounted.entry(view).or_insert(i64::MIN);
                *e = (*e).max(mtime);
            }
        }
        for (view, newest, rows) in seen.views {
            match self.seen.views.iter_mut().find(|e| e.0 == view) {
                Some(e) => e.1 = e.1.max(newest),
                None => self.seen.views.push((view, newest, rows)),
            }
        }
    }

    /// The tracker: the persisted marks, raised by what was replayed. `now`
    /// is the clock at open.
    pub fn tracker(&self, m: &Manifest, now: i64) -> Tracker {
        let mut st = State {
            views: HashMap::new(),
            seqno: m.freshness_seqno.max(self.last_seqno),
        };
        for mark in &m.views {
            st.views.insert(
                mark.view,
                ViewState::new(mark.newest_event_ts, mark.last_write_micros),
            );
        }
        for &(view, newest, _) in &self.seen.views {
            let written = self.unaccounted.get(&view).map(|t| (*t).min(now));
            let v = st
                .views
                .entry(view)
                .or_insert_with(|| ViewState::new(newest, written.unwrap_or(i64::MIN)));
            v.newest_event_ts = v.newest_event_ts.max(newest);
            if let Some(t) = written {
                v.last_write_micros = v.last_write_micros.max(t);
            }
        }
        Tracker {
            state: Mutex::new(st),
        }
    }
}

/// A file's modification time in µs since the epoch (`i64::MAX` if unknown,
/// so that the cap at the open time applies).
fn modified_micros(path: &Path) -> i64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_micros()).ok())
        .unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(entries: &[(ViewId, i64)]) -> Seen {
        let mut s = Seen::default();
        let mut k = Vec::new();
        for &(view, ts) in entries {
            key::internal_key(view, b"k", ts, 0, &mut k);
            s.observe(EntryKind::Version, &k);
        }
        key::internal_key(9, b"k", key::TOMBSTONE_TS, key::TOMBSTONE_TS, &mut k);
        s.observe(EntryKind::Tombstone, &k);
        s
    }

    #[test]
    fn records_max_and_rates() {
        let t = Tracker::default();
        let min = 60_000_000;
        t.record(&seen(&[(1, 50), (1, 70), (2, 5)]), 10 * min, Some(3));
        t.record(&seen(&[(1, 60)]), 10 * min + 30_000_000, Some(4));
        let v = t.get(1, 10 * min + 30_000_000).unwrap();
        assert_eq!(v.newest_event_ts, 70);
        assert_eq!(v.last_write_micros, 10 * min + 30_000_000);
        assert_eq!(
            (v.rows_since_open, v.rows_last_minute, v.rows_last_hour),
            (3, 3, 3)
        );
        // 50 s later, the first write has left the last minute.
        let v = t.get(1, 11 * min + 20_000_000).unwrap();
        assert_eq!((v.rows_last_minute, v.rows_last_hour), (1, 3));
        let v = t.get(1, 71 * min).unwrap();
        assert_eq!((v.rows_since_open, v.rows_last_hour), (3, 0));
        assert!(t.get(9, 0).is_none(), "tombstones are not rows");
        // A clock that goes back keeps the last write time.
        t.record(&seen(&[(2, 1)]), min, Some(5));
        assert_eq!(t.get(2, min).unwrap().last_write_micros, 10 * min);
        let (seqno, marks) = t.marks(None);
        assert_eq!(seqno, 5);
        assert_eq!(marks.iter().map(|m| m.view).collect::<Vec<_>>(), [1, 2]);
        let (_, marks) = t.marks(Some((&seen(&[(3, 8), (1, 99)]), 20 * min)));
        assert_eq!(marks.len(), 3);
        assert_eq!(
            (marks[0].newest_event_ts, marks[0].last_write_micros),
            (99, 20 * min)
        );
        assert!(t.get(3, 0).is_none(), "marks() records nothing");
    }
}
