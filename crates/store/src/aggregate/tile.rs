//! Tiles of views with `where` filters: one [`State`] per filter group.
//!
//! The aggregations of a view are grouped by filter (the unfiltered ones
//! together, then one group per distinct `where` text, in declaration
//! order); each group has its own [`Layout`] and [`State`], and an event
//! enters a group's state only if the group's filter matches it. A view
//! without filters has one group, and its tile is exactly that group's
//! state encoding (tiles written before filters existed read unchanged).
//!
//! Encoding of a tile with several groups:
//! ```text
//! tile  = 2: u8 | (len: varint | state)*     one per group, in group order
//! ```
//! (`state` as in [`super::state`], whose version byte is 1.)

use super::{Layout, State};
use crate::catalog::aggregation::{Aggregation, Filter};
use strata_format::error::{DecodeError, Reader};
use strata_format::schema::{FeatureType, Value};
use strata_format::varint;

/// The version byte of a tile of several groups.
const GROUPED: u8 = 2;

/// The aggregations sharing one filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub filter: Option<Filter>,
    pub layout: Layout,
}

/// The filter groups of a view, and each aggregation's group.
#[derive(Debug, Clone, PartialEq)]
pub struct Groups {
    pub groups: Vec<Group>,
    /// Per aggregation (in the view's order), its group.
    pub of: Vec<usize>,
}

impl Groups {
    pub fn new(aggs: &[Aggregation], source_schema: &[FeatureType]) -> Groups {
        let key = |a: &Aggregation| a.filter.as_ref().map(|f| f.expr.source().to_string());
        let mut keys: Vec<Option<String>> = Vec::new();
        if aggs.iter().any(|a| a.filter.is_none()) {
            keys.push(None);
        }
        for a in aggs {
            if !keys.contains(&key(a)) {
                keys.push(key(a));
            }
        }
        let of: Vec<usize> = aggs
            .iter()
            .map(|a| keys.iter().position(|k| *k == key(a)).unwrap_or(0))
            .collect();
        let groups = keys
            .iter()
            .enumerate()
            .map(|(g, _)| {
                let members: Vec<Aggregation> = aggs
                    .iter()
                    .zip(&of)
                    .filter(|(_, x)| **x == g)
                    .map(|(a, _)| a.clone())
                    .collect();
                Group {
                    filter: members.first().and_then(|a| a.filter.clone()),
                    layout: Layout::new(&members, source_schema),
                }
            })
            .collect();
        Groups { groups, of }
    }
}

/// The partial aggregates of one tile (or window): one state per group.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    pub states: Vec<State>,
}

impl Tile {
    pub fn new(g: &Groups) -> Tile {
        Tile {
            states: g.groups.iter().map(|x| State::new(&x.layout)).collect(),
        }
    }

    /// Whether any group holds an event.
    pub fn is_empty(&self) -> bool {
        self.states.iter().all(|s| s.events == 0)
    }

    /// Adds one event to the groups whose filter it passes.
    pub fn add(&mut self, g: &Groups, event_ts: i64, created_ts: i64, values: &[Value]) {
        for (grp, st) in g.groups.iter().zip(&mut self.states) {
            if grp.filter.as_ref().is_none_or(|f| f.matches(values)) {
                st.add(&grp.layout, event_ts, created_ts, values);
            }
        }
    }

    /// Adds the events of `other`.
    pub fn merge(&mut self, g: &Groups, other: &Tile) {
        for ((grp, a), b) in g.groups.iter().zip(&mut self.states).zip(&other.states) {
            a.merge(&grp.layout, b);
        }
    }

    /// The value of aggregation `i` (`a`), read at `end`.
    pub fn finish(&self, g: &Groups, i: usize, a: &Aggregation, end: i64) -> Value {
        let at = g.of.get(i).copied().unwrap_or(0);
        match (g.groups.get(at), self.states.get(at)) {
            (Some(grp), Some(st)) => st.finish(&grp.layout, a, end),
            _ => Value::Null,
        }
    }

    pub fn encode(&self, g: &Groups, out: &mut Vec<u8>) {
        out.clear();
        if let ([grp], [st]) = (g.groups.as_slice(), self.states.as_slice()) {
            st.encode(&grp.layout, out);
            return;
        }
        out.push(GROUPED);
        let mut one = Vec::new();
        for (grp, st) in g.groups.iter().zip(&self.states) {
            st.encode(&grp.layout, &mut one);
            varint::put(out, one.len() as u64);
            out.extend_from_slice(&one);
        }
    }

    pub fn decode(g: &Groups, buf: &[u8]) -> Result<Tile, DecodeError> {
        if let [grp] = g.groups.as_slice() {
            return Ok(Tile {
                states: vec![State::decode(&grp.layout, buf)?],
            });
        }
        let mut r = Reader::new(buf, "aggregation tile");
        let v = r.u8()?;
        if v != GROUPED {
            return Err(r.invalid(format!(
                "a tile of {} filter groups has version {v}, not {GROUPED}",
                g.groups.len()
            )));
        }
        let mut states = Vec::with_capacity(g.groups.len());
        for grp in &g.groups {
            let n = r.len(buf.len())?;
            states.push(State::decode(&grp.layout, r.bytes(n)?)?);
        }
        if !r.is_empty() {
            return Err(r.invalid("trailing bytes after the tile"));
        }
        Ok(Tile { states })
    }
}
