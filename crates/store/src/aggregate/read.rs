//! Window reads: tiles inside the window, raw events at its ragged edges.
//!
//! What a window's state is lives here once, in [`Windows`]: per window
//! `(start, end]`, the raw events from `start + 1` to the first whole tile,
//! the whole tiles in ascending order, then the raw events from the end of
//! the last whole tile to `end` (added in a state of their own and merged),
//! raw events in the engine's order (newest first). [`read`] takes a key's
//! versions from the engine as it needs them; an export answering many rows
//! of a key reads them once into a [`KeyHistory`] and computes each row's
//! windows from it ([`Windows::from_history`]): the same code, so the same
//! states and values, bit for bit.

use std::convert::Infallible;
use std::ops::Range;

use super::{Resolved, Tile};
use strata_engine::{self as engine, Engine};
use strata_format::key::TOMBSTONE_TS;
use strata_format::schema::Value;

/// The features of aggregation view `r` for one encoded key, read at `at`
/// (`known_at` ignores events created after it), in feature order; `None`
/// when the key has no event at or before `at`.
///
/// The windows of a read share work: the tiles of all of them are read
/// with one scan and decoded once (a numeric-only view's are merged from
/// their bytes, not decoded), and windows that end together share
/// their right edge's raw events. A session view is read by
/// [`crate::session::read`].
pub fn read(
    engine: &Engine,
    r: &Resolved,
    key: &[u8],
    at: i64,
    known_at: Option<i64>,
) -> engine::Result<Option<Vec<Value>>> {
    if let Some(s) = &r.spec.session {
        return crate::session::read(engine, r, s, key, at, known_at);
    }
    let at = at.min(TOMBSTONE_TS - 1);
    let mut w = Windows::default();
    w.set(r, at);
    if known_at.is_some() {
        w.states = w
            .windows
            .iter()
            .map(|&(start, end)| raw_window(engine, r, key, start, end, known_at))
            .collect::<engine::Result<_>>()?;
    } else {
        let stored = Stored::load(engine, r, key, &w.windows)?;
        w.tiled(r, &stored)?;
    }
    if w.is_empty() && engine.as_of(r.source.id, key, at, known_at)?.is_none() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(r.spec.aggregations.len());
    w.finish(r, &mut out);
    Ok(Some(out))
}

/// The distinct windows of a read of an aggregation view (without a
/// session) at one time, and their states; its buffers are reused from
/// read to read.
#[derive(Debug, Default)]
pub struct Windows {
    /// The read time.
    at: i64,
    /// Each `(start, end]`, in the order the aggregations first name them.
    windows: Vec<(i64, i64)>,
    /// One per window.
    states: Vec<Tile>,
    /// The right edges' raw states, by `(past, end)`: windows that end
    /// together share them.
    edges: Vec<((i64, i64), Tile)>,
}

impl Windows {
    /// Computes the windows of `r` read at `at` (a time below
    /// [`TOMBSTONE_TS`], as [`read`] bounds it) from `key`'s versions in
    /// memory, which must cover the span of the windows' events: the
    /// states [`read`] computes from the engine without `known_at`.
    pub fn from_history(&mut self, r: &Resolved, at: i64, key: &KeyHistory) {
        self.set(r, at);
        let Ok(()) = self.tiled(r, key);
    }

    /// Whether every window is empty (has no event).
    pub fn is_empty(&self) -> bool {
        self.states.iter().all(Tile::is_empty)
    }

    /// Appends the features of `r` (in feature order) computed from the
    /// windows' states.
    pub fn finish(&self, r: &Resolved, out: &mut Vec<Value>) {
        for (n, a) in r.spec.aggregations.iter().enumerate() {
            let w = a.window_at(self.at);
            let i = self.windows.iter().position(|x| *x == w).unwrap_or(0);
            out.push(self.states[i].finish(&r.groups, n, a, w.1));
        }
    }

    /// Sets the read time and the distinct windows of `r` at it.
    fn set(&mut self, r: &Resolved, at: i64) {
        self.at = at;
        self.windows.clear();
        for a in &r.spec.aggregations {
            let w = a.window_at(at);
            if !self.windows.contains(&w) {
                self.windows.push(w);
            }
        }
    }

