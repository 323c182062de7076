//! The pieces of a join: the Arrow types and builders of feature columns,
//! the ttl rule, and what a join needs to know ([`JoinSpec`]). The join
//! itself is in [`super::run`].

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float32Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int64Array, TimestampMicrosecondArray,
};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer};
use arrow_schema::{DataType, SchemaRef, TimeUnit};

use super::KnownAt;
use crate::collections::{CollectionBuilder, collection_arrow_type};
use strata_engine::Engine;
use strata_format::DecodeError;
use strata_format::error::Reader;
use strata_format::schema::{FeatureType, Value};
use strata_store::refs::{OutputFeature, ViewPlan};

/// The Arrow type of a feature column.
pub fn arrow_type(ty: FeatureType) -> DataType {
    match ty {
        FeatureType::Int64 => DataType::Int64,
        FeatureType::Float64 => DataType::Float64,
        FeatureType::Float32 => DataType::Float32,
        FeatureType::Bool => DataType::Boolean,
        FeatureType::String => DataType::Utf8,
        FeatureType::Bytes => DataType::Binary,
        FeatureType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        FeatureType::ListFloat32
        | FeatureType::ListString
        | FeatureType::ListInt64
        | FeatureType::ListFloat64
        | FeatureType::MapStringInt64
        | FeatureType::MapStringFloat64 => collection_arrow_type(ty).unwrap_or(DataType::Null),
    }
}

/// Whether a version at `event_ts` may be joined to a row at `t`: the
/// ttl rule of DESIGN.md's `as_of` and of [`strata_store::feature_row`].
#[inline]
pub fn within_ttl(ttl_micros: i64, event_ts: i64, t: i64) -> bool {
    ttl_micros <= 0 || event_ts >= t.saturating_sub(ttl_micros)
}

/// A builder of one feature column.
pub(crate) enum FeatureBuilder {
    Int64(Int64Builder),
    Float64(Float64Builder),
    Float32(Float32Builder),
    Bool(BooleanBuilder),
    String(StringBuilder),
    Bytes(BinaryBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Collection(Box<CollectionBuilder>),
}

impl FeatureBuilder {
    pub(crate) fn new(ty: FeatureType, rows: usize) -> FeatureBuilder {
        match ty {
            FeatureType::Int64 => FeatureBuilder::Int64(Int64Builder::with_capacity(rows)),
            FeatureType::Float64 => FeatureBuilder::Float64(Float64Builder::with_capacity(rows)),
            FeatureType::Float32 => FeatureBuilder::Float32(Float32Builder::with_capacity(rows)),
            FeatureType::Bool => FeatureBuilder::Bool(BooleanBuilder::with_capacity(rows)),
            FeatureType::String => {
                FeatureBuilder::String(StringBuilder::with_capacity(rows, rows * 8))
            }
            FeatureType::Bytes => {
                FeatureBuilder::Bytes(BinaryBuilder::with_capacity(rows, rows * 8))
            }
            FeatureType::Timestamp => FeatureBuilder::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"),
            ),
            FeatureType::ListFloat32
            | FeatureType::ListString
            | FeatureType::ListInt64
            | FeatureType::ListFloat64
            | FeatureType::MapStringInt64
            | FeatureType::MapStringFloat64 => match CollectionBuilder::new(ty, rows) {
                Some(b) => FeatureBuilder::Collection(Box::new(b)),
                None => FeatureBuilder::Bytes(BinaryBuilder::new()),
            },
        }
    }

    pub(crate) fn push_null(&mut self) {
        match self {
            FeatureBuilder::Int64(b) => b.append_null(),
            FeatureBuilder::Float64(b) => b.append_null(),
            FeatureBuilder::Float32(b) => b.append_null(),
            FeatureBuilder::Bool(b) => b.append_null(),
            FeatureBuilder::String(b) => b.append_null(),
            FeatureBuilder::Bytes(b) => b.append_null(),
            FeatureBuilder::Timestamp(b) => b.append_null(),
            FeatureBuilder::Collection(b) => b.push_null(),
        }
    }

    /// Appends a decoded value; `false` if its type is not the column's.
    pub(crate) fn push(&mut self, v: Value) -> bool {
        match (self, v) {
            (b, Value::Null) => b.push_null(),
            (FeatureBuilder::Int64(b), Value::Int64(x)) => b.append_value(x),
            (FeatureBuilder::Float64(b), Value::Float64(x)) => b.append_value(x),
            (FeatureBuilder::Float32(b), Value::Float32(x)) => b.append_value(x),
            (FeatureBuilder::Bool(b), Value::Bool(x)) => b.append_value(x),
            (FeatureBuilder::String(b), Value::String(s)) => b.append_value(s),
            (FeatureBuilder::Bytes(b), Value::Bytes(x)) => b.append_value(x),
            (FeatureBuilder::Timestamp(b), Value::Timestamp(x)) => b.append_value(x),
            (FeatureBuilder::Collection(b), v) => return b.push(&v),
            _ => return false,
        }
        true
    }

