//! Session reads: the features of a session view ([`crate::catalog::session`])
//! computed at read time from the source's stored events.
//!
//! A read at `t` (with `known_at`, only events created at or before it)
//! finds the newest event at or before `t`, then scans the source's events
//! of the key backwards, in chunks of `8 × session_gap` of `event_ts`,
//! folding each into a [`Summary`] until the next older event is more than
//! `session_gap` before the oldest one taken. Nothing about sessions is
//! stored, so a read is always the answer of the events as they are
//! stored: a late or out-of-order event that fills a gap merges two
//! sessions, a deleted one may split a session, a rewritten one changes its
//! values, and `known_at` sees the sessions as they were then.
//!
//! Cost: one point read, then the session's events plus at most one chunk
//! of older events (the gap that ends the session is inside the last
//! chunk read). Memory: the summary, plus the distinct values of each
//! `count_distinct` feature. A session has no length limit: an entity
//! whose events never pause for `session_gap` has one session, read whole.

use std::collections::HashSet;

use crate::aggregate::Resolved;
use crate::catalog::session::{Function, SessionFeature, Spec};
use strata_engine::{self as engine, Engine};
use strata_format::key::TOMBSTONE_TS;
use strata_format::schema::Value;

/// How many gaps of `event_ts` each backward scan step reads.
const CHUNK_GAPS: i64 = 8;

/// The features of session view `r` (with session spec `s`) for one
/// encoded key, read at `at` (`known_at` ignores events created after it),
/// in feature order; `None` when the key has no event at or before `at`.
pub fn read(
    engine: &Engine,
    r: &Resolved,
    s: &Spec,
    key: &[u8],
    at: i64,
    known_at: Option<i64>,
) -> engine::Result<Option<Vec<Value>>> {
    let at = at.min(TOMBSTONE_TS - 1);
    let Some(newest) = engine.as_of(r.source.id, key, at, known_at)? else {
        return Ok(None);
    };
    let mut sum = Summary::new(s);
    let span = s.gap.saturating_mul(CHUNK_GAPS).max(1);
    let mut oldest = newest.event_ts;
    let mut hi = newest.event_ts;
    loop {
        let lo = oldest.saturating_sub(span);
        let mut ended = false;
        for v in engine.history(r.source.id, key, lo, hi, known_at)? {
            if oldest.saturating_sub(v.event_ts) > s.gap {
                ended = true;
                break;
            }
            oldest = v.event_ts;
            let values = r.event_values(&v.row)?;
            sum.add(s, v.event_ts, v.created_ts, &values);
        }
        // The next older event is at most `lo − 1`: it continues the
        // session only if `oldest − (lo − 1) <= gap`.
        if ended || lo == i64::MIN || oldest.saturating_sub(lo) >= s.gap {
            break;
        }
        hi = lo - 1;
    }
    Ok(Some(sum.finish(s, at)))
}

/// A session's events folded: what every feature needs.
#[derive(Debug, Clone)]
pub struct Summary {
    events: i64,
    /// `(event_ts, created_ts)` of the oldest and newest event.
    start: (i64, i64),
    end: (i64, i64),
    per_feature: Vec<Acc>,
}

/// The running value of one feature.
#[derive(Debug, Clone)]
enum Acc {
    /// Events, or non-null values of a column.
    Count(i64),
    Distinct(HashSet<DistinctKey>),
    /// The value of the oldest / newest event so far (that the feature's
    /// filter matched), and that event's `(event_ts, created_ts)`.
    Edge(Option<(i64, i64)>, Value),
    /// Non-null numbers: count, sum, min, max.
    Numbers {
        n: u64,
        sum: f64,
        min: f64,
        max: f64,
    },
    /// Computed from the session's bounds.
    Bounds,
}

/// A value as a distinct count compares it: floats by bits (with −0 as 0
/// and every NaN one value).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum DistinctKey {
    Int(i64),
    Float(u64),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
    Floats(Vec<u32>),
    Texts(Vec<String>),
    Ints(Vec<i64>),
    Doubles(Vec<u64>),
    Counts(Vec<(String, i64)>),
    Amounts(Vec<(String, u64)>),
}

fn float_bits(x: f64) -> u64 {
    if x == 0.0 {
        0
    } else if x.is_nan() {
        f64::NAN.to_bits()
    } else {
        x.to_bits()
    }
}