    /// The states of the windows, from `key`'s tiles and raw edges.
    fn tiled<K: KeyVersions>(&mut self, r: &Resolved, key: &K) -> Result<(), K::Error> {
        let g = &r.groups;
        // Merging an empty state changes nothing unless a group keeps
        // buckets (a merge bounds their number): then it is merged always.
        let bucketed = g.groups.iter().any(|x| x.bucket.is_some());
        self.states.clear();
        self.edges.clear();
        for &(start, end) in &self.windows {
            let mut st = Tile::new(g);
            let span = (end > start)
                .then(|| full_tiles(start + 1, end, r.spec.tile))
                .flatten();
            match span {
                None if end > start => edge(key, r, (start + 1, end), &mut st)?,
                None => {}
                Some((first, past)) => {
                    edge(key, r, (start + 1, first - 1), &mut st)?;
                    key.merge_tiles(r, first..past, &mut st)?;
                    if bucketed || key.may_have_events(r, (past, end)) {
                        let i = match self.edges.iter().position(|e| e.0 == (past, end)) {
                            Some(i) => i,
                            None => {
                                let mut e = Tile::new(g);
                                edge(key, r, (past, end), &mut e)?;
                                self.edges.push(((past, end), e));
                                self.edges.len() - 1
                            }
                        };
                        st.merge(g, &self.edges[i].1);
                    }
                }
            }
            self.states.push(st);
        }
        Ok(())
    }
}

/// Event times `[from, to]` (both inclusive).
type Span = (i64, i64);

/// Where a window read takes one key's versions from.
trait KeyVersions {
    type Error;

    /// Whether an event may have its `event_ts` in `span` (`false`: none
    /// has).
    fn may_have_events(&self, r: &Resolved, span: Span) -> bool;

    /// Adds the source's events with `event_ts` in `span` (not empty),
    /// newest first.
    fn add_events(&self, r: &Resolved, span: Span, st: &mut Tile) -> Result<(), Self::Error>;

    /// Merges the stored tiles whose start is in `starts`, ascending.
    fn merge_tiles(
        &self,
        r: &Resolved,
        starts: Range<i64>,
        st: &mut Tile,
    ) -> Result<(), Self::Error>;
}

/// Adds `key`'s events with `event_ts` in `span`, if it may have any.
fn edge<K: KeyVersions>(key: &K, r: &Resolved, span: Span, st: &mut Tile) -> Result<(), K::Error> {
    if span.0 > span.1 || !key.may_have_events(r, span) {
        return Ok(());
    }
    key.add_events(r, span, st)
}

/// A key's versions read from the engine as a read needs them: its stored
/// tiles over the windows (one scan), raw events per edge.
///
/// The scan of the key's tiles also covers the tiles holding the raw
/// edges: a tile is stored exactly when an event of the key falls in it
/// (it is written with its events, and deleted with them), so an edge
/// whose tile is absent has no event, and its raw read is skipped.
struct Stored<'a> {
    engine: &'a Engine,
    key: &'a [u8],
    tiles: Tiles,
    /// Per tile of `tiles`, decoded if some window merges it and the
    /// view's tiles do not merge from their bytes.
    decoded: Vec<Option<Tile>>,
}

impl<'a> Stored<'a> {
    /// Reads every stored tile of `key` any of `windows` or their edges
    /// fall in, ascending by start; decoded once if the view's tiles do
    /// not merge from their bytes and some window merges it (edge tiles
    /// only say that their edge has events).
    fn load(
        engine: &'a Engine,
        r: &'a Resolved,
        key: &'a [u8],
        windows: &[(i64, i64)],
    ) -> engine::Result<Stored<'a>> {
        let tile = r.spec.tile;
        let mut tiles = Tiles::default();
        let nonempty = || windows.iter().filter(|w| w.1 > w.0);
        let lo = nonempty().map(|w| tile_start(w.0 + 1, tile)).min();
        let hi = nonempty().map(|w| tile_start(w.1, tile)).max();
        if let (Some(lo), Some(hi)) = (lo, hi) {
            tiles.0 = engine.history(r.view.id, key, lo, hi, None)?;
            tiles.0.reverse();
        }
        let decoded = if Tile::merges_encoded(&r.groups) {
            Vec::new()
        } else {
            let spans: Vec<(i64, i64)> = nonempty()
                .filter_map(|&(start, end)| full_tiles(start + 1, end, tile))
                .collect();
            let merged = |ts: i64| spans.iter().any(|&(first, past)| first <= ts && ts < past);
            tiles
                .0
                .iter()
                .map(|v| {
                    merged(v.event_ts)
                        .then(|| Tile::decode(&r.groups, &v.row))
                        .transpose()
                        .map_err(|e| engine::Error::corrupt_row(r.view.id, e))
                })
                .collect::<engine::Result<_>>()?
        };
        Ok(Stored {
            engine,
            key,
            tiles,
            decoded,
        })
    }
}

