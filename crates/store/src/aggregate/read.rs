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
/// with one scan and decoded once, and windows that end together share
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
    // Every tile any window needs, decoded once, ascending by start.
    let mut tiles: Vec<(i64, Tile)> = Vec::new();
    let lo = spans.iter().flatten().map(|s| s.0).min();
    let hi = spans.iter().flatten().map(|s| s.1).max();
    if let (Some(lo), Some(hi)) = (lo, hi) {
        for v in engine.history(r.view.id, key, lo, hi - tile, None)? {
            let st = Tile::decode(&r.groups, &v.row)
                .map_err(|e| engine::Error::corrupt_row(r.view.id, e))?;
            tiles.push((v.event_ts, st));
        }
        tiles.reverse();
    }
    let mut right_edges: Vec<((i64, i64), Tile)> = Vec::new();
    let mut out = Vec::with_capacity(windows.len());
    for (&(start, end), span) in windows.iter().zip(&spans) {
        let Some((first, past)) = *span else {
            out.push(raw_window(engine, r, key, start, end, None)?);
            continue;
        };
        let mut st = Tile::new(&r.groups);
        raw(engine, r, key, start + 1, first - 1, None, &mut st)?;
        let from = tiles.partition_point(|t| t.0 < first);
        for (_, t) in tiles[from..].iter().take_while(|t| t.0 < past) {
            st.merge(&r.groups, t);
        }
        let edge = match right_edges.iter().position(|e| e.0 == (past, end)) {
            Some(i) => i,
            None => {
                let mut e = Tile::new(&r.groups);
                raw(engine, r, key, past, end, None, &mut e)?;
                right_edges.push(((past, end), e));
                right_edges.len() - 1
            }
        };
        st.merge(&r.groups, &right_edges[edge].1);
        out.push(st);
    }
    Ok(out)
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
    use super::full_tiles;

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
