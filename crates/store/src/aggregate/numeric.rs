//! Merging a tile's encoding into a [`State`] without decoding it, for
//! layouts that keep only numbers (count, moments, extremes): the common
//! `count`, `sum`, `mean`, `stddev`, `variance`, `min`, `max`. A window
//! read merges every stored tile inside it; this spares each the decoded
//! state (its allocation, building and drop). The encoding read is
//! [`super::state`]'s, unchanged.

use super::state::{Column, Needs, VERSION};
use super::{Layout, State};
use strata_format::error::{DecodeError, Reader};

/// The numeric partials of one column: what [`State::merge_encoded`]
/// reads of a column whose layout keeps nothing else.
pub(super) struct Numbers {
    pub(super) count: u64,
    sum: f64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl Numbers {
    pub(super) fn of(c: &Column) -> Numbers {
        Numbers {
            count: c.count,
            sum: c.sum,
            mean: c.mean,
            m2: c.m2,
            min: c.min,
            max: c.max,
        }
    }
}

/// Adds the count, moments (Chan's formula) and extremes of `b` to `a`:
/// the arithmetic of [`State::merge`] and [`State::merge_encoded`] alike,
/// so both give the same bits.
pub(super) fn merge_numbers(a: &mut Column, needs: &Needs, b: &Numbers) {
    let (na, nb) = (a.count as f64, b.count as f64);
    a.count = a.count.saturating_add(b.count);
    if needs.moments {
        let n = na + nb;
        let delta = b.mean - a.mean;
        a.sum += b.sum;
        a.mean += delta * nb / n;
        a.m2 += b.m2 + delta * delta * na * nb / n;
    }
    if needs.min_max {
        a.min = a.min.min(b.min);
        a.max = a.max.max(b.max);
    }
}

/// Whether a column keeps only numbers (count, moments, extremes): its
/// encoding can be merged without decoding it into a [`Column`].
fn numeric_only(n: &Needs) -> bool {
    *n == Needs {
        moments: n.moments,
        min_max: n.min_max,
        ..Needs::default()
    }
}

impl State {
    /// Whether [`State::merge_encoded`] can merge this layout's encodings
    /// in place (every column keeps only numbers).
    pub fn merges_encoded(layout: &Layout) -> bool {
        layout.columns.iter().all(|(_, _, n)| numeric_only(n))
    }

    /// Adds the events of the encoded state `buf` (same layout, for which
    /// [`State::merges_encoded`] holds): the same as decoding it and
    /// [`State::merge`], without building the decoded state. The whole
    /// encoding is checked as [`State::decode`] checks it; on an error
    /// `self` may hold part of `buf`.
    pub fn merge_encoded(&mut self, layout: &Layout, buf: &[u8]) -> Result<(), DecodeError> {
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
        if events > 0 {
            self.events = self.events.saturating_add(events);
            let newer = match (self.last, last) {
                (None, o) => o.is_some(),
                (Some(a), Some(b)) => b > a,
                (Some(_), None) => false,
            };
            if newer {
                self.last = last;
            }
        }
        let f64_ = |r: &mut Reader<'_>| r.u64().map(f64::from_bits);
        for ((_, _, needs), a) in layout.columns.iter().zip(&mut self.columns) {
            let mut b = Numbers {
                count: r.varint()?,
                sum: 0.0,
                mean: 0.0,
                m2: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            };
            if needs.moments {
                b.sum = f64_(&mut r)?;
                b.mean = f64_(&mut r)?;
                b.m2 = f64_(&mut r)?;
            }
            if needs.min_max {
                b.min = f64_(&mut r)?;
                b.max = f64_(&mut r)?;
            }
            if events > 0 && b.count > 0 {
                merge_numbers(a, needs, &b);
            }
        }
        if !r.is_empty() {
            return Err(r.invalid("trailing bytes after the tile"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::aggregation::{Aggregation, Function};
    use proptest::prelude::*;
    use strata_format::schema::{FeatureType, Value};

    fn numeric_layout() -> Layout {
        let f = |function, column| Aggregation {
            feature: String::new(),
            function,
            column,
            window: 10,
            slide: 0,
            filter: None,
            bucket: None,
        };
        let aggs = [
            f(Function::Count, None),
            f(Function::Sum, Some(0)),
            f(Function::Mean, Some(0)),
            f(Function::Stddev, Some(0)),
            f(Function::Min, Some(1)),
            f(Function::Max, Some(1)),
        ];
        Layout::new(&aggs, &[FeatureType::Float64, FeatureType::Int64])
    }

    proptest! {
        /// Merging encodings gives the bits of decoding and merging, and
        /// refuses exactly the bytes decoding refuses.
        #[test]
        fn merging_an_encoding_is_decoding_and_merging(
            events in proptest::collection::vec(
                (0i64..50, proptest::option::of(-1e6f64..1e6), proptest::option::of(-100i64..100), 0usize..4),
                0..40,
            ),
            cut in 0usize..80,
            extra in any::<u8>(),
        ) {
            let l = numeric_layout();
            prop_assert!(State::merges_encoded(&l));
            let mut tiles = vec![State::new(&l); 4];
            for (i, (ts, x, y, t)) in events.iter().enumerate() {
                let values = [x.map_or(Value::Null, Value::Float64), y.map_or(Value::Null, Value::Int64)];
                tiles[*t].add(&l, *ts, i as i64, &values);
            }
            let (mut decoded, mut merged) = (State::new(&l), State::new(&l));
            for t in &tiles {
                let mut buf = Vec::new();
                t.encode(&l, &mut buf);
                decoded.merge(&l, &State::decode(&l, &buf).unwrap());
                merged.merge_encoded(&l, &buf).unwrap();
                prop_assert_eq!(&merged, &decoded);
                // Damaged: cut short, or a byte too many.
                let short = &buf[..cut.min(buf.len())];
                let mut scratch = State::new(&l);
                prop_assert_eq!(
                    scratch.merge_encoded(&l, short).is_ok(),
                    State::decode(&l, short).is_ok()
                );
                buf.push(extra);
                prop_assert!(scratch.merge_encoded(&l, &buf).is_err());
                prop_assert!(State::decode(&l, &buf).is_err());
            }
            for (a, b) in merged.columns.iter().zip(&decoded.columns) {
                prop_assert_eq!(a.sum.to_bits(), b.sum.to_bits());
                prop_assert_eq!(a.m2.to_bits(), b.m2.to_bits());
            }
        }
    }

    #[test]
    fn only_layouts_of_numbers_merge_encoded() {
        let f = |function| Aggregation {
            feature: String::new(),
            function,
            column: Some(0),
            window: 10,
            slide: 0,
            filter: None,
            bucket: None,
        };
        let of = |function| Layout::new(&[f(function)], &[FeatureType::Int64]);
        assert!(State::merges_encoded(&of(Function::Max)));
        assert!(State::merges_encoded(&of(Function::Variance)));
        assert!(!State::merges_encoded(&of(Function::Last)));
        assert!(!State::merges_encoded(&of(Function::CountDistinct)));
        assert!(!State::merges_encoded(&of(Function::Percentile(50))));
        assert!(!State::merges_encoded(&of(Function::First)));
        assert!(!State::merges_encoded(&of(Function::TopK(3))));
    }
}
