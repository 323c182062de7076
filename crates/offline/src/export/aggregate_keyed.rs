//! The rows of an aggregation view in an export without `known_at`, key by
//! key: the rows are sorted by key and time, and the rows of one key whose
//! windows lie close together (a *group*) are answered from one read of
//! the key's tiles and one of its raw events over the group's span,
//! instead of a tile read and raw edge reads per row.
//!
//! Each row's windows are computed from those by the store's own window
//! code ([`strata_store::aggregate::read::Windows::from_history`], what
//! [`strata_store::aggregate::read::read`] without `known_at` runs over the
//! engine), so the states and the values are the same, bit for bit. A row
//! whose windows are all empty is `NOT_FOUND` unless its key has an event
//! at or before its time.

use std::ops::Range;

use super::Error;
use super::aggregate::{Answers, answer_chunks};
use super::keys::Keys;
use strata_engine::Engine;
use strata_engine::scan::ViewScan;
use strata_format::key::TOMBSTONE_TS;
use strata_format::schema::{FeatureType, Value};
use strata_store::aggregate::Resolved;
use strata_store::aggregate::read::{KeyHistory, Windows};
use strata_store::aggregate::write::tile_start;

/// A group spans at most this many times the reach of its rows' windows,
/// so that the events held for it stay proportionate to what its rows
/// read.
const GROUP_SPAN: i64 = 16;

/// The most versions of one view a key's rows are answered from at once;
/// a key with more over its rows' span is read a group at a time.
const KEY_VERSIONS: usize = 1 << 18;

/// Answers every row with a valid key of aggregation view `r` (which has
/// no `session_gap`) at its time, without `known_at`, on `threads`
/// threads; a row whose key has no event at or before its time gets no
/// answer (null features, as for any view).
pub(crate) fn answer(
    engine: &Engine,
    r: &Resolved,
    keys: &Keys,
    times: &[i64],
    threads: usize,
) -> Result<Vec<Answers>, Error> {
    let at = |row: u32| times[row as usize].min(TOMBSTONE_TS - 1);
    let order = sorted_rows(keys, times);
    let groups = groups(r, keys, &order, &at);
    let schema = r.view.schema();
    answer_chunks(groups.len(), threads, |chunk, a, buf| {
        let groups = &groups[chunk];
        let Some(first) = groups.first() else {
            return Ok(());
        };
        let mut reader = GroupReader {
            engine,
            r,
            schema: &schema,
            history: KeyHistory::default(),
            windows: Windows::default(),
            span: None,
            before_span: None,
        };
        let from = keys.with_key(order[first.start] as usize, <[u8]>::to_vec);
        // Two forward scans (the tiles, the source's events) from the
        // chunk's first key: each key's versions are read in passing.
        let mut scans = |tiles: &mut ViewScan<'_>, events: &mut ViewScan<'_>| {
            let mut i = 0;
            while i < groups.len() {
                let head = order[groups[i].start] as usize;
                let mut j = i + 1;
                while j < groups.len() && keys.same(head, order[groups[j].start] as usize) {
                    j += 1;
                }
                let of_key = &groups[i..j];
                keys.with_key(head, |key| {
                    reader.answer_key(key, of_key, &order, (tiles, events), &at, a, buf)
                })?;
                i = j;
            }
            Ok::<(), Error>(())
        };
        engine.scan_view(r.view.id, &from, None, None, |tiles| {
            engine.scan_view(r.source.id, &from, None, None, |events| {
                scans(tiles, events)
            })
        })???;
        Ok(())
    })
}

