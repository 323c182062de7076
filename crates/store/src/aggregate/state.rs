//! The partial aggregate of a set of events: what a tile stores and what a
//! window read combines.
//!
//! A [`State`] keeps, for one key, the number of events, the identity
//! `(event_ts, created_ts)` of the newest, and per aggregated column only
//! what its functions need ([`Needs`]): the count of non-null values, sum,
//! mean and M2 (Welford; states merge with Chan's formula), min and max,
//! the newest event's value, a distinct-count sketch, a quantile sketch.
//! Merging two states gives the state of the union of their events.
//!
//! Encoding (a tile's row in the engine), fields present per the layout,
//! integers little-endian unless varint:
//! ```text
//! state  = version: u8 (1) | events: varint | has_last: u8 | [event_ts: i64 | created_ts: i64]
//!          | column*        (one per layout column, in layout order)
//! column = count: varint
//!          | [sum: f64 | mean: f64 | m2: f64]      if moments
//!          | [min: f64 | max: f64]                 if min/max
//!          | [len: varint | one-field row]         if last (the newest event's value)
//!          | [distinct sketch]                     if count_distinct
//!          | [quantile sketch]                     if percentiles
//!          | [has: u8 | [event_ts: i64 | created_ts: i64 | len: varint | one-field row]]
//!                                                  if first (the oldest event's value)
//!          | [set]                                 if count_distinct_exact, collect_set, histogram
//!          | [ranked]  [ranked]                    if first_k; if last_k
//!          | [sorted]  [sorted]                    if top_k; if bottom_k
//! ```
//!
//! (`set`, `ranked`, `sorted`: see [`super::collect`]. A layout without
//! the functions that need them encodes as before they existed.)

use super::collect::{self, Extremes, Item, Ranked, ValueSet};
use super::numeric;
use super::sketch::{Distinct, Quantiles};
use crate::catalog::aggregation::{Aggregation, Function};
use strata_format::error::{DecodeError, Reader};
use strata_format::row;
use strata_format::schema::{FeatureType, Value};
use strata_format::varint;

pub(super) const VERSION: u8 = 1;

/// What the functions over one column need kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    pub moments: bool,
    pub min_max: bool,
    pub last: bool,
    pub distinct: bool,
    pub quantiles: bool,
    pub first: bool,
    /// How many distinct values to keep (0: no set).
    pub set_cap: u32,
    /// How many oldest, newest, largest, smallest values to keep.
    pub oldest_k: u32,
    pub newest_k: u32,
    pub largest_k: u32,
    pub smallest_k: u32,
}

/// The columns a view aggregates and what each needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// `(source column index, its type, needs)`, by column index.
    pub columns: Vec<(usize, FeatureType, Needs)>,
}

impl Layout {
    pub fn new(aggs: &[Aggregation], source_schema: &[FeatureType]) -> Layout {
        let mut columns: Vec<(usize, FeatureType, Needs)> = Vec::new();
        for a in aggs {
            let Some(c) = a.column else { continue };
            let at = match columns.iter().position(|x| x.0 == c) {
                Some(i) => i,
                None => {
                    columns.push((c, source_schema[c], Needs::default()));
                    columns.len() - 1
                }
            };
            let n = &mut columns[at].2;
            match a.function {
                Function::Count | Function::AgeOfLast => {}
                Function::Sum | Function::Mean | Function::Stddev => n.moments = true,
                Function::Min | Function::Max => n.min_max = true,
                Function::Last => n.last = true,
                Function::CountDistinct => n.distinct = true,
                Function::Percentile(_) | Function::Quantile(_) => n.quantiles = true,
                Function::First => n.first = true,
                Function::Variance => n.moments = true,
                Function::CountDistinctExact { limit }
                | Function::CollectSet { limit }
                | Function::Histogram { limit, .. } => n.set_cap = n.set_cap.max(limit),
                Function::FirstK(k) => n.oldest_k = n.oldest_k.max(k),
                Function::LastK(k) => n.newest_k = n.newest_k.max(k),
                Function::TopK(k) => n.largest_k = n.largest_k.max(k),
                Function::BottomK(k) => n.smallest_k = n.smallest_k.max(k),
            }
        }
        columns.sort_by_key(|c| c.0);
        Layout { columns }
    }

    /// Position of source column `c` in the layout.
    pub fn position(&self, c: usize) -> Option<usize> {
        self.columns.iter().position(|x| x.0 == c)
    }
}