    pub(crate) fn finish(self) -> ArrayRef {
        match self {
            FeatureBuilder::Int64(mut b) => Arc::new(b.finish()),
            FeatureBuilder::Float64(mut b) => Arc::new(b.finish()),
            FeatureBuilder::Float32(mut b) => Arc::new(b.finish()),
            FeatureBuilder::Bool(mut b) => Arc::new(b.finish()),
            FeatureBuilder::String(mut b) => Arc::new(b.finish()),
            FeatureBuilder::Bytes(mut b) => Arc::new(b.finish()),
            FeatureBuilder::Timestamp(mut b) => Arc::new(b.finish()),
            FeatureBuilder::Collection(mut b) => b.finish(),
        }
    }
}

/// A column of a fixed-width feature type filled at any row, in any order
/// (nulls where nothing was set): what a batch's answers are scattered
/// into as they are read in key order.
pub(crate) struct FixedColumn {
    values: FixedValues,
    /// Bit `r` set: row `r` holds a value.
    valid: Vec<u64>,
    rows: usize,
}

enum FixedValues {
    Int64(Vec<i64>),
    Float64(Vec<f64>),
    Float32(Vec<f32>),
    /// One bit per row.
    Bool(Vec<u64>),
    Timestamp(Vec<i64>),
}

impl FixedColumn {
    /// An all-null column of `rows` rows; `None` for a type of variable
    /// width.
    pub(crate) fn new(ty: FeatureType, rows: usize) -> Option<FixedColumn> {
        let values = match ty {
            FeatureType::Int64 => FixedValues::Int64(vec![0; rows]),
            FeatureType::Float64 => FixedValues::Float64(vec![0.0; rows]),
            FeatureType::Float32 => FixedValues::Float32(vec![0.0; rows]),
            FeatureType::Bool => FixedValues::Bool(vec![0; rows.div_ceil(64)]),
            FeatureType::Timestamp => FixedValues::Timestamp(vec![0; rows]),
            _ => return None,
        };
        Some(FixedColumn {
            values,
            valid: vec![0; rows.div_ceil(64)],
            rows,
        })
    }

    /// Sets row `r` (`< rows`) to a decoded value; `false` if its type is
    /// not the column's.
    #[inline(always)]
    pub(crate) fn set(&mut self, r: usize, v: Value) -> bool {
        let bit = 1u64 << (r % 64);
        match (&mut self.values, v) {
            (_, Value::Null) => {
                self.valid[r / 64] &= !bit;
                return true;
            }
            (FixedValues::Int64(x), Value::Int64(v)) => x[r] = v,
            (FixedValues::Float64(x), Value::Float64(v)) => x[r] = v,
            (FixedValues::Float32(x), Value::Float32(v)) => x[r] = v,
            (FixedValues::Timestamp(x), Value::Timestamp(v)) => x[r] = v,
            (FixedValues::Bool(x), Value::Bool(v)) => {
                if v {
                    x[r / 64] |= bit;
                } else {
                    x[r / 64] &= !bit;
                }
            }
            _ => return false,
        }
        self.valid[r / 64] |= bit;
        true
    }

    /// Sets row `r` of a column of 8-byte values (`int64`, `float64`,
    /// `timestamp`) to the value stored as `b`; `false` for another column.
    #[inline(always)]
    fn put8(&mut self, r: usize, b: [u8; 8]) -> bool {
        match &mut self.values {
            FixedValues::Int64(x) | FixedValues::Timestamp(x) => x[r] = i64::from_le_bytes(b),
            FixedValues::Float64(x) => x[r] = f64::from_le_bytes(b),
            _ => return false,
        }
        self.valid[r / 64] |= 1u64 << (r % 64);
        true
    }

    /// [`FixedColumn::put8`] for `float32`.
    #[inline(always)]
    fn put4(&mut self, r: usize, b: [u8; 4]) -> bool {
        let FixedValues::Float32(x) = &mut self.values else {
            return false;
        };
        x[r] = f32::from_le_bytes(b);
        self.valid[r / 64] |= 1u64 << (r % 64);
        true
    }

