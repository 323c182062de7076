//! The partial aggregate of a bucketed group: one [`State`] per bucket.
//!
//! A group of bucketed aggregations (same `where`, same bucket column)
//! keeps, per distinct bucket key, the state of the bucket's events, for
//! at most `cap` keys (the largest `buckets` of the group's aggregations):
//! when a new key makes them more, the greatest key is dropped and the
//! state marked `overflow`. The smallest `cap` keys of a union are among
//! the smallest `cap` of its parts, and a key that is kept was never
//! dropped before, so a merge of tiles gives exactly the buckets of the
//! window's events while they are at most `cap`, and `overflow` otherwise:
//! a read returns the map then, and null beyond the bound.
//!
//! Encoding (one group of a tile, see [`super::tile`]):
//! ```text
//! buckets = events: varint | overflow: u8 | count: varint
//!           | (key: varint length, UTF-8 | len: varint | state)*   ascending by key
//! ```
//! (`state` as in [`super::state`], with the group's layout.)

use std::collections::BTreeMap;

use super::{Layout, State};
use crate::catalog::aggregation::{Aggregation, Function};
use crate::catalog::aggregation_bucket as bucket;
use strata_format::error::{DecodeError, Reader};
use strata_format::row::MAX_FIELD_LEN;
use strata_format::schema::Value;
use strata_format::varint;

/// The per-bucket states of one group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Buckets {
    /// Events added (those with a null bucket too).
    pub events: u64,
    /// Whether a key was dropped: the window has more than `cap` buckets.
    pub overflow: bool,
    pub entries: BTreeMap<String, State>,
}

impl Buckets {
    /// Adds one event whose bucket column holds `bucket`.
    pub fn add(
        &mut self,
        layout: &Layout,
        cap: usize,
        bucket: &Value,
        at: (i64, i64),
        values: &[Value],
    ) {
        self.events = self.events.saturating_add(1);
        let Some(key) = bucket::key(bucket) else {
            return;
        };
        self.entries
            .entry(key)
            .or_insert_with(|| State::new(layout))
            .add(layout, at.0, at.1, values);
        self.bound(cap);
    }

    /// Adds the events of `other`.
    pub fn merge(&mut self, layout: &Layout, cap: usize, other: &Buckets) {
        self.events = self.events.saturating_add(other.events);
        self.overflow |= other.overflow;
        for (k, st) in &other.entries {
            match self.entries.get_mut(k) {
                Some(mine) => mine.merge(layout, st),
                None => {
                    self.entries.insert(k.clone(), st.clone());
                }
            }
        }
        self.bound(cap);
    }

    fn bound(&mut self, cap: usize) {
        while self.entries.len() > cap {
            self.entries.pop_last();
            self.overflow = true;
        }
    }

    /// The map of aggregation `a` (bound `limit`) over these buckets, read
    /// at `end`: ascending by key, buckets whose value is null left out;
    /// null when there is no bucket or more than `limit`.
    pub fn finish(&self, layout: &Layout, a: &Aggregation, limit: usize, end: i64) -> Value {
        if self.overflow || self.entries.len() > limit || self.entries.is_empty() {
            return Value::Null;
        }
        let values = self
            .entries
            .iter()
            .map(|(k, st)| (k, st.finish(layout, a, end)));
        if a.function == Function::Count {
            let m: Vec<(String, i64)> = values
                .filter_map(|(k, v)| match v {
                    Value::Int64(n) => Some((k.clone(), n)),
                    _ => None,
                })
                .collect();
            return Value::MapStringInt64(m);
        }
        let m: Vec<(String, f64)> = values
            .filter_map(|(k, v)| {
                let x = match v {
                    Value::Float64(x) => x,
                    Value::Float32(x) => f64::from(x),
                    Value::Int64(x) => x as f64,
                    _ => return None,
                };
                Some((k.clone(), x))
            })
            .collect();
        if m.is_empty() {
            Value::Null
        } else {
            Value::MapStringFloat64(m)
        }
    }

