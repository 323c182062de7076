//! Window reads: tiles inside the window, raw events at its ragged edges.

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
    let mut windows: Vec<(i64, i64)> = Vec::new();
    for a in &r.spec.aggregations {
        let w = a.window_at(at);
        if !windows.contains(&w) {
            windows.push(w);
        }
    }
    let states = if known_at.is_some() {
        windows
            .iter()
            .map(|&(start, end)| raw_window(engine, r, key, start, end, known_at))
            .collect::<engine::Result<Vec<_>>>()?
    } else {
        tiled_windows(engine, r, key, &windows)?
    };
    if states.iter().all(Tile::is_empty) && engine.as_of(r.source.id, key, at, known_at)?.is_none()
    {
        return Ok(None);
    }
    let out = r
        .spec
        .aggregations
        .iter()
        .enumerate()
        .map(|(n, a)| {
            let w = a.window_at(at);
            let i = windows.iter().position(|x| *x == w).unwrap_or(0);
            states[i].finish(&r.groups, n, a, w.1)
        })
        .collect();
    Ok(Some(out))
}

/// The states of `windows` (each `(start, end]`), from tiles and raw edges.
///
/// The scan of the key's tiles also covers the tiles holding the raw
/// edges: a tile is stored exactly when an event of the key falls in it
/// (it is written with its events, and deleted with them), so an edge
/// whose tile is absent has no event, and its raw read is skipped.
fn tiled_windows(
    engine: &Engine,
    r: &Resolved,
    key: &[u8],
    windows: &[(i64, i64)],
) -> engine::Result<Vec<Tile>> {
    let tile = r.spec.tile;
    let spans: Vec<Option<(i64, i64)>> = windows
        .iter()
        .map(|&(start, end)| {
            (end > start)
                .then(|| full_tiles(start + 1, end, tile))
                .flatten()
        })
        .collect();
    // Every stored tile any window or edge falls in, ascending by start;
    // merged by the windows that cover it, from its bytes if the view's
    // tiles allow, else decoded once if some window merges it (edge tiles
    // only say that their edge has events).
    let mut tiles = Tiles::default();
    let nonempty = || windows.iter().filter(|w| w.1 > w.0);
    let lo = nonempty().map(|w| tile_start(w.0 + 1, tile)).min();
    let hi = nonempty().map(|w| tile_start(w.1, tile)).max();
    if let (Some(lo), Some(hi)) = (lo, hi) {
        tiles.0 = engine.history(r.view.id, key, lo, hi, None)?;
        tiles.0.reverse();
    }
    let decoded: Vec<Option<Tile>> = if Tile::merges_encoded(&r.groups) {
        Vec::new()
    } else {
        let merged = |ts: i64| {
            spans
                .iter()
                .flatten()
                .any(|&(first, past)| first <= ts && ts < past)
        };
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
    let mut right_edges: Vec<((i64, i64), Tile)> = Vec::new();
    let mut out = Vec::with_capacity(windows.len());
    for (&(start, end), span) in windows.iter().zip(&spans) {
        let Some((first, past)) = *span else {
            let mut st = Tile::new(&r.groups);
            if end > start {
                raw_if(engine, r, key, start + 1, end, &tiles, &mut st)?;
            }
            out.push(st);
            continue;
        };
        let mut st = Tile::new(&r.groups);
        raw_if(engine, r, key, start + 1, first - 1, &tiles, &mut st)?;
        let from = tiles.0.partition_point(|t| t.event_ts < first);
        let inside = tiles.0[from..].iter().take_while(|t| t.event_ts < past);
        for (i, t) in inside.enumerate() {
            match decoded.get(from + i) {
                Some(Some(d)) => st.merge(&r.groups, d),
                _ => st
                    .merge_encoded(&r.groups, &t.row)
                    .map_err(|e| engine::Error::corrupt_row(r.view.id, e))?,
            }
        }
        let edge = match right_edges.iter().position(|e| e.0 == (past, end)) {
            Some(i) => i,
            None => {
                let mut e = Tile::new(&r.groups);
                raw_if(engine, r, key, past, end, &tiles, &mut e)?;
                right_edges.push(((past, end), e));
                right_edges.len() - 1
            }
        };
        st.merge(&r.groups, &right_edges[edge].1);
        out.push(st);
    }
    Ok(out)
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

/// [`raw`] over `[from, to]`, skipped when no stored tile covers any of
/// it (then no event of the key falls in it).
fn raw_if(
    engine: &Engine,
    r: &Resolved,
    key: &[u8],
    from: i64,
    to: i64,
    tiles: &Tiles,
    st: &mut Tile,
) -> engine::Result<()> {
    if from > to || !tiles.any_in(tile_start(from, r.spec.tile), to) {
        return Ok(());
    }
    raw(engine, r, key, from, to, None, st)
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
    use super::{Tiles, full_tiles};

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