impl KeyVersions for Stored<'_> {
    type Error = engine::Error;

    fn may_have_events(&self, r: &Resolved, (from, to): Span) -> bool {
        self.tiles.any_in(tile_start(from, r.spec.tile), to)
    }

    fn add_events(&self, r: &Resolved, (from, to): Span, st: &mut Tile) -> engine::Result<()> {
        raw(self.engine, r, self.key, from, to, None, st)
    }

    fn merge_tiles(&self, r: &Resolved, starts: Range<i64>, st: &mut Tile) -> engine::Result<()> {
        let g = &r.groups;
        let from = self.tiles.0.partition_point(|t| t.event_ts < starts.start);
        let inside = self.tiles.0[from..]
            .iter()
            .take_while(|t| t.event_ts < starts.end);
        for (i, t) in inside.enumerate() {
            match self.decoded.get(from + i) {
                Some(Some(d)) => st.merge(g, d),
                _ => st
                    .merge_encoded(g, &t.row)
                    .map_err(|e| engine::Error::corrupt_row(r.view.id, e))?,
            }
        }
        Ok(())
    }
}

/// The key's stored tiles over the span a read needs, ascending by start
/// (`event_ts`), encoded.
#[derive(Default)]
struct Tiles(Vec<engine::Version>);

impl Tiles {
    /// Whether a stored tile starts in `[from, to]`.
    fn any_in(&self, from: i64, to: i64) -> bool {
        let i = self.0.partition_point(|t| t.event_ts < from);
        self.0.get(i).is_some_and(|t| t.event_ts <= to)
    }
}

/// One key's stored tiles (decoded) and source events over a span of event
/// times, in memory, newest first (the engine's order): what
/// [`Windows::from_history`] computes windows from, for a caller reading
/// many rows of a key.
#[derive(Debug, Default)]
pub struct KeyHistory {
    /// `(start, tile)`, newest first.
    tiles: Vec<(i64, Tile)>,
    /// `(event_ts, created_ts, values)`, newest first.
    events: Vec<(i64, i64, Vec<Value>)>,
}

impl KeyHistory {
    /// Forgets every version.
    pub fn clear(&mut self) {
        self.tiles.clear();
        self.events.clear();
    }

    /// How many tiles and source events are held.
    pub fn counts(&self) -> (usize, usize) {
        (self.tiles.len(), self.events.len())
    }

    /// The `event_ts` of the oldest source event held.
    pub fn oldest_event(&self) -> Option<i64> {
        self.events.last().map(|e| e.0)
    }

    /// Adds a stored tile of `r` (starting at `start`, encoded `row`), older
    /// than those held.
    pub fn push_tile(&mut self, r: &Resolved, start: i64, row: &[u8]) -> engine::Result<()> {
        let t =
            Tile::decode(&r.groups, row).map_err(|e| engine::Error::corrupt_row(r.view.id, e))?;
        self.tiles.push((start, t));
        Ok(())
    }

    /// Adds a stored event of `r`'s source (`row` encoded), older than
    /// those held (or as old, created earlier).
    pub fn push_event(
        &mut self,
        r: &Resolved,
        event_ts: i64,
        created_ts: i64,
        row: &[u8],
    ) -> engine::Result<()> {
        let values = r.event_values(row)?;
        self.events.push((event_ts, created_ts, values));
        Ok(())
    }

    /// Replaces the versions held with those of `key` whose event times
    /// are in `[lo, hi]` (the tiles that hold those times), read from the
    /// engine.
    pub fn read(
        &mut self,
        engine: &Engine,
        r: &Resolved,
        key: &[u8],
        (lo, hi): (i64, i64),
    ) -> engine::Result<()> {
        self.clear();
        let tile = r.spec.tile;
        let (first, last) = (tile_start(lo, tile), tile_start(hi, tile));
        for v in engine.history(r.view.id, key, first, last, None)? {
            self.push_tile(r, v.event_ts, &v.row)?;
        }
        for v in engine.history(r.source.id, key, lo, hi, None)? {
            self.push_event(r, v.event_ts, v.created_ts, &v.row)?;
        }
        Ok(())
    }

    /// The positions in `tiles` of those whose start is in `starts`.
    fn tiles_in(&self, starts: Range<i64>) -> Range<usize> {
        let newer = self.tiles.partition_point(|t| t.0 >= starts.end);
        let older = self.tiles.partition_point(|t| t.0 >= starts.start);
        newer..older.max(newer)
    }