fn distinct_key(v: &Value) -> Option<DistinctKey> {
    Some(match v {
        Value::Null => return None,
        Value::Int64(x) | Value::Timestamp(x) => DistinctKey::Int(*x),
        Value::Float64(x) => DistinctKey::Float(float_bits(*x)),
        Value::Float32(x) => DistinctKey::Float(float_bits(f64::from(*x))),
        Value::Bool(b) => DistinctKey::Bool(*b),
        Value::String(s) => DistinctKey::Text(s.clone()),
        Value::Bytes(b) => DistinctKey::Bytes(b.clone()),
        Value::ListFloat32(l) => DistinctKey::Floats(
            l.iter()
                .map(|x| match x {
                    0.0 => 0,
                    x if x.is_nan() => f32::NAN.to_bits(),
                    x => x.to_bits(),
                })
                .collect(),
        ),
        Value::ListString(l) => DistinctKey::Texts(l.clone()),
        Value::ListInt64(l) => DistinctKey::Ints(l.clone()),
        Value::ListFloat64(l) => DistinctKey::Doubles(l.iter().map(|x| float_bits(*x)).collect()),
        Value::MapStringInt64(m) => DistinctKey::Counts(m.clone()),
        Value::MapStringFloat64(m) => {
            DistinctKey::Amounts(m.iter().map(|(k, x)| (k.clone(), float_bits(*x))).collect())
        }
    })
}

impl Summary {
    /// The summary of no events.
    pub fn new(s: &Spec) -> Summary {
        let per_feature = s
            .features
            .iter()
            .map(|f| match f.function {
                Function::Count => Acc::Count(0),
                Function::CountDistinct => Acc::Distinct(HashSet::new()),
                Function::First | Function::Last => Acc::Edge(None, Value::Null),
                Function::Min | Function::Max | Function::Sum | Function::Mean => Acc::Numbers {
                    n: 0,
                    sum: 0.0,
                    min: f64::INFINITY,
                    max: f64::NEG_INFINITY,
                },
                Function::SessionStart
                | Function::SessionEnd
                | Function::Duration
                | Function::IsOpen => Acc::Bounds,
            })
            .collect();
        Summary {
            events: 0,
            start: (i64::MAX, i64::MAX),
            end: (i64::MIN, i64::MIN),
            per_feature,
        }
    }

    /// Adds one event of the session (in any order) with its decoded values
    /// (the source's schema).
    pub fn add(&mut self, s: &Spec, event_ts: i64, created_ts: i64, values: &[Value]) {
        let id = (event_ts, created_ts);
        let (older, newer) = (id < self.start, id > self.end);
        self.events += 1;
        for (f, acc) in s.features.iter().zip(&mut self.per_feature) {
            if f.filter.as_ref().is_some_and(|w| !w.matches(values)) {
                continue;
            }
            let v = f.column.and_then(|c| values.get(c)).unwrap_or(&Value::Null);
            match acc {
                Acc::Count(n) => {
                    if f.column.is_none() || !v.is_null() {
                        *n += 1;
                    }
                }
                Acc::Distinct(set) => {
                    if let Some(k) = distinct_key(v) {
                        set.insert(k);
                    }
                }
                Acc::Edge(at, e) => {
                    let take = match (*at, f.function) {
                        (None, _) => true,
                        (Some(a), Function::First) => id < a,
                        (Some(a), _) => id > a,
                    };
                    if take {
                        *at = Some(id);
                        *e = v.clone();
                    }
                }
                Acc::Numbers { n, sum, min, max } => {
                    if let Some(x) = v.as_number() {
                        *n += 1;
                        *sum += x;
                        *min = min.min(x);
                        *max = max.max(x);
                    }
                }
                Acc::Bounds => {}
            }
        }
        if older {
            self.start = id;
        }
        if newer {
            self.end = id;
        }
    }

    /// The features of the session, read at `at`, in feature order; null
    /// for every feature when no event was added.
    pub fn finish(&self, s: &Spec, at: i64) -> Vec<Value> {
        s.features
            .iter()
            .zip(&self.per_feature)
            .map(|(f, acc)| self.value(s, f, acc, at))
            .collect()
    }

    fn value(&self, s: &Spec, f: &SessionFeature, acc: &Acc, at: i64) -> Value {
        if self.events == 0 {
            return Value::Null;
        }
        let (start, end) = (self.start.0, self.end.0);
        match (acc, f.function) {
            (Acc::Count(n), _) => Value::Int64(*n),
            (Acc::Distinct(set), _) => Value::Int64(set.len() as i64),
            (Acc::Edge(_, v), _) => v.clone(),
            (Acc::Numbers { n: 0, .. }, _) => Value::Null,
            (Acc::Numbers { min, .. }, Function::Min) => Value::Float64(*min),
            (Acc::Numbers { max, .. }, Function::Max) => Value::Float64(*max),
            (Acc::Numbers { sum, .. }, Function::Sum) => Value::Float64(*sum),
            (Acc::Numbers { n, sum, .. }, _) => Value::Float64(*sum / *n as f64),
            (Acc::Bounds, Function::SessionStart) => Value::Timestamp(start),
            (Acc::Bounds, Function::SessionEnd) => Value::Timestamp(end),
            (Acc::Bounds, Function::Duration) => Value::Int64(end.saturating_sub(start)),
            (Acc::Bounds, _) => Value::Bool(at.saturating_sub(end) <= s.gap),
        }
    }
}

#[cfg(test)]
mod tests;
