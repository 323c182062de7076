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
        let mut reader = GroupReader {
            engine,
            r,
            schema: &schema,
            tiles: Vec::new(),
            events: Vec::new(),
        };
        for g in &groups[chunk] {
            let rows = &order[g.clone()];
            keys.with_key(rows[0] as usize, |key| {
                reader.answer(key, rows, &at, a, buf)
            })?;
        }
        Ok(())
    })
}

/// The rows with a valid key, by key then time.
fn sorted_rows(keys: &Keys, times: &[i64]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..keys.len())
        .filter(|&i| keys.is_valid(i))
        .map(|i| i as u32)
        .collect();
    match keys {
        Keys::Int(k) => order.sort_unstable_by_key(|&i| (k[i as usize], times[i as usize])),
        Keys::Bytes { .. } => order.sort_unstable_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            keys.bytes(a)
                .cmp(keys.bytes(b))
                .then(times[a].cmp(&times[b]))
        }),
    }
    order
}

/// The groups of `order` (ranges of it): rows of one key, a new group
/// starting where a row's windows begin after the previous row's end (no
/// event counts for both) or where the group would span more than
/// [`GROUP_SPAN`] times the windows' reach.
fn groups(r: &Resolved, keys: &Keys, order: &[u32], at: &dyn Fn(u32) -> i64) -> Vec<Range<usize>> {
    let aggs = &r.spec.aggregations;
    let first = |t: i64| aggs.iter().map(|a| a.window_at(t).0).min().unwrap_or(t);
    let last = |t: i64| aggs.iter().map(|a| a.window_at(t).1).max().unwrap_or(t);
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
            || first(t) >= last(at(prev))
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
}

impl GroupReader<'_> {
    /// Answers the rows of one group (of one key, ascending by time).
    fn answer(
        &mut self,
        key: &[u8],
        rows: &[u32],
        at: &dyn Fn(u32) -> i64,
        a: &mut Answers,
        buf: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let r = self.r;
        let aggs = &r.spec.aggregations;
        let (Some(&first), Some(&last)) = (rows.first(), rows.last()) else {
            return Ok(());
        };
        let nonempty = |t: i64| {
            aggs.iter()
                .map(move |a| a.window_at(t))
                .filter(|w| w.1 > w.0)
        };
        let lo = nonempty(at(first)).map(|w| w.0 + 1).min();
        let hi = nonempty(at(last)).map(|w| w.1).max();
        self.read(key, lo.zip(hi))?;
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
        let mut edge = Tile::new(g);
        self.raw(past, end, &mut edge);
        st.merge(g, &edge);
        st
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

    /// Whether the key has a source event at or before `t`: one read over
    /// the group's span says so, else the engine is asked.
    fn has_event_by(&self, key: &[u8], t: i64) -> Result<bool, Error> {
        if self.events.last().is_some_and(|e| e.0 <= t) {
            return Ok(true);
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