    pub fn encode(&self, layout: &Layout, out: &mut Vec<u8>) {
        varint::put(out, self.events);
        out.push(u8::from(self.overflow));
        varint::put(out, self.entries.len() as u64);
        let mut one = Vec::new();
        for (k, st) in &self.entries {
            varint::put(out, k.len() as u64);
            out.extend_from_slice(k.as_bytes());
            st.encode(layout, &mut one);
            varint::put(out, one.len() as u64);
            out.extend_from_slice(&one);
        }
    }

    pub fn decode(layout: &Layout, buf: &[u8]) -> Result<Buckets, DecodeError> {
        let mut r = Reader::new(buf, "bucketed aggregation tile");
        let events = r.varint()?;
        let overflow = match r.u8()? {
            0 => false,
            1 => true,
            k => return Err(r.invalid(format!("bad overflow flag {k}"))),
        };
        let count = r.len(buf.len())?;
        let mut entries = BTreeMap::new();
        for _ in 0..count {
            let n = r.len(MAX_FIELD_LEN)?;
            let key = std::str::from_utf8(r.bytes(n)?)
                .map_err(|_| r.invalid("bucket key is not UTF-8"))?
                .to_string();
            let n = r.len(buf.len())?;
            let st = State::decode(layout, r.bytes(n)?)?;
            if entries.last_key_value().is_some_and(|(k, _)| *k >= key) {
                return Err(r.invalid(format!("bucket {key:?} out of order")));
            }
            entries.insert(key, st);
        }
        super::state::expect_end(&r, "the buckets")?;
        Ok(Buckets {
            events,
            overflow,
            entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_format::schema::FeatureType;

    fn agg(function: Function, column: Option<usize>) -> Aggregation {
        let by = bucket::Bucket {
            column: 1,
            limit: 3,
        };
        crate::aggregate::fixture::aggregation(function, column, Some(by))
    }

    #[test]
    fn split_buckets_merge_to_the_whole_round_trip_and_bound() {
        let aggs = [
            agg(Function::Sum, Some(0)),
            agg(Function::Count, None),
            agg(Function::Last, Some(0)),
        ];
        let l = Layout::new(&aggs, &[FeatureType::Int64, FeatureType::String]);
        let ev = |i: i64| {
            let b = if i % 5 == 4 {
                Value::Null
            } else {
                Value::String(format!("b{}", i % 3))
            };
            [Value::Int64(i), b]
        };
        let (mut whole, mut a, mut b) =
            (Buckets::default(), Buckets::default(), Buckets::default());
        for i in 0..30 {
            let v = ev(i);
            whole.add(&l, 3, &v[1], (i, 0), &v);
            if i % 2 == 0 { &mut a } else { &mut b }.add(&l, 3, &v[1], (i, 0), &v);
        }
        let mut buf = Vec::new();
        b.encode(&l, &mut buf);
        let b = Buckets::decode(&l, &buf).unwrap();
        a.merge(&l, 3, &b);
        for x in &aggs {
            assert_eq!(a.finish(&l, x, 3, 0), whole.finish(&l, x, 3, 0));
        }
        // b0: 0, 3, 6, ..., 27 without those ≡ 4 mod 5 (9, 24).
        let want: f64 = (0..30).filter(|i| i % 3 == 0 && i % 5 != 4).sum::<i64>() as f64;
        let Value::MapStringFloat64(m) = whole.finish(&l, &aggs[0], 3, 0) else {
            panic!("a map");
        };
        assert_eq!(m[0], ("b0".to_string(), want));
        assert_eq!(
            whole.finish(&l, &aggs[1], 2, 0),
            Value::Null,
            "3 > 2 buckets"
        );
        let v = [Value::Int64(1), Value::String("a".into())];
        whole.add(&l, 3, &v[1], (99, 0), &v);
        assert!(whole.overflow);
        assert_eq!(whole.finish(&l, &aggs[1], 3, 0), Value::Null);
        buf.push(0);
        assert!(Buckets::decode(&l, &buf).is_err(), "trailing bytes");
    }
}
