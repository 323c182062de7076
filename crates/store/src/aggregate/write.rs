//! Tile maintenance: the tile versions a batch of source events changes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::{Resolved, Tile};
use crate::catalog::aggregation::LatePolicy;
use strata_engine::{self as engine, Engine, WriteBatch};
use strata_format::key::ViewId;

/// One source event being written.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The encoded entity key.
    pub key: Vec<u8>,
    pub event_ts: i64,
    pub created_ts: i64,
    /// The encoded row (the source view's schema).
    pub row: Vec<u8>,
}

impl Event {
    fn identity(&self) -> (&[u8], i64, i64) {
        (&self.key, self.event_ts, self.created_ts)
    }
}

/// Late events of one aggregation view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LateEvents {
    /// Refused (`late_events = "reject"`): not written at all.
    pub rejected: u64,
    /// Written, and their tiles corrected (`late_events = "correct"`).
    pub corrected: u64,
}

/// The late events of one batch.
#[derive(Debug, Default)]
pub struct Late {
    /// Per aggregation view that found events late.
    pub per_view: Vec<(ViewId, LateEvents)>,
    /// Events refused (by at least one view with `late_events = "reject"`).
    pub rejected_events: usize,
}

/// Splits a batch of source events into those written and the late ones.
///
/// The watermark of a source is the greatest `event_ts` written to it (kept
/// by the engine across restarts), advanced in batch order by the events
/// admitted. An event is late for an aggregation view when its `event_ts`
/// is before the watermark minus the view's `allowed_lateness`. It is
/// refused (written nowhere, so that events and tiles always agree) when it
/// is late for a view with `late_events = "reject"`, and counted by every
/// view it is late for. A `backfill` refuses nothing: its late events are
/// written and their tiles corrected (counted as corrected).
pub fn admit(
    engine: &Engine,
    source: ViewId,
    aggs: &[Arc<Resolved>],
    events: Vec<Event>,
    backfill: bool,
) -> (Vec<Event>, Late) {
    let mut watermark = engine
        .freshness(source)
        .map_or(i64::MIN, |f| f.newest_event_ts);
    let mut late = Late::default();
    let mut counts = vec![LateEvents::default(); aggs.len()];
    let mut admitted = Vec::with_capacity(events.len());
    for e in events {
        let late_for =
            |r: &Resolved| e.event_ts < watermark.saturating_sub(r.spec.allowed_lateness);
        let refused = !backfill
            && aggs
                .iter()
                .any(|r| late_for(r) && r.spec.late == LatePolicy::Reject);
        for (r, c) in aggs.iter().zip(&mut counts) {
            if late_for(r) {
                if refused {
                    c.rejected += 1;
                } else {
                    c.corrected += 1;
                }
            }
        }
        if refused {
            late.rejected_events += 1;
            continue;
        }
        watermark = watermark.max(e.event_ts);
        admitted.push(e);
    }
    late.per_view = aggs
        .iter()
        .zip(counts)
        .filter(|(_, c)| *c != LateEvents::default())
        .map(|(r, c)| (r.view.id, c))
        .collect();
    (admitted, late)
}

/// Keeps the last of events with the same `(key, event_ts, created_ts)`
/// (a later write of a version replaces an earlier one), in order.
pub fn dedup(events: Vec<Event>) -> Vec<Event> {
    let mut seen = HashSet::new();
    let mut keep: Vec<Event> = events
        .into_iter()
        .rev()
        .filter(|e| seen.insert((e.key.clone(), e.event_ts, e.created_ts)))
        .collect();
    keep.reverse();
    keep
}

/// What the store held of a batch's keys before the batch: per key, the
/// identity `(event_ts, created_ts)` of its newest stored source event
/// (`None`: no event), and whether each event replaces a stored version.
///
/// One lookup per key of the batch answers the common case of a stream,
/// events newer than everything stored for their key: such an event
/// replaces nothing, and no tile starting after the key's newest stored
/// event exists (a tile is written only with events in it, and a delete
/// removes events and tiles alike), so neither needs a lookup of its own.
#[derive(Debug, Default)]
pub struct Prior {
    /// Per event of the batch: whether it replaces a stored version.
    pub replaces: Vec<bool>,
    newest: HashMap<Vec<u8>, Option<(i64, i64)>>,
}

impl Prior {
    /// Whether the tile of `key` starting at `start` may be stored: only
    /// if a stored event of the key is at or after `start` (unknown keys:
    /// may be).
    fn may_hold_tile(&self, key: &[u8], start: i64) -> bool {
        self.newest
            .get(key)
            .is_none_or(|n| n.is_some_and(|(e, _)| e >= start))
    }
}

/// [`Prior`] for a write that `aggs` read from: sessions are read from
/// the events, so when every reader is a session view nothing needs to
/// know what the store held.
pub fn prior_for(
    engine: &Engine,
    aggs: &[std::sync::Arc<Resolved>],
    source: u32,
    events: &[Event],
) -> engine::Result<Prior> {
    if aggs.iter().all(|r| r.spec.session.is_some()) {
        return Ok(Prior {
            replaces: vec![false; events.len()],
            newest: HashMap::new(),
        });
    }
    prior(engine, source, events)
}

