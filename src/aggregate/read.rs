//! Window reads: tiles inside the window, raw events at its ragged edges.

use super::{Resolved, State};
use crate::engine::{self, Engine};
use crate::format::key::TOMBSTONE_TS;
use crate::format::row;
use crate::format::schema::Value;

/// The features of aggregation view `r` for one encoded key, read at `at`
/// (`known_at` ignores events created after it), in feature order; `None`
/// when the key has no event at or before `at`.
pub fn read(
    engine: &Engine,
    r: &Resolved,
    key: &[u8],
    at: i64,
    known_at: Option<i64>,
) -> engine::Result<Option<Vec<Value>>> {
    let at = at.min(TOMBSTONE_TS - 1);
    if engine.as_of(r.source.id, key, at, known_at)?.is_none() {
        return Ok(None);
    }
    let mut windows: Vec<((i64, i64), State)> = Vec::new();
    let mut out = Vec::with_capacity(r.spec.aggregations.len());
    for a in &r.spec.aggregations {
        let w = a.window_at(at);
        let i = match windows.iter().position(|x| x.0 == w) {
            Some(i) => i,
            None => {
                windows.push((w, window(engine, r, key, w.0, w.1, known_at)?));
                windows.len() - 1
            }
        };
        out.push(windows[i].1.finish(&r.layout, a, w.1));
    }
    Ok(Some(out))
}

/// The state of the events of `key` with `start < event_ts <= end`.
pub fn window(
    engine: &Engine,
    r: &Resolved,
    key: &[u8],
    start: i64,
    end: i64,
    known_at: Option<i64>,
) -> engine::Result<State> {
    let mut st = State::new(&r.layout);
    if end <= start {
        return Ok(st);
    }
    let lo = start + 1;
    if known_at.is_none()
        && let Some((first, past)) = full_tiles(lo, end, r.spec.tile)
    {
        raw(engine, r, key, lo, first - 1, None, &mut st)?;
        for v in engine.history(r.view.id, key, first, past - r.spec.tile, None)? {
            let tile = State::decode(&r.layout, &v.row)
                .map_err(|e| engine::Error::corrupt_row(r.view.id, e))?;
            st.merge(&r.layout, &tile);
        }
        raw(engine, r, key, past, end, None, &mut st)?;
        return Ok(st);
    }
    raw(engine, r, key, lo, end, known_at, &mut st)?;
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
    st: &mut State,
) -> engine::Result<()> {
    if from > to {
        return Ok(());
    }
    for v in engine.history(r.source.id, key, from, to, known_at)? {
        let values = row::decode_row(&r.source_schema, &v.row)
            .map_err(|e| engine::Error::corrupt_row(r.source.id, e))?;
        st.add(&r.layout, v.event_ts, v.created_ts, &values);
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
