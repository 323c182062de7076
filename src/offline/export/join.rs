//! The pieces of a join: the Arrow types and builders of feature columns,
//! the ttl rule, and what a join needs to know ([`JoinSpec`]). The join
//! itself is in [`super::run`].

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float32Builder, Float64Builder, Int64Builder, ListBuilder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_schema::{DataType, Field, SchemaRef, TimeUnit};

use super::KnownAt;
use super::refs::{OutputFeature, ViewPlan};
use crate::engine::Engine;
use crate::format::schema::{FeatureType, Value};

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
        FeatureType::ListFloat32 => {
            DataType::List(Arc::new(Field::new_list_field(DataType::Float32, true)))
        }
    }
}

/// Whether a version at `event_ts` may be joined to a row at `t`: the
/// ttl rule of DESIGN.md's `as_of` and of [`crate::store::feature_row`].
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
    List(ListBuilder<Float32Builder>),
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
            FeatureType::ListFloat32 => FeatureBuilder::List(ListBuilder::with_capacity(
                Float32Builder::with_capacity(rows),
                rows,
            )),
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
            FeatureBuilder::List(b) => b.append_null(),
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
            (FeatureBuilder::List(b), Value::ListFloat32(l)) => {
                b.values().append_slice(&l);
                b.append(true);
            }
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
            FeatureBuilder::List(mut b) => Arc::new(b.finish()),
        }
    }
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