/// [`Prior`] of `events` (deduplicated) in `source`.
pub fn prior(engine: &Engine, source: u32, events: &[Event]) -> engine::Result<Prior> {
    let mut newest: HashMap<Vec<u8>, Option<(i64, i64)>> = HashMap::new();
    for e in events {
        if !newest.contains_key(&e.key) {
            let newest_ts = strata_format::key::TOMBSTONE_TS - 1;
            let n = engine.as_of_with(source, &e.key, newest_ts, None, |v| {
                v.map(|(event_ts, created_ts, _)| (event_ts, created_ts))
            })?;
            newest.insert(e.key.clone(), n);
        }
    }
    let replaces = events
        .iter()
        .map(|e| {
            let stored = newest.get(&e.key).copied().flatten();
            if stored.is_none_or(|n| (e.event_ts, e.created_ts) > n) {
                return Ok(false); // newer than every stored event of its key
            }
            let found = engine.as_of(source, &e.key, e.event_ts, Some(e.created_ts))?;
            Ok(found.is_some_and(|v| v.event_ts == e.event_ts && v.created_ts == e.created_ts))
        })
        .collect::<engine::Result<_>>()?;
    Ok(Prior { replaces, newest })
}

/// The start of the tile holding `ts`.
pub fn tile_start(ts: i64, tile: i64) -> i64 {
    ts.div_euclid(tile) * tile
}

/// Adds to `batch` the new versions of every tile of `r` that `events`
/// (deduplicated, not yet written) fall in. `prior.replaces[i]` says
/// whether event `i` replaces a stored version: its tile is then recomputed
/// from the stored events, as a replaced event's old values cannot be taken
/// out of a tile.
pub fn add_tiles(
    engine: &Engine,
    r: &Resolved,
    events: &[Event],
    prior: &Prior,
    batch: &mut WriteBatch,
) -> engine::Result<()> {
    tiles_into(engine, r, events, prior, &mut |view, key, start, row| {
        batch.put(view, key, start, 0, row)
    })
}

/// Receives tile versions: `(aggregation view, key, tile start, state)`.
pub type TileSink<'a> = dyn FnMut(ViewId, &[u8], i64, &[u8]) -> engine::Result<()> + 'a;

/// [`add_tiles`] handing each new tile version `(view, key, tile start,
/// state)` to `emit` (its `created_ts` is 0), in `(key, start)` order.
pub fn tiles_into(
    engine: &Engine,
    r: &Resolved,
    events: &[Event],
    prior: &Prior,
    emit: &mut TileSink<'_>,
) -> engine::Result<()> {
    if r.spec.session.is_some() {
        return Ok(()); // sessions are read from the events: no tiles
    }
    let mut groups: BTreeMap<(&[u8], i64), Vec<usize>> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        groups
            .entry((&e.key, tile_start(e.event_ts, r.spec.tile)))
            .or_default()
            .push(i);
    }
    let mut buf = Vec::new();
    for ((key, start), idx) in groups {
        let mut st = if idx.iter().any(|&i| prior.replaces[i]) {
            let ids: HashSet<_> = idx.iter().map(|&i| events[i].identity()).collect();
            let end = start.saturating_add(r.spec.tile - 1);
            let mut st = Tile::new(&r.groups);
            for v in engine.history(r.source.id, key, start, end, None)? {
                if !ids.contains(&(key, v.event_ts, v.created_ts)) {
                    let values = r.event_values(&v.row)?;
                    st.add(&r.groups, v.event_ts, v.created_ts, &values);
                }
            }
            st
        } else if !prior.may_hold_tile(key, start) {
            Tile::new(&r.groups)
        } else {
            match engine.as_of(r.view.id, key, start, None)? {
                Some(v) if v.event_ts == start => Tile::decode(&r.groups, &v.row)
                    .map_err(|e| engine::Error::corrupt_row(r.view.id, e))?,
                _ => Tile::new(&r.groups),
            }
        };
        for &i in &idx {
            let e = &events[i];
            let values = r.event_values(&e.row)?;
            st.add(&r.groups, e.event_ts, e.created_ts, &values);
        }
        st.encode(&r.groups, &mut buf);
        emit(r.view.id, key, start, &buf)?;
    }
    Ok(())
}

/// Tiles for every stored event of `keys` in the source of `r`, for a view
/// created over a source that already has data. Written in batches.
pub fn backfill(engine: &Engine, r: &Resolved) -> engine::Result<u64> {
    if r.spec.session.is_some() {
        return Ok(0);
    }
    let mut batch = WriteBatch::default();
    let mut buf = Vec::new();
    let mut tiles = 0u64;
    for key in engine.keys_of_view(r.source.id)? {
        let mut by_tile: BTreeMap<i64, Tile> = BTreeMap::new();
        for v in engine.history(r.source.id, &key, i64::MIN, i64::MAX - 1, None)? {
            let values = r.event_values(&v.row)?;
            by_tile
                .entry(tile_start(v.event_ts, r.spec.tile))
                .or_insert_with(|| Tile::new(&r.groups))
                .add(&r.groups, v.event_ts, v.created_ts, &values);
        }
        for (start, st) in by_tile {
            st.encode(&r.groups, &mut buf);
            batch.put(r.view.id, &key, start, 0, &buf)?;
            tiles += 1;
        }
        if batch.len() >= 10_000 {
            engine.write(&batch)?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        engine.write(&batch)?;
    }
    Ok(tiles)
}