    /// [`FixedColumn::put8`] for `bool`.
    #[inline(always)]
    fn put_bool(&mut self, r: usize, v: bool) -> bool {
        let FixedValues::Bool(x) = &mut self.values else {
            return false;
        };
        let bit = 1u64 << (r % 64);
        if v {
            x[r / 64] |= bit;
        } else {
            x[r / 64] &= !bit;
        }
        self.valid[r / 64] |= bit;
        true
    }

    #[inline(always)]
    fn put_null(&mut self, r: usize) {
        self.valid[r / 64] &= !(1u64 << (r % 64));
    }

    pub(crate) fn finish(self) -> ArrayRef {
        let bits =
            |words: Vec<u64>, rows: usize| BooleanBuffer::new(Buffer::from_vec(words), 0, rows);
        let nulls = NullBuffer::new(bits(self.valid, self.rows));
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        match self.values {
            FixedValues::Int64(v) => Arc::new(Int64Array::new(v.into(), nulls)),
            FixedValues::Float64(v) => Arc::new(Float64Array::new(v.into(), nulls)),
            FixedValues::Float32(v) => Arc::new(Float32Array::new(v.into(), nulls)),
            FixedValues::Timestamp(v) => {
                Arc::new(TimestampMicrosecondArray::new(v.into(), nulls).with_timezone("UTC"))
            }
            FixedValues::Bool(v) => Arc::new(BooleanArray::new(bits(v, self.rows), nulls)),
        }
    }
}

/// Whether every field of a schema has a fixed width: its rows can be read
/// by [`decode_fixed_row`].
pub(crate) fn all_fixed(schema: &[FeatureType]) -> bool {
    schema.iter().all(|t| t.fixed_width().is_some())
}

/// Decodes a row of `schema` (every field of a fixed width, see
/// [`all_fixed`]) into row `r` of the columns given for its fields:
/// [`strata_format::row::decode_row_with`] without building a value per
/// field. The same layout, the same checks.
#[inline]
pub(crate) fn decode_fixed_row(
    schema: &[FeatureType],
    bytes: &[u8],
    r: usize,
    cols: &mut [Option<FixedColumn>],
) -> Result<(), DecodeError> {
    let mut rd = Reader::new(bytes, "row");
    let n = rd.len(schema.len())?;
    let bitmap = rd.bytes(n.div_ceil(8))?;
    for (i, (ty, col)) in schema.iter().zip(cols.iter_mut()).enumerate() {
        let null = i >= n || bitmap.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0);
        if null {
            if let Some(c) = col {
                c.put_null(r);
            }
            continue;
        }
        let stored = match ty {
            FeatureType::Int64 | FeatureType::Timestamp | FeatureType::Float64 => {
                let b = rd.array::<8>()?;
                col.as_mut().is_none_or(|c| c.put8(r, b))
            }
            FeatureType::Float32 => {
                let b = rd.array::<4>()?;
                col.as_mut().is_none_or(|c| c.put4(r, b))
            }
            FeatureType::Bool => {
                let b = rd.u8()?;
                if b > 1 {
                    return Err(rd.invalid(format!("field {i}: bool byte {b}")));
                }
                col.as_mut().is_none_or(|c| c.put_bool(r, b == 1))
            }
            _ => {
                return Err(rd.invalid(format!("field {i}: not of a fixed width")));
            }
        };
        if !stored {
            return Err(rd.invalid(format!("field {i}: not of its column's type")));
        }
    }
    if !rd.is_empty() {
        return Err(rd.invalid("trailing bytes after the last field"));
    }
    Ok(())
}

