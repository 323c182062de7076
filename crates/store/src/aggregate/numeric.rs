//! The numeric partials of a column (count, moments, extremes), what the
//! common `count`, `sum`, `mean`, `stddev`, `variance`, `min`, `max` read;
//! and merging a tile's encoding into a [`State`] without decoding it, for
//! layouts that keep only numbers. A window read merges every stored tile
//! inside it; this spares each the decoded state (its allocation, building
//! and drop). The encoding read is [`super::state`]'s, unchanged.

use super::layout::Needs;
use super::state;
use super::{Layout, State};
use strata_format::error::{DecodeError, Reader};
use strata_format::varint;

/// The numeric partials of one column's non-null values.
#[derive(Debug, Clone, PartialEq)]
pub struct Numbers {
    /// How many values are not null (numeric or not).
    pub count: u64,
    /// The sum of the numeric values (kept with the moments).
    pub sum: f64,
    /// Their mean (Welford; kept with the moments).
    pub mean: f64,
    /// The sum of their squared deviations from the mean, M2 (kept with
    /// the moments).
    pub m2: f64,
    /// The least numeric value, ∞ if none (kept with the extremes).
    pub min: f64,
    /// The greatest numeric value, −∞ if none (kept with the extremes).
    pub max: f64,
}

impl Default for Numbers {
    fn default() -> Self {
        Numbers {
            count: 0,
            sum: 0.0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Numbers {
    /// Adds numeric value `x`, already counted in `count`.
    pub(super) fn add(&mut self, needs: &Needs, x: f64) {
        if needs.moments {
            self.sum += x;
            let delta = x - self.mean;
            self.mean += delta / self.count as f64;
            self.m2 += delta * (x - self.mean);
        }
        if needs.min_max {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
    }

    /// Adds the count, moments (Chan's formula) and extremes of `b`: the
    /// arithmetic of [`State::merge`] and [`State::merge_encoded`] alike,
    /// so both give the same bits.
    pub(super) fn merge(&mut self, needs: &Needs, b: &Numbers) {
        let (na, nb) = (self.count as f64, b.count as f64);
        self.count = self.count.saturating_add(b.count);
        if needs.moments {
            let n = na + nb;
            let delta = b.mean - self.mean;
            self.sum += b.sum;
            self.mean += delta * nb / n;
            self.m2 += b.m2 + delta * delta * na * nb / n;
        }
        if needs.min_max {
            self.min = self.min.min(b.min);
            self.max = self.max.max(b.max);
        }
    }

    /// Appends the encoding of the partials `needs` keeps: the count, then
    /// the moments and extremes (see [`super::state`]).
    pub(super) fn encode(&self, needs: &Needs, out: &mut Vec<u8>) {
        varint::put(out, self.count);
        if needs.moments {
            for x in [self.sum, self.mean, self.m2] {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        if needs.min_max {
            out.extend_from_slice(&self.min.to_le_bytes());
            out.extend_from_slice(&self.max.to_le_bytes());
        }
    }

    /// Reads what [`Numbers::encode`] writes.
    pub(super) fn decode(needs: &Needs, r: &mut Reader<'_>) -> Result<Numbers, DecodeError> {
        let f64_ = |r: &mut Reader<'_>| r.u64().map(f64::from_bits);
        let mut n = Numbers {
            count: r.varint()?,
            ..Numbers::default()
        };
        if needs.moments {
            n.sum = f64_(r)?;
            n.mean = f64_(r)?;
            n.m2 = f64_(r)?;
        }
        if needs.min_max {
            n.min = f64_(r)?;
            n.max = f64_(r)?;
        }
        Ok(n)
    }
}

/// Whether a column keeps only numbers (count, moments, extremes): its
/// encoding can be merged without decoding it into a [`super::state::Column`].
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
        let mut r = Reader::new(buf, state::WHAT);
        let (events, last) = state::decode_head(&mut r)?;
        if events > 0 {
            self.merge_head(events, last);
        }
        for ((_, _, needs), a) in layout.columns.iter().zip(&mut self.columns) {
            let b = Numbers::decode(needs, &mut r)?;
            if events > 0 && b.count > 0 {
                a.numbers.merge(needs, &b);
            }
        }
        state::expect_end(&r, "the tile")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::fixture::aggregation;
    use crate::catalog::aggregation::Function;
    use proptest::prelude::*;
    use strata_format::schema::{FeatureType, Value};

    fn numeric_layout() -> Layout {
        let f = |function, column| aggregation(function, column, None);
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
                prop_assert_eq!(a.numbers.sum.to_bits(), b.numbers.sum.to_bits());
                prop_assert_eq!(a.numbers.m2.to_bits(), b.numbers.m2.to_bits());
            }
        }
    }

    #[test]
    fn only_layouts_of_numbers_merge_encoded() {
        let f = |function| aggregation(function, Some(0), None);
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