/// The partial aggregate of one column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub count: u64,
    pub sum: f64,
    pub mean: f64,
    pub m2: f64,
    pub min: f64,
    pub max: f64,
    /// The value of the state's newest event (null if none or null).
    pub last: Value,
    pub distinct: Distinct,
    pub quantiles: Quantiles,
    /// `(event_ts, created_ts)` of the oldest event and its value.
    pub first: Option<((i64, i64), Value)>,
    pub set: ValueSet,
    pub oldest: Ranked,
    pub newest: Ranked,
    pub largest: Extremes,
    pub smallest: Extremes,
}

impl Default for Column {
    fn default() -> Self {
        Column {
            count: 0,
            sum: 0.0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            last: Value::Null,
            distinct: Distinct::default(),
            quantiles: Quantiles::default(),
            first: None,
            set: ValueSet::default(),
            oldest: Ranked::default(),
            newest: Ranked::default(),
            largest: Extremes::default(),
            smallest: Extremes::default(),
        }
    }
}

/// The partial aggregate of a set of events of one key.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct State {
    pub events: u64,
    /// `(event_ts, created_ts)` of the newest event.
    pub last: Option<(i64, i64)>,
    /// One per layout column.
    pub columns: Vec<Column>,
}

/// A stable 64-bit hash of a value, for distinct counts.
fn value_hash(v: &Value) -> u64 {
    use xxhash_rust::xxh3::xxh3_64_with_seed as h;
    match v {
        Value::Null => 0,
        Value::Int64(x) | Value::Timestamp(x) => h(&x.to_le_bytes(), 1),
        Value::Float64(x) => h(&x.to_bits().to_le_bytes(), 2),
        Value::Float32(x) => h(&x.to_bits().to_le_bytes(), 3),
        Value::Bool(x) => h(&[u8::from(*x)], 4),
        Value::String(s) => h(s.as_bytes(), 5),
        Value::Bytes(b) => h(b, 6),
        Value::ListFloat32(_)
        | Value::ListString(_)
        | Value::ListInt64(_)
        | Value::ListFloat64(_)
        | Value::MapStringInt64(_)
        | Value::MapStringFloat64(_) => {
            let mut bytes = Vec::new();
            // A too-long value hashes its prefix: still a stable hash.
            let _ = strata_format::collection::put_collection(&mut bytes, v);
            h(&bytes, 7 + v.feature_type().map_or(0, |t| t as u64))
        }
    }
}

impl State {
    pub fn new(layout: &Layout) -> State {
        State {
            events: 0,
            last: None,
            columns: vec![Column::default(); layout.columns.len()],
        }
    }

    /// Adds one event: its identity and its row's values (the source schema).
    pub fn add(&mut self, layout: &Layout, event_ts: i64, created_ts: i64, values: &[Value]) {
        self.events = self.events.saturating_add(1);
        let newest = self.last.is_none_or(|l| (event_ts, created_ts) > l);
        if newest {
            self.last = Some((event_ts, created_ts));
        }
        for ((c, _, needs), col) in layout.columns.iter().zip(&mut self.columns) {
            let v = values.get(*c).unwrap_or(&Value::Null);
            if needs.last && newest {
                col.last = v.clone();
            }
            let at = (event_ts, created_ts);
            if needs.first && col.first.as_ref().is_none_or(|f| at < f.0) {
                col.first = Some((at, v.clone()));
            }
            if v.is_null() {
                continue;
            }
            col.count = col.count.saturating_add(1);
            if needs.distinct {
                col.distinct.add_hash(value_hash(v));
            }
            if let Some(item) = collecting(needs).then(|| Item::of(v)).flatten() {
                add_item(&mut *col, needs, at, item);
            }
            let Some(x) = v.as_number() else { continue };
            if needs.moments {
                col.sum += x;
                let delta = x - col.mean;
                col.mean += delta / col.count as f64;
                col.m2 += delta * (x - col.mean);
            }
            if needs.min_max {
                col.min = col.min.min(x);
                col.max = col.max.max(x);
            }
            if needs.quantiles {
                col.quantiles.add(x);
            }
        }
    }