/// The rows with a valid key, by key then time.
fn sorted_rows(keys: &Keys, times: &[i64]) -> Vec<u32> {
    match keys {
        Keys::Int(k) => {
            // Sorted as contiguous (key, time, row) triples.
            let mut triples: Vec<(u64, i64, u32)> = k
                .iter()
                .enumerate()
                .filter_map(|(i, k)| k.map(|k| (k, times[i], i as u32)))
                .collect();
            triples.sort_unstable();
            triples.into_iter().map(|t| t.2).collect()
        }
        Keys::Bytes { .. } => {
            let mut order: Vec<u32> = (0..keys.len())
                .filter(|&i| keys.is_valid(i))
                .map(|i| i as u32)
                .collect();
            order.sort_unstable_by(|&a, &b| {
                let (a, b) = (a as usize, b as usize);
                keys.bytes(a)
                    .cmp(keys.bytes(b))
                    .then(times[a].cmp(&times[b]))
            });
            order
        }
    }
}

/// The groups of `order` (ranges of it): rows of one key, a new group
/// starting where the group would span more than [`GROUP_SPAN`] times the
/// windows' reach. (Rows of a key are not split where their windows do not
/// overlap: one read of a key's few events between them costs less than
/// another seek.)
fn groups(r: &Resolved, keys: &Keys, order: &[u32], at: &dyn Fn(u32) -> i64) -> Vec<Range<usize>> {
    let aggs = &r.spec.aggregations;
    let reach = aggs
        .iter()
        .map(|a| a.window.saturating_add(a.slide))
        .max()
        .unwrap_or(0)
        .max(r.spec.tile);
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..order.len() {
        let (prev, row) = (order[i - 1], order[i]);
        let t = at(row);
        let split = !keys.same(prev as usize, row as usize)
            || t.saturating_sub(at(order[start])) > reach.saturating_mul(GROUP_SPAN);
        if split {
            out.push(start..i);
            start = i;
        }
    }
    if start < order.len() {
        out.push(start..order.len());
    }
    out
}

/// One thread's reads of groups, with buffers reused from group to group.
struct GroupReader<'a> {
    engine: &'a Engine,
    r: &'a Resolved,
    schema: &'a [FeatureType],
    /// The key's stored tiles and source events over the group's span.
    history: KeyHistory,
    /// A row's windows and their states.
    windows: Windows,
    /// The group's span, and whether the key has an event before it (read
    /// when a row first needs it).
    span: Option<(i64, i64)>,
    before_span: Option<bool>,
}

