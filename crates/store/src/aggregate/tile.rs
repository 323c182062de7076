//! Tiles of views with `where` filters or buckets: one partial aggregate
//! per group.
//!
//! The aggregations of a view are grouped by filter and bucket column (the
//! unfiltered, unbucketed ones together, then one group per distinct
//! (`where` text, bucket column), in declaration order); each group has its
//! own [`Layout`] and [`State`] ([`Buckets`] if bucketed), and an event
//! enters a group only if the group's filter matches it. A view with one
//! unbucketed group has a tile that is exactly that group's state encoding
//! (tiles written before filters existed read unchanged).
//!
//! Encoding of any other tile:
//! ```text
//! tile  = 2: u8 | (len: varint | state or buckets)*     one per group, in group order
//! ```
//! (`state` as in [`super::state`], whose version byte is 1; `buckets` as
//! in [`super::bucket`].)

use super::bucket::Buckets;
use super::{Layout, State};
use crate::catalog::aggregation::{Aggregation, Filter};
use strata_format::error::{DecodeError, Reader};
use strata_format::schema::{FeatureType, Value};
use strata_format::varint;

/// The version byte of a tile of several groups.
const GROUPED: u8 = 2;

/// The aggregations sharing one filter and bucket column.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub filter: Option<Filter>,
    /// The bucket column and the most buckets kept (the largest bound of
    /// the group's aggregations).
    pub bucket: Option<(usize, usize)>,
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
        let key = |a: &Aggregation| {
            (
                a.filter.as_ref().map(|f| f.expr.source().to_string()),
                a.bucket.map(|b| b.column),
            )
        };
        let mut keys: Vec<(Option<String>, Option<usize>)> = Vec::new();
        if aggs
            .iter()
            .any(|a| a.filter.is_none() && a.bucket.is_none())
        {
            keys.push((None, None));
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
                let cap = members.iter().filter_map(|a| a.bucket).map(|b| b.limit);
                Group {
                    filter: members.first().and_then(|a| a.filter.clone()),
                    bucket: members
                        .first()
                        .and_then(|a| a.bucket)
                        .map(|b| (b.column, cap.max().unwrap_or(b.limit) as usize)),
                    layout: Layout::new(&members, source_schema),
                }
            })
            .collect();
        Groups { groups, of }
    }
}

/// The partial aggregate of one group.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Whole(State),
    Bucketed(Buckets),
}

impl Part {
    fn new(g: &Group) -> Part {
        match g.bucket {
            None => Part::Whole(State::new(&g.layout)),
            Some(_) => Part::Bucketed(Buckets::default()),
        }
    }

    fn events(&self) -> u64 {
        match self {
            Part::Whole(s) => s.events,
            Part::Bucketed(b) => b.events,
        }
    }
}

/// The partial aggregates of one tile (or window): one per group.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    pub parts: Vec<Part>,
}

impl Tile {
    pub fn new(g: &Groups) -> Tile {
        Tile {
            parts: g.groups.iter().map(Part::new).collect(),
        }
    }