/// What a join needs besides the rows.
pub(crate) struct JoinSpec<'a> {
    pub engine: &'a Engine,
    pub views: &'a [ViewPlan],
    pub outputs: &'a [OutputFeature],
    /// Per view, the input column of each join key, in key order.
    pub key_cols: &'a [Vec<usize>],
    pub ts_col: usize,
    pub known_at: KnownAt,
    pub schema: &'a SchemaRef,
    pub threads: usize,
    /// Bytes of answers (copies of versions) a run may hold; a run above
    /// it is split and joined in pieces.
    pub record_budget: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rule() {
        assert!(within_ttl(0, i64::MIN, i64::MAX));
        assert!(within_ttl(10, 90, 100));
        assert!(!within_ttl(10, 89, 100));
        assert!(within_ttl(10, i64::MIN, i64::MIN + 5));
    }

    #[test]
    fn fixed_columns_match_builders() {
        let vals = |ty| match ty {
            FeatureType::Int64 => [Value::Int64(-3), Value::Int64(7)],
            FeatureType::Float64 => [Value::Float64(1.5), Value::Float64(-0.0)],
            FeatureType::Float32 => [Value::Float32(2.5), Value::Float32(9.0)],
            FeatureType::Bool => [Value::Bool(true), Value::Bool(false)],
            FeatureType::Timestamp => [Value::Timestamp(5), Value::Timestamp(-9)],
            _ => [Value::Null, Value::Null],
        };
        for ty in FeatureType::ALL {
            let Some(mut c) = FixedColumn::new(ty, 70) else {
                assert!(ty.fixed_width().is_none());
                continue;
            };
            let [a, b] = vals(ty);
            let mut want = FeatureBuilder::new(ty, 70);
            // Rows set out of order; row 66 set then cleared by a null.
            assert!(c.set(65, b.clone()) && c.set(3, a.clone()) && c.set(66, a.clone()));
            assert!(c.set(66, Value::Null));
            assert!(!c.set(0, Value::String("x".into())));
            for r in 0..70 {
                match r {
                    3 => want.push(a.clone()),
                    65 => want.push(b.clone()),
                    _ => {
                        want.push_null();
                        true
                    }
                };
            }
            assert_eq!(c.finish().to_data(), want.finish().to_data(), "{ty}");
            let full = FixedColumn::new(ty, 1).map(|mut c| {
                c.set(0, a.clone());
                c.finish()
            });
            assert_eq!(full.map(|a| a.null_count()), Some(0));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        /// The fast decoder reads what `decode_row_with` reads, and refuses
        /// what it refuses.
        #[test]
        fn fixed_rows_decode_like_the_format(
            fields in proptest::collection::vec((0usize..5, proptest::option::of(proptest::num::i64::ANY), proptest::bool::ANY), 0..10),
            cut in 0usize..4,
            junk in proptest::option::of((0u8..4, proptest::bool::ANY)),
        ) {
            use strata_format::row::{decode_row_with, encode_row};
            let types = [
                FeatureType::Int64,
                FeatureType::Float64,
                FeatureType::Float32,
                FeatureType::Bool,
                FeatureType::Timestamp,
            ];
            let schema: Vec<FeatureType> = fields.iter().map(|(t, _, _)| types[*t]).collect();
            let values: Vec<Value> = fields
                .iter()
                .map(|(t, v, _)| match (types[*t], v) {
                    (_, None) => Value::Null,
                    (FeatureType::Int64, Some(x)) => Value::Int64(*x),
                    (FeatureType::Float64, Some(x)) => Value::Float64(*x as f64 / 7.0),
                    (FeatureType::Float32, Some(x)) => Value::Float32(*x as f32 / 3.0),
                    (FeatureType::Bool, Some(x)) => Value::Bool(x % 2 == 0),
                    (_, Some(x)) => Value::Timestamp(*x),
                })
                .collect();
            let mut bytes = Vec::new();
            encode_row(&schema, &values, &mut bytes).unwrap();
            // Damage: cut the end, overwrite the last byte or add one.
            bytes.truncate(bytes.len().saturating_sub(cut));
            match junk {
                Some((j, true)) => bytes.push(j),
                Some((j, false)) => {
                    if let Some(last) = bytes.last_mut() {
                        *last = j;
                    }
                }
                None => {}
            }
            let mut cols: Vec<Option<FixedColumn>> = schema
                .iter()
                .zip(&fields)
                .map(|(ty, (_, _, wanted))| if *wanted { FixedColumn::new(*ty, 3) } else { None })
                .collect();
            let mut want: Vec<Option<FixedColumn>> = schema
                .iter()
                .zip(&fields)
                .map(|(ty, (_, _, wanted))| if *wanted { FixedColumn::new(*ty, 3) } else { None })
                .collect();
            let got = decode_fixed_row(&schema, &bytes, 1, &mut cols);
            let expected = decode_row_with(&schema, &bytes, |f, v| {
                if let Some(c) = &mut want[f] {
                    assert!(c.set(1, v));
                }
            });
            proptest::prop_assert_eq!(got.is_ok(), expected.is_ok(), "{:?} {:?}", got, expected);
            if got.is_ok() {
                for (c, w) in cols.into_iter().zip(want) {
                    proptest::prop_assert_eq!(
                        c.map(|c| c.finish().to_data()),
                        w.map(|w| w.finish().to_data())
                    );
                }
            }
        }
    }

    #[test]
    fn builders_refuse_other_types() {
        let mut b = FeatureBuilder::new(FeatureType::Int64, 2);
        assert!(b.push(Value::Int64(1)));
        assert!(!b.push(Value::Bool(true)));
        assert!(b.push(Value::Null));
        assert_eq!(b.finish().len(), 2);
        for ty in FeatureType::ALL {
            let mut b = FeatureBuilder::new(ty, 1);
            b.push_null();
            assert_eq!(b.finish().data_type(), &arrow_type(ty));
        }
    }
}