impl GroupReader<'_> {
    /// Answers the rows of the groups `of_key` (ranges of `order`) of one
    /// key: its versions over the groups' span read from the scans as
    /// they pass, or, for a key with more than [`KEY_VERSIONS`] there,
    /// read a group at a time.
    #[allow(clippy::too_many_arguments)]
    fn answer_key(
        &mut self,
        key: &[u8],
        of_key: &[Range<usize>],
        order: &[u32],
        (tiles, events): (&mut ViewScan<'_>, &mut ViewScan<'_>),
        at: &dyn Fn(u32) -> i64,
        a: &mut Answers,
        buf: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let (Some(first), Some(last)) = (of_key.first(), of_key.last()) else {
            return Ok(());
        };
        let rows = &order[first.start..last.end];
        if self.scan_read(key, self.span_of(rows, at), tiles, events)? {
            return self.answer_rows(key, rows, at, a, buf);
        }
        for g in of_key {
            let rows = &order[g.clone()];
            self.read(key, self.span_of(rows, at))?;
            self.answer_rows(key, rows, at, a, buf)?;
        }
        Ok(())
    }

    /// `[lo, hi]`: the event times the windows of `rows` (of one key,
    /// ascending by time) cover; `None` if they are all empty.
    fn span_of(&self, rows: &[u32], at: &dyn Fn(u32) -> i64) -> Option<(i64, i64)> {
        let aggs = &self.r.spec.aggregations;
        let (first, last) = (*rows.first()?, *rows.last()?);
        let nonempty = |t: i64| {
            aggs.iter()
                .map(move |a| a.window_at(t))
                .filter(|w| w.1 > w.0)
        };
        let lo = nonempty(at(first)).map(|w| w.0 + 1).min()?;
        let hi = nonempty(at(last)).map(|w| w.1).max()?;
        Some((lo, hi))
    }

    /// Reads the key's tiles and events over `span` from the scans
    /// (positioned at or before the key), and whether the key has an event
    /// before it; `false` (and nothing kept) if either view has more than
    /// [`KEY_VERSIONS`] versions there.
    fn scan_read(
        &mut self,
        key: &[u8],
        span: Option<(i64, i64)>,
        tiles: &mut ViewScan<'_>,
        events: &mut ViewScan<'_>,
    ) -> Result<bool, Error> {
        let r = self.r;
        let Some((lo, hi)) = self.reset(span) else {
            return Ok(true);
        };
        events.seek(key)?;
        let mut before = false;
        while let Some(v) = events.current()? {
            if v.entity_key != key {
                break;
            }
            if v.event_ts < lo {
                before = true;
                break;
            }
            if v.event_ts <= hi {
                if self.history.counts().1 == KEY_VERSIONS {
                    self.history.clear();
                    return Ok(false);
                }
                self.history
                    .push_event(r, v.event_ts, v.created_ts, v.row)?;
            }
            events.advance()?;
        }
        let tile = r.spec.tile;
        let (first, last) = (tile_start(lo, tile), tile_start(hi, tile));
        tiles.seek(key)?;
        while let Some(v) = tiles.current()? {
            if v.entity_key != key || v.event_ts < first {
                break;
            }
            if v.event_ts <= last {
                if self.history.counts().0 == KEY_VERSIONS {
                    self.history.clear();
                    return Ok(false);
                }
                self.history.push_tile(r, v.event_ts, v.row)?;
            }
            tiles.advance()?;
        }
        self.before_span = Some(before);
        Ok(true)
    }

    /// Forgets the versions held and sets the group's span, returning it.
    fn reset(&mut self, span: Option<(i64, i64)>) -> Option<(i64, i64)> {
        self.history.clear();
        self.span = span;
        self.before_span = None;
        span
    }

    /// Answers `rows` (of one key, ascending by time) from the versions
    /// read for them.
    fn answer_rows(
        &mut self,
        key: &[u8],
        rows: &[u32],
        at: &dyn Fn(u32) -> i64,
        a: &mut Answers,
        buf: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let r = self.r;
        let mut values: Vec<Value> = Vec::with_capacity(r.spec.aggregations.len());
        for &row in rows {
            let t = at(row);
            self.windows.from_history(r, t, &self.history);
            if self.windows.is_empty() && !self.has_event_by(key, t)? {
                continue;
            }
            values.clear();
            self.windows.finish(r, &mut values);
            a.push(row as usize, self.schema, &values, buf, || {
                format!("an aggregate of {}", r.view.qualified_name())
            })?;
        }
        Ok(())
    }

    /// Reads the key's tiles and source events over `span` (`[lo, hi]`
    /// of event times; none without a span).
    fn read(&mut self, key: &[u8], span: Option<(i64, i64)>) -> Result<(), Error> {
        if let Some(span) = self.reset(span) {
            self.history.read(self.engine, self.r, key, span)?;
        }
        Ok(())
    }

    /// Whether the key has a source event at or before `t` (a time of the
    /// group's rows): one in the group's span, or one before it.
    fn has_event_by(&mut self, key: &[u8], t: i64) -> Result<bool, Error> {
        if self.history.oldest_event().is_some_and(|ts| ts <= t) {
            return Ok(true);
        }
        let Some((lo, _)) = self.span else {
            return Ok(self.engine.as_of(self.r.source.id, key, t, None)?.is_some());
        };
        if t >= lo {
            // No event in [lo, t]: the answer is before the span.
            if self.before_span.is_none() {
                let found = self.engine.as_of(self.r.source.id, key, lo - 1, None)?;
                self.before_span = Some(found.is_some());
            }
            return Ok(self.before_span == Some(true));
        }
        Ok(self.engine.as_of(self.r.source.id, key, t, None)?.is_some())
    }
}
