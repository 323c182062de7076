//! The partial aggregate of a set of events: what a tile stores and what a
//! window read combines.
//!
//! A [`State`] keeps, for one key, the number of events, the identity
//! `(event_ts, created_ts)` of the newest, and per aggregated column only
//! what its functions need ([`super::layout::Needs`]): the count of
//! non-null values, sum, mean and M2 (Welford; states merge with Chan's
//! formula), min and max, the newest event's value, a distinct-count
//! sketch, a quantile sketch.
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
//!
//! What a state keeps is its [`Layout`]; the parts of a column live with
//! their family: the numbers in [`super::numeric`], the sketches in
//! [`super::sketch`], the collected values in
//! `collected.rs` (over [`super::collect`]'s partials).

use super::collect::{Extremes, Item, Ranked, ValueSet};
use super::collected::{
    add_item, collecting, decode_items, encode_items, finish_items, merge_items,
};
use super::layout::Layout;
use super::numeric::Numbers;
use super::sketch::{Distinct, Quantiles};
use crate::catalog::aggregation::{Aggregation, Function};
use strata_format::error::{DecodeError, Reader};
use strata_format::row;
use strata_format::schema::{FeatureType, Value};
use strata_format::varint;

pub(super) const VERSION: u8 = 1;

/// What a [`Reader`] of a state's encoding is reading.
pub(super) const WHAT: &str = "aggregation tile";

/// The partial aggregate of one column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The count of non-null values, the moments and the extremes.
    pub numbers: Numbers,
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
            numbers: Numbers::default(),
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
    /// The state of no event.
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
            col.numbers.count = col.numbers.count.saturating_add(1);
            if needs.distinct {
                col.distinct.add_hash(value_hash(v));
            }
            if let Some(item) = collecting(needs).then(|| Item::of(v)).flatten() {
                add_item(&mut *col, needs, at, item);
            }
            let Some(x) = v.as_number() else { continue };
            col.numbers.add(needs, x);
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
        let newer = self.merge_head(other.events, other.last);
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
            if b.numbers.count == 0 {
                continue;
            }
            merge_items(a, b, needs);
            a.numbers.merge(needs, &b.numbers);
            if needs.distinct {
                a.distinct.merge(&b.distinct);
            }
            if needs.quantiles {
                a.quantiles.merge(&b.quantiles);
            }
        }
    }

    /// Adds `events` (> 0) events whose newest is `last` to the count and
    /// the newest; whether `last` is newer than this state's.
    pub(super) fn merge_head(&mut self, events: u64, last: Option<(i64, i64)>) -> bool {
        self.events = self.events.saturating_add(events);
        let newer = match (self.last, last) {
            (None, o) => o.is_some(),
            (Some(a), Some(b)) => b > a,
            (Some(_), None) => false,
        };
        if newer {
            self.last = last;
        }
        newer
    }

    /// The value of aggregation `a` over this state's events, read at
    /// `end` (for `age_of_last`).
    pub fn finish(&self, layout: &Layout, a: &Aggregation, end: i64) -> Value {
        let col = a
            .column
            .and_then(|c| layout.position(c))
            .map(|i| &self.columns[i]);
        let float = |ok: bool, x: f64| if ok { Value::Float64(x) } else { Value::Null };
        match (a.function, col.map(|c| (c, &c.numbers))) {
            (Function::Count, None) => Value::Int64(self.events as i64),
            (Function::Count, Some((_, n))) => Value::Int64(n.count as i64),
            (Function::AgeOfLast, _) => self
                .last
                .map_or(Value::Null, |(t, _)| Value::Int64(end.saturating_sub(t))),
            (_, None) => Value::Null,
            (Function::Sum, Some((_, n))) => float(n.count > 0, n.sum),
            (Function::Mean, Some((_, n))) => float(n.count > 0, n.sum / n.count as f64),
            (Function::Min, Some((_, n))) => float(n.count > 0, n.min),
            (Function::Max, Some((_, n))) => float(n.count > 0, n.max),
            (Function::Stddev, Some((_, n))) => float(
                n.count > 1,
                (n.m2.max(0.0) / n.count.saturating_sub(1).max(1) as f64).sqrt(),
            ),
            (Function::Last, Some((c, _))) => c.last.clone(),
            (Function::CountDistinct, Some((c, _))) => Value::Int64(c.distinct.estimate() as i64),
            (Function::Percentile(p), Some((c, _))) => c
                .quantiles
                .quantile(f64::from(p) / 100.0)
                .map_or(Value::Null, Value::Float64),
            (Function::First, Some((c, _))) => {
                c.first.as_ref().map_or(Value::Null, |f| f.1.clone())
            }
            (Function::Variance, Some((_, n))) => float(
                n.count > 1,
                n.m2.max(0.0) / n.count.saturating_sub(1).max(1) as f64,
            ),
            (Function::Quantile(q), Some((c, _))) => c
                .quantiles
                .quantile(f64::from(q) / 10_000.0)
                .map_or(Value::Null, Value::Float64),
            (f, Some((c, _))) => {
                let ty = a
                    .column
                    .and_then(|i| layout.columns.iter().find(|x| x.0 == i));
                finish_items(f, c, ty.is_some_and(|x| x.1 == FeatureType::Bool))
            }
        }
    }

    /// Writes this state's encoding (module docs) to `out`, cleared first.
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
            col.numbers.encode(needs, out);
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

    /// Reads what [`State::encode`] writes with the same layout.
    pub fn decode(layout: &Layout, buf: &[u8]) -> Result<State, DecodeError> {
        let mut r = Reader::new(buf, WHAT);
        let (events, last) = decode_head(&mut r)?;
        let mut columns = Vec::with_capacity(layout.columns.len());
        for (_, ty, needs) in &layout.columns {
            let mut c = Column {
                numbers: Numbers::decode(needs, &mut r)?,
                ..Column::default()
            };
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
        expect_end(&r, "the tile")?;
        Ok(State {
            events,
            last,
            columns,
        })
    }
}

/// Reads a state's version, event count and newest event identity.
pub(super) fn decode_head(r: &mut Reader<'_>) -> Result<(u64, Option<(i64, i64)>), DecodeError> {
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
    Ok((events, last))
}

/// An error unless `r` has read all its bytes (`what` names what they
/// encode).
pub(super) fn expect_end(r: &Reader<'_>, what: &str) -> Result<(), DecodeError> {
    if r.is_empty() {
        return Ok(());
    }
    Err(r.invalid(format!("trailing bytes after {what}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::fixture::aggregation;

    fn layout() -> (Vec<Aggregation>, Layout) {
        let f = |function, column| aggregation(function, column, None);
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
        s.columns[0].numbers.count = u64::MAX;
        let copy = s.clone();
        s.merge(&l, &copy);
        assert_eq!(s.events, u64::MAX);
        for a in &aggs {
            let _ = s.finish(&l, a, 0);
        }
    }
}