    /// Adds the events of `other` (same layout).
    pub fn merge(&mut self, layout: &Layout, other: &State) {
        if other.events == 0 {
            return;
        }
        self.events = self.events.saturating_add(other.events);
        let newer = match (self.last, other.last) {
            (None, o) => o.is_some(),
            (Some(a), Some(b)) => b > a,
            (Some(_), None) => false,
        };
        if newer {
            self.last = other.last;
        }
        for ((_, _, needs), (a, b)) in layout
            .columns
            .iter()
            .zip(self.columns.iter_mut().zip(&other.columns))
        {
            if needs.last && newer {
                a.last = b.last.clone();
            }
            if let Some(bf) = &b.first
                && a.first.as_ref().is_none_or(|af| bf.0 < af.0)
            {
                a.first = Some(bf.clone());
            }
            if b.count == 0 {
                continue;
            }
            merge_items(a, b, needs);
            numeric::merge_numbers(a, needs, &numeric::Numbers::of(b));
            if needs.distinct {
                a.distinct.merge(&b.distinct);
            }
            if needs.quantiles {
                a.quantiles.merge(&b.quantiles);
            }
        }
    }

    /// The value of aggregation `a` over this state's events, read at
    /// `end` (for `age_of_last`).
    pub fn finish(&self, layout: &Layout, a: &Aggregation, end: i64) -> Value {
        let col = a
            .column
            .and_then(|c| layout.position(c))
            .map(|i| &self.columns[i]);
        let float = |ok: bool, x: f64| if ok { Value::Float64(x) } else { Value::Null };
        match (a.function, col) {
            (Function::Count, None) => Value::Int64(self.events as i64),
            (Function::Count, Some(c)) => Value::Int64(c.count as i64),
            (Function::AgeOfLast, _) => self
                .last
                .map_or(Value::Null, |(t, _)| Value::Int64(end.saturating_sub(t))),
            (_, None) => Value::Null,
            (Function::Sum, Some(c)) => float(c.count > 0, c.sum),
            (Function::Mean, Some(c)) => float(c.count > 0, c.sum / c.count as f64),
            (Function::Min, Some(c)) => float(c.count > 0, c.min),
            (Function::Max, Some(c)) => float(c.count > 0, c.max),
            (Function::Stddev, Some(c)) => float(
                c.count > 1,
                (c.m2.max(0.0) / c.count.saturating_sub(1).max(1) as f64).sqrt(),
            ),
            (Function::Last, Some(c)) => c.last.clone(),
            (Function::CountDistinct, Some(c)) => Value::Int64(c.distinct.estimate() as i64),
            (Function::Percentile(p), Some(c)) => c
                .quantiles
                .quantile(f64::from(p) / 100.0)
                .map_or(Value::Null, Value::Float64),
            (Function::First, Some(c)) => c.first.as_ref().map_or(Value::Null, |f| f.1.clone()),
            (Function::Variance, Some(c)) => float(
                c.count > 1,
                c.m2.max(0.0) / c.count.saturating_sub(1).max(1) as f64,
            ),
            (Function::Quantile(q), Some(c)) => c
                .quantiles
                .quantile(f64::from(q) / 10_000.0)
                .map_or(Value::Null, Value::Float64),
            (f, Some(c)) => {
                let ty = a
                    .column
                    .and_then(|i| layout.columns.iter().find(|x| x.0 == i));
                finish_items(f, c, ty.is_some_and(|x| x.1 == FeatureType::Bool))
            }
        }
    }

