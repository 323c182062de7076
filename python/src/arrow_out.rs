//! Answers as Arrow arrays and pyarrow tables.

use std::sync::Arc;

use arrow_array::builder::TimestampMicrosecondBuilder;
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Float32Array, Float64Array, Int64Array, RecordBatch,
    StringArray,
};
use arrow_pyarrow::{IntoPyArrow, Table};
use arrow_schema::{Field, Schema, SchemaRef};
use pyo3::prelude::*;

use strata_format::protocol::{HistoryVersion, KeyColumnValues};
use strata_format::schema::{FeatureType, Value};
use strata_offline::collections::CollectionBuilder;
use strata_offline::export::arrow_type;

use crate::Failure;

/// The `$array` of the values of `$values` that are `Value::$variant`,
/// each through `$inner` (any other value: null).
macro_rules! array_of {
    ($values:expr, $variant:ident, $array:ty, $inner:expr) => {{
        let array: $array = $values
            .map(|v| match v {
                Value::$variant(x) => Some($inner(x)),
                _ => None,
            })
            .collect();
        Arc::new(array) as ArrayRef
    }};
}

/// An array of `ty` from values (a value of another type is null).
pub fn values_array<'a>(ty: FeatureType, values: impl Iterator<Item = &'a Value>) -> ArrayRef {
    match ty {
        FeatureType::Int64 => array_of!(values, Int64, Int64Array, |x: &i64| *x),
        FeatureType::Float64 => array_of!(values, Float64, Float64Array, |x: &f64| *x),
        FeatureType::Float32 => array_of!(values, Float32, Float32Array, |x: &f32| *x),
        FeatureType::Bool => array_of!(values, Bool, BooleanArray, |x: &bool| *x),
        FeatureType::String => array_of!(values, String, StringArray, String::as_str),
        FeatureType::Bytes => array_of!(values, Bytes, BinaryArray, Vec::as_slice),
        FeatureType::Timestamp => times_array(values.map(|v| match v {
            Value::Timestamp(t) => Some(*t),
            _ => None,
        })),
        FeatureType::ListFloat32
        | FeatureType::ListString
        | FeatureType::ListInt64
        | FeatureType::ListFloat64
        | FeatureType::MapStringInt64
        | FeatureType::MapStringFloat64 => match CollectionBuilder::new(ty, 0) {
            // The export's builder: the same Arrow types as an export.
            Some(mut b) => {
                for v in values {
                    if !b.push(v) {
                        b.push_null();
                    }
                }
                b.finish()
            }
            None => arrow_array::new_null_array(&arrow_type(ty), values.count()),
        },
    }
}

/// Times in µs as a UTC timestamp array.
pub fn times_array(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    let mut b = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

/// A lookup's key column as an array.
pub fn key_array(values: &KeyColumnValues) -> ArrayRef {
    match values {
        KeyColumnValues::Int64(v) => Arc::new(Int64Array::from(v.clone())),
        KeyColumnValues::String(v) => Arc::new(StringArray::from_iter_values(v.iter())),
    }
}

/// One batch from named columns.
pub fn batch(columns: Vec<(String, ArrayRef)>) -> Result<RecordBatch, Failure> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(n, a.data_type().clone(), true))
        .collect();
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    RecordBatch::try_new(schema, columns.into_iter().map(|c| c.1).collect())
        .map_err(|e| Failure::internal(format!("building the answer: {e}")))
}

/// Batches as a `pyarrow.Table`.
pub fn table<'py>(
    py: Python<'py>,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> PyResult<Bound<'py, PyAny>> {
    let t = Table::try_new(batches, schema)
        .map_err(|e| Failure::internal(format!("building the table: {e}")))?;
    t.into_pyarrow(py)
}

/// History versions (newest first) as a table: `event_timestamp`,
/// `created_timestamp`, then the features.
pub fn history_batch(
    features: &[(String, FeatureType)],
    versions: &[HistoryVersion],
) -> Result<RecordBatch, Failure> {
    let mut cols: Vec<(String, ArrayRef)> = vec![
        (
            "event_timestamp".into(),
            times_array(versions.iter().map(|v| Some(v.event_ts))),
        ),
        (
            "created_timestamp".into(),
            times_array(versions.iter().map(|v| Some(v.created_ts))),
        ),
    ];
    for (i, (name, ty)) in features.iter().enumerate() {
        cols.push((
            name.clone(),
            values_array(
                *ty,
                versions
                    .iter()
                    .map(|v| v.values.get(i).unwrap_or(&Value::Null)),
            ),
        ));
    }
    batch(cols)
}