    /// The positions in `events` of those with `from <= event_ts <= to`.
    fn events_in(&self, from: i64, to: i64) -> Range<usize> {
        let newer = self.events.partition_point(|e| e.0 > to);
        let older = self.events.partition_point(|e| e.0 >= from);
        newer..older.max(newer)
    }
}

impl KeyVersions for KeyHistory {
    type Error = Infallible;

    fn may_have_events(&self, _: &Resolved, (from, to): Span) -> bool {
        !self.events_in(from, to).is_empty()
    }

    fn add_events(&self, r: &Resolved, (from, to): Span, st: &mut Tile) -> Result<(), Infallible> {
        for (ts, created, values) in &self.events[self.events_in(from, to)] {
            st.add(&r.groups, *ts, *created, values);
        }
        Ok(())
    }

    fn merge_tiles(
        &self,
        r: &Resolved,
        starts: Range<i64>,
        st: &mut Tile,
    ) -> Result<(), Infallible> {
        for (_, t) in self.tiles[self.tiles_in(starts)].iter().rev() {
            st.merge(&r.groups, t);
        }
        Ok(())
    }
}

/// The start of the tile holding `ts`.
fn tile_start(ts: i64, tile: i64) -> i64 {
    super::write::tile_start(ts, tile)
}

/// The state of the events of `key` with `start < event_ts <= end`, from
/// raw events only.
fn raw_window(
    engine: &Engine,
    r: &Resolved,
    key: &[u8],
    start: i64,
    end: i64,
    known_at: Option<i64>,
) -> engine::Result<Tile> {
    let mut st = Tile::new(&r.groups);
    if end > start {
        raw(engine, r, key, start + 1, end, known_at, &mut st)?;
    }
    Ok(st)
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

/// Adds the source's events of `key` with `from <= event_ts <= to`.
fn raw(
    engine: &Engine,
    r: &Resolved,
    key: &[u8],
    from: i64,
    to: i64,
    known_at: Option<i64>,
    st: &mut Tile,
) -> engine::Result<()> {
    if from > to {
        return Ok(());
    }
    for v in engine.history(r.source.id, key, from, to, known_at)? {
        let values = r.event_values(&v.row)?;
        st.add(&r.groups, v.event_ts, v.created_ts, &values);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{KeyHistory, Tiles, full_tiles};

    #[test]
    fn an_edge_has_events_only_if_a_tile_starts_in_it() {
        let at = |event_ts| strata_engine::Version {
            event_ts,
            created_ts: 0,
            row: Vec::new(),
        };
        let tiles = Tiles(vec![at(-10), at(20), at(40)]);
        assert!(tiles.any_in(-10, -1));
        assert!(tiles.any_in(20, 29) && tiles.any_in(11, 20) && tiles.any_in(30, 45));
        assert!(!tiles.any_in(0, 19) && !tiles.any_in(21, 39) && !tiles.any_in(41, 99));
        assert!(!Tiles::default().any_in(i64::MIN, i64::MAX));
    }

    #[test]
    fn a_history_finds_its_versions_newest_first() {
        let h = KeyHistory {
            tiles: [40, 30, 10]
                .iter()
                .map(|&start| (start, super::Tile { parts: Vec::new() }))
                .collect(),
            events: [40, 30, 30, 20, 10]
                .iter()
                .map(|&ts| (ts, 0, Vec::new()))
                .collect(),
        };
        assert_eq!(h.events_in(20, 30), 1..4);
        assert_eq!(h.events_in(31, 39), 1..1);
        assert_eq!(h.events_in(50, 99), 0..0);
        assert_eq!(h.events_in(i64::MIN, 10), 4..5);
        assert_eq!(h.events_in(30, 20), 3..3);
        assert_eq!(h.oldest_event(), Some(10));
        assert_eq!(h.tiles_in(10..40), 1..3);
        assert_eq!(h.tiles_in(11..41), 0..2);
        assert_eq!(h.tiles_in(50..60), 0..0);
        assert_eq!(h.tiles_in(40..40), 1..1);
    }

    #[test]
    fn full_tiles_are_those_inside_the_window() {
        // Window [1, 25] with tiles of 10: [10, 20) only.
        assert_eq!(full_tiles(1, 25, 10), Some((10, 20)));
        // [10, 29]: tiles [10, 20) and [20, 30) both end by 29.
        assert_eq!(full_tiles(10, 29, 10), Some((10, 30)));
        assert_eq!(full_tiles(11, 29, 10), Some((20, 30)));
        assert_eq!(full_tiles(11, 28, 10), None);
        assert_eq!(full_tiles(-25, -1, 10), Some((-20, 0)));
    }
}
