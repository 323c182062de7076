//! The rows of an aggregation view in an export without `known_at`, key by
//! key: the rows are sorted by key and time, and the rows of one key whose
//! windows lie close together (a *group*) are answered from one read of
//! the key's tiles and one of its raw events over the group's span,
//! instead of a tile read and raw edge reads per row.
//!
//! Each row's windows are computed from those as the store's read
//! ([`strata_store::aggregate::read::read`] without `known_at`) computes
//! them from the engine: per window `(start, end]`, the raw events from
//! `start + 1` to the first whole tile, the whole tiles in ascending
//! order, then the raw events from the end of the last whole tile to
//! `end` (added in a state of their own and merged), raw events in the
//! engine's order (newest first); so the states and the values are the
//! same, bit for bit. A row whose windows are all empty is `NOT_FOUND`
//! unless its key has an event at or before its time.

use std::ops::Range;

use super::Error;
use super::aggregate::{Answers, answer_chunks};
use super::keys::Keys;
use strata_engine::scan::ViewScan;
use strata_engine::{self as engine, Engine};
use strata_format::key::TOMBSTONE_TS;
use strata_format::schema::{FeatureType, Value};
use strata_store::aggregate::Resolved;
use strata_store::aggregate::Tile;
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
            tiles: Vec::new(),
            events: Vec::new(),
            span: None,
            before_span: None,
            bucketed: r.groups.groups.iter().any(|g| g.bucket.is_some()),
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
    /// The key's stored tiles over the group's span, ascending by start.
    tiles: Vec<(i64, Tile)>,
    /// The key's source events over the group's span, newest first (the
    /// engine's order): `(event_ts, created_ts, values)`.
    events: Vec<(i64, i64, Vec<Value>)>,
    /// The group's span, and whether the key has an event before it (read
    /// when a row first needs it).
    span: Option<(i64, i64)>,
    before_span: Option<bool>,
    /// Whether a group of the view's aggregations keeps buckets.
    bucketed: bool,
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
        self.tiles.clear();
        self.events.clear();
        self.span = span;
        self.before_span = None;
        let Some((lo, hi)) = span else {
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
                if self.events.len() == KEY_VERSIONS {
                    self.events.clear();
                    return Ok(false);
                }
                let values = r.event_values(v.row)?;
                self.events.push((v.event_ts, v.created_ts, values));
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
                if self.tiles.len() == KEY_VERSIONS {
                    self.tiles.clear();
                    self.events.clear();
                    return Ok(false);
                }
                let t = Tile::decode(&r.groups, v.row)
                    .map_err(|e| engine::Error::corrupt_row(r.view.id, e))?;
                self.tiles.push((v.event_ts, t));
            }
            tiles.advance()?;
        }
        self.tiles.reverse();
        self.before_span = Some(before);
        Ok(true)
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
        let aggs = &r.spec.aggregations;
        let mut windows: Vec<(i64, i64)> = Vec::new();
        let mut states: Vec<Tile> = Vec::new();
        let mut values: Vec<Value> = Vec::with_capacity(aggs.len());
        for &row in rows {
            let t = at(row);
            windows.clear();
            for a in aggs {
                let w = a.window_at(t);
                if !windows.contains(&w) {
                    windows.push(w);
                }
            }
            states.clear();
            for &(start, end) in &windows {
                states.push(self.window(start, end));
            }
            if states.iter().all(Tile::is_empty) && !self.has_event_by(key, t)? {
                continue;
            }
            values.clear();
            for (n, agg) in aggs.iter().enumerate() {
                let w = agg.window_at(t);
                let i = windows.iter().position(|x| *x == w).unwrap_or(0);
                values.push(states[i].finish(&r.groups, n, agg, w.1));
            }
            a.push(row as usize, self.schema, &values, buf, || {
                format!("an aggregate of {}", r.view.qualified_name())
            })?;
        }
        Ok(())
    }

    /// Reads the key's tiles and source events over `span` (`[lo, hi]`
    /// of event times; none without a span).
    fn read(&mut self, key: &[u8], span: Option<(i64, i64)>) -> Result<(), Error> {
        let r = self.r;
        self.tiles.clear();
        self.events.clear();
        self.span = span;
        self.before_span = None;
        let Some((lo, hi)) = span else {
            return Ok(());
        };
        let tile = r.spec.tile;
        let stored = self.engine.history(
            r.view.id,
            key,
            tile_start(lo, tile),
            tile_start(hi, tile),
            None,
        )?;
        for v in stored.into_iter().rev() {
            let t = Tile::decode(&r.groups, &v.row)
                .map_err(|e| engine::Error::corrupt_row(r.view.id, e))?;
            self.tiles.push((v.event_ts, t));
        }
        for v in self.engine.history(r.source.id, key, lo, hi, None)? {
            self.events
                .push((v.event_ts, v.created_ts, r.event_values(&v.row)?));
        }
        Ok(())
    }

    /// The state of window `(start, end]`, as the store's tiled read
    /// computes it (module docs).
    fn window(&self, start: i64, end: i64) -> Tile {
        let g = &self.r.groups;
        let mut st = Tile::new(g);
        if end <= start {
            return st;
        }
        let Some((first, past)) = full_tiles(start + 1, end, self.r.spec.tile) else {
            self.raw(start + 1, end, &mut st);
            return st;
        };
        self.raw(start + 1, first - 1, &mut st);
        let from = self.tiles.partition_point(|t| t.0 < first);
        for (_, t) in self.tiles[from..].iter().take_while(|t| t.0 < past) {
            st.merge(g, t);
        }
        // Merging an empty state changes nothing unless a group keeps
        // buckets (a merge bounds their number): then it is merged as the
        // store's read merges it.
        if self.any_in(past, end) || self.bucketed {
            let mut edge = Tile::new(g);
            self.raw(past, end, &mut edge);
            st.merge(g, &edge);
        }
        st
    }

    /// Whether an event has `from <= event_ts <= to`.
    fn any_in(&self, from: i64, to: i64) -> bool {
        let newer = self.events.partition_point(|e| e.0 > to);
        self.events.get(newer).is_some_and(|e| e.0 >= from)
    }

    /// Adds the events with `from <= event_ts <= to`, newest first.
    fn raw(&self, from: i64, to: i64, st: &mut Tile) {
        if from > to {
            return;
        }
        let newer = self.events.partition_point(|e| e.0 > to);
        let older = self.events.partition_point(|e| e.0 >= from);
        for (ts, created, values) in &self.events[newer..older.max(newer)] {
            st.add(&self.r.groups, *ts, *created, values);
        }
    }

    /// Whether the key has a source event at or before `t` (a time of the
    /// group's rows): one in the group's span, or one before it.
    fn has_event_by(&mut self, key: &[u8], t: i64) -> Result<bool, Error> {
        if self.events.last().is_some_and(|e| e.0 <= t) {
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

/// `[first, past)`: the tiles wholly inside `[lo, end]`, if any.
fn full_tiles(lo: i64, end: i64, tile: i64) -> Option<(i64, i64)> {
    let (lo, end, tile) = (i128::from(lo), i128::from(end), i128::from(tile));
    let first = (lo + tile - 1).div_euclid(tile) * tile;
    let past = (end + 1).div_euclid(tile) * tile;
    if first >= past {
        return None;
    }
    Some((i64::try_from(first).ok()?, i64::try_from(past).ok()?))
}

#[cfg(test)]
mod tests {
    use super::full_tiles;

    #[test]
    fn full_tiles_are_those_inside_the_window() {
        assert_eq!(full_tiles(1, 25, 10), Some((10, 20)));
        assert_eq!(full_tiles(10, 29, 10), Some((10, 30)));
        assert_eq!(full_tiles(11, 29, 10), Some((20, 30)));
        assert_eq!(full_tiles(11, 28, 10), None);
        assert_eq!(full_tiles(-25, -1, 10), Some((-20, 0)));
    }
}