    pub fn encode(&self, layout: &Layout, out: &mut Vec<u8>) {
        out.clear();
        out.push(VERSION);
        varint::put(out, self.events);
        match self.last {
            None => out.push(0),
            Some((e, c)) => {
                out.push(1);
                out.extend_from_slice(&e.to_le_bytes());
                out.extend_from_slice(&c.to_le_bytes());
            }
        }
        let mut one = Vec::new();
        for ((_, ty, needs), col) in layout.columns.iter().zip(&self.columns) {
            varint::put(out, col.count);
            if needs.moments {
                for x in [col.sum, col.mean, col.m2] {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
            if needs.min_max {
                out.extend_from_slice(&col.min.to_le_bytes());
                out.extend_from_slice(&col.max.to_le_bytes());
            }
            if needs.last {
                // A value of the column's own type always encodes.
                let _ = row::encode_row(&[*ty], std::slice::from_ref(&col.last), &mut one);
                varint::put(out, one.len() as u64);
                out.extend_from_slice(&one);
            }
            if needs.distinct {
                col.distinct.encode(out);
            }
            if needs.quantiles {
                col.quantiles.encode(out);
            }
            if needs.first {
                match &col.first {
                    None => out.push(0),
                    Some(((e, c), v)) => {
                        out.push(1);
                        out.extend_from_slice(&e.to_le_bytes());
                        out.extend_from_slice(&c.to_le_bytes());
                        let _ = row::encode_row(&[*ty], std::slice::from_ref(v), &mut one);
                        varint::put(out, one.len() as u64);
                        out.extend_from_slice(&one);
                    }
                }
            }
            encode_items(col, needs, out);
        }
    }

    pub fn decode(layout: &Layout, buf: &[u8]) -> Result<State, DecodeError> {
        let mut r = Reader::new(buf, "aggregation tile");
        let v = r.u8()?;
        if v != VERSION {
            return Err(r.invalid(format!("unknown tile version {v}")));
        }
        let events = r.varint()?;
        let last = match r.u8()? {
            0 => None,
            1 => Some((r.i64()?, r.i64()?)),
            k => return Err(r.invalid(format!("bad last flag {k}"))),
        };
        let f64_ = |r: &mut Reader<'_>| r.u64().map(f64::from_bits);
        let mut columns = Vec::with_capacity(layout.columns.len());
        for (_, ty, needs) in &layout.columns {
            let mut c = Column {
                count: r.varint()?,
                ..Column::default()
            };
            if needs.moments {
                c.sum = f64_(&mut r)?;
                c.mean = f64_(&mut r)?;
                c.m2 = f64_(&mut r)?;
            }
            if needs.min_max {
                c.min = f64_(&mut r)?;
                c.max = f64_(&mut r)?;
            }
            if needs.last {
                let n = r.len(row::MAX_FIELD_LEN)?;
                let bytes = r.bytes(n)?;
                c.last = row::decode_row(&[*ty], bytes)?.pop().unwrap_or(Value::Null);
            }
            if needs.distinct {
                c.distinct = Distinct::decode(&mut r)?;
            }
            if needs.quantiles {
                c.quantiles = Quantiles::decode(&mut r)?;
            }
            if needs.first {
                c.first = match r.u8()? {
                    0 => None,
                    1 => {
                        let at = (r.i64()?, r.i64()?);
                        let n = r.len(row::MAX_FIELD_LEN)?;
                        let bytes = r.bytes(n)?;
                        let v = row::decode_row(&[*ty], bytes)?.pop().unwrap_or(Value::Null);
                        Some((at, v))
                    }
                    k => return Err(r.invalid(format!("bad first flag {k}"))),
                };
            }
            decode_items(&mut c, needs, &mut r)?;
            columns.push(c);
        }
        if !r.is_empty() {
            return Err(r.invalid("trailing bytes after the tile"));
        }
        Ok(State {
            events,
            last,
            columns,
        })
    }
}

/// Whether a column keeps any of [`collect`]'s partials.
fn collecting(n: &Needs) -> bool {
    n.set_cap > 0 || n.oldest_k > 0 || n.newest_k > 0 || n.largest_k > 0 || n.smallest_k > 0
}

fn add_item(col: &mut Column, n: &Needs, at: (i64, i64), item: Item) {
    if n.oldest_k > 0 {
        col.oldest.add(at, item.clone(), n.oldest_k as usize, false);
    }
    if n.newest_k > 0 {
        col.newest.add(at, item.clone(), n.newest_k as usize, true);
    }
    if n.largest_k > 0 {
        col.largest.add(item.clone(), n.largest_k as usize, true);
    }
    if n.smallest_k > 0 {
        col.smallest.add(item.clone(), n.smallest_k as usize, false);
    }
    if n.set_cap > 0 {
        col.set.add(item, n.set_cap as usize);
    }
}

fn merge_items(a: &mut Column, b: &Column, n: &Needs) {
    if n.set_cap > 0 {
        a.set.merge(&b.set, n.set_cap as usize);
    }
    if n.oldest_k > 0 {
        a.oldest.merge(&b.oldest, n.oldest_k as usize, false);
    }
    if n.newest_k > 0 {
        a.newest.merge(&b.newest, n.newest_k as usize, true);
    }
    if n.largest_k > 0 {
        a.largest.merge(&b.largest, n.largest_k as usize, true);
    }
    if n.smallest_k > 0 {
        a.smallest.merge(&b.smallest, n.smallest_k as usize, false);
    }
}

/// The value of a collecting function over a column's partial.
fn finish_items(f: Function, c: &Column, bools: bool) -> Value {
    let take = |k: u32| k as usize;
    match f {
        Function::CountDistinctExact { limit } => c
            .set
            .exact_len(limit as usize)
            .map_or(Value::Null, |n| Value::Int64(n as i64)),
        Function::CollectSet { limit } => {
            collect::list_value(c.set.entries.iter().take(take(limit)).map(|e| &e.0))
        }
        Function::Histogram { k, limit } => match c.set.exact_len(limit as usize) {
            Some(n) if n > 0 => collect::histogram(&c.set, take(k), bools),
            _ => Value::Null,
        },
        Function::FirstK(k) => collect::list_value(c.oldest.0.iter().take(take(k)).map(|e| &e.2)),
        Function::LastK(k) => collect::list_value(c.newest.0.iter().take(take(k)).map(|e| &e.2)),
        Function::TopK(k) => collect::list_value(c.largest.0.iter().take(take(k))),
        Function::BottomK(k) => collect::list_value(c.smallest.0.iter().take(take(k))),
        _ => Value::Null,
    }
}

fn encode_items(col: &Column, n: &Needs, out: &mut Vec<u8>) {
    if n.set_cap > 0 {
        col.set.encode(out);
    }
    if n.oldest_k > 0 {
        col.oldest.encode(out);
    }
    if n.newest_k > 0 {
        col.newest.encode(out);
    }
    if n.largest_k > 0 {
        col.largest.encode(out);
    }
    if n.smallest_k > 0 {
        col.smallest.encode(out);
    }
}

fn decode_items(c: &mut Column, n: &Needs, r: &mut Reader<'_>) -> Result<(), DecodeError> {
    if n.set_cap > 0 {
        c.set = ValueSet::decode(r)?;
    }
    if n.oldest_k > 0 {
        c.oldest = Ranked::decode(r)?;
    }
    if n.newest_k > 0 {
        c.newest = Ranked::decode(r)?;
    }
    if n.largest_k > 0 {
        c.largest = Extremes::decode(r)?;
    }
    if n.smallest_k > 0 {
        c.smallest = Extremes::decode(r)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> (Vec<Aggregation>, Layout) {
        let f = |function, column| Aggregation {
            feature: String::new(),
            function,
            column,
            window: 10,
            slide: 0,
            filter: None,
            bucket: None,
        };
        let aggs = vec![
            f(Function::Count, None),
            f(Function::Mean, Some(0)),
            f(Function::Stddev, Some(0)),
            f(Function::Max, Some(0)),
            f(Function::Last, Some(1)),
            f(Function::CountDistinct, Some(1)),
            f(Function::Percentile(50), Some(0)),
        ];
        let l = Layout::new(&aggs, &[FeatureType::Int64, FeatureType::String]);
        (aggs, l)
    }

    #[test]
    fn split_states_merge_to_the_whole_and_round_trip() {
        let (aggs, l) = layout();
        let events: Vec<(i64, [Value; 2])> = (0..40)
            .map(|i| {
                let v = if i % 7 == 0 {
                    Value::Null
                } else {
                    Value::Int64((i * 37) % 11)
                };
                (i, [v, Value::String(format!("s{}", i % 5))])
            })
            .collect();
        let mut whole = State::new(&l);
        let (mut a, mut b) = (State::new(&l), State::new(&l));
        for (i, (t, vals)) in events.iter().enumerate() {
            whole.add(&l, *t, 0, vals);
            if i % 3 == 0 { &mut a } else { &mut b }.add(&l, *t, 0, vals);
        }
        let mut buf = Vec::new();
        b.encode(&l, &mut buf);
        let b = State::decode(&l, &buf).unwrap();
        a.merge(&l, &b);
        for agg in &aggs {
            let (x, y) = (a.finish(&l, agg, 50), whole.finish(&l, agg, 50));
            match (&x, &y) {
                (Value::Float64(p), Value::Float64(q)) => assert!((p - q).abs() < 1e-9),
                _ => assert_eq!(x, y, "{:?}", agg.function),
            }
        }
        assert_eq!(a.finish(&l, &aggs[0], 50), Value::Int64(40));
        assert_eq!(a.finish(&l, &aggs[4], 50), Value::String("s4".into()));
        buf.push(0);
        assert!(State::decode(&l, &buf).is_err(), "trailing bytes");
    }

    #[test]
    fn huge_counts_saturate() {
        let (aggs, l) = layout();
        let mut s = State::new(&l);
        s.add(&l, 1, 1, &[Value::Int64(1), Value::Null]);
        s.events = u64::MAX;
        s.columns[0].count = u64::MAX;
        let copy = s.clone();
        s.merge(&l, &copy);
        assert_eq!(s.events, u64::MAX);
        for a in &aggs {
            let _ = s.finish(&l, a, 0);
        }
    }
}