    /// Whether any group holds an event.
    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(|p| p.events() == 0)
    }

    /// Adds one event to the groups whose filter it passes.
    pub fn add(&mut self, g: &Groups, event_ts: i64, created_ts: i64, values: &[Value]) {
        for (grp, part) in g.groups.iter().zip(&mut self.parts) {
            if !grp.filter.as_ref().is_none_or(|f| f.matches(values)) {
                continue;
            }
            match (part, grp.bucket) {
                (Part::Whole(st), _) => st.add(&grp.layout, event_ts, created_ts, values),
                (Part::Bucketed(b), Some((column, cap))) => {
                    let key = values.get(column).unwrap_or(&Value::Null);
                    b.add(&grp.layout, cap, key, (event_ts, created_ts), values);
                }
                (Part::Bucketed(_), None) => {}
            }
        }
    }

    /// Adds the events of `other`.
    pub fn merge(&mut self, g: &Groups, other: &Tile) {
        for ((grp, a), b) in g.groups.iter().zip(&mut self.parts).zip(&other.parts) {
            match (a, b) {
                (Part::Whole(a), Part::Whole(b)) => a.merge(&grp.layout, b),
                (Part::Bucketed(a), Part::Bucketed(b)) => {
                    let cap = grp.bucket.map_or(0, |x| x.1);
                    a.merge(&grp.layout, cap, b);
                }
                _ => {}
            }
        }
    }

    /// Adds the events of the encoded tile `buf`: the same as
    /// [`Tile::decode`] and [`Tile::merge`], but a tile of one unbucketed
    /// group keeping only numbers is merged from its bytes, without
    /// building (allocating) the decoded tile.
    pub fn merge_encoded(&mut self, g: &Groups, buf: &[u8]) -> Result<(), DecodeError> {
        if let ([grp], [Part::Whole(st)]) = (g.groups.as_slice(), self.parts.as_mut_slice())
            && Tile::merges_encoded(g)
        {
            return st.merge_encoded(&grp.layout, buf);
        }
        let other = Tile::decode(g, buf)?;
        self.merge(g, &other);
        Ok(())
    }

    /// Whether [`Tile::merge_encoded`] merges the tiles of `g` from their
    /// bytes (else it decodes them: a caller merging a tile into several
    /// states had better decode it once).
    pub fn merges_encoded(g: &Groups) -> bool {
        matches!(g.groups.as_slice(), [grp @ Group { bucket: None, .. }] if State::merges_encoded(&grp.layout))
    }

    /// The value of aggregation `i` (`a`), read at `end`.
    pub fn finish(&self, g: &Groups, i: usize, a: &Aggregation, end: i64) -> Value {
        let at = g.of.get(i).copied().unwrap_or(0);
        match (g.groups.get(at), self.parts.get(at)) {
            (Some(grp), Some(Part::Whole(st))) => st.finish(&grp.layout, a, end),
            (Some(grp), Some(Part::Bucketed(b))) => {
                let limit = a.bucket.map_or(0, |x| x.limit as usize);
                b.finish(&grp.layout, a, limit, end)
            }
            _ => Value::Null,
        }
    }

    pub fn encode(&self, g: &Groups, out: &mut Vec<u8>) {
        out.clear();
        if let ([grp], [Part::Whole(st)]) = (g.groups.as_slice(), self.parts.as_slice()) {
            st.encode(&grp.layout, out);
            return;
        }
        out.push(GROUPED);
        let mut one = Vec::new();
        for (grp, part) in g.groups.iter().zip(&self.parts) {
            match part {
                Part::Whole(st) => st.encode(&grp.layout, &mut one),
                Part::Bucketed(b) => {
                    one.clear();
                    b.encode(&grp.layout, &mut one);
                }
            }
            varint::put(out, one.len() as u64);
            out.extend_from_slice(&one);
        }
    }

    pub fn decode(g: &Groups, buf: &[u8]) -> Result<Tile, DecodeError> {
        if let [grp @ Group { bucket: None, .. }] = g.groups.as_slice() {
            return Ok(Tile {
                parts: vec![Part::Whole(State::decode(&grp.layout, buf)?)],
            });
        }
        let mut r = Reader::new(buf, "aggregation tile");
        let v = r.u8()?;
        if v != GROUPED {
            return Err(r.invalid(format!(
                "a tile of {} groups has version {v}, not {GROUPED}",
                g.groups.len()
            )));
        }
        let mut parts = Vec::with_capacity(g.groups.len());
        for grp in &g.groups {
            let n = r.len(buf.len())?;
            let bytes = r.bytes(n)?;
            parts.push(match grp.bucket {
                None => Part::Whole(State::decode(&grp.layout, bytes)?),
                Some(_) => Part::Bucketed(Buckets::decode(&grp.layout, bytes)?),
            });
        }
        if !r.is_empty() {
            return Err(r.invalid("trailing bytes after the tile"));
        }
        Ok(Tile { parts })
    }
}
