//! Entity tables (the rows an export joins features onto), their online
//! counterpart (a lookup of user keys) and Parquet files.

use std::path::Path;
use std::sync::Arc;

use arrow_array::types::ArrowPrimitiveType;
use arrow_array::{
    Array, ArrayRef, Int64Array, PrimitiveArray, RecordBatch, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use strata::format::protocol as p;
use strata::offline::export::{ExportRequest, Plan, export};
use strata::store::Store;

/// The schema of [`user_table`]: `user_id` int64 and `event_timestamp` in
/// microseconds with no time zone, both nullable.
pub fn user_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, true),
        Field::new(
            "event_timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
    ]))
}

/// An entity table of `(user_id, event_timestamp)` rows.
pub fn user_table(rows: impl IntoIterator<Item = (i64, i64)>) -> RecordBatch {
    let (ids, ts): (Vec<i64>, Vec<i64>) = rows.into_iter().unzip();
    RecordBatch::try_new(
        user_schema(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(TimestampMicrosecondArray::from(ts)),
        ],
    )
    .unwrap()
}

/// An entity table of `(user_id, event_timestamp)` rows followed by the
/// `extra` columns (request values, labels).
pub fn user_table_with(
    rows: impl IntoIterator<Item = (i64, i64)>,
    extra: Vec<(&str, ArrayRef)>,
) -> RecordBatch {
    let users = user_table(rows);
    let mut cols: Vec<(&str, ArrayRef)> = vec![
        ("user_id", users.column(0).clone()),
        ("event_timestamp", users.column(1).clone()),
    ];
    cols.extend(extra);
    columns(cols)
}

/// A batch of named columns.
pub fn columns(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(cols).unwrap()
}

/// Writes `batches` (of one schema) to a Parquet file at `path`.
pub fn write_parquet(path: &Path, batches: &[RecordBatch]) {
    let schema = batches[0].schema();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

/// Exports `req` over the one entity table `table`; returns the batches.
pub fn export_one(store: &Store, req: &ExportRequest, table: RecordBatch) -> Vec<RecordBatch> {
    let plan = Plan::new(store, req, &table.schema()).unwrap();
    export(store, &plan, std::iter::once(Ok(table)))
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The column `name` of `batch` as a `T`.
pub fn column<T: Array + Clone + 'static>(batch: &RecordBatch, name: &str) -> T {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| panic!("column {name} is not a {}", std::any::type_name::<T>()))
        .clone()
}

/// The cells of a primitive column, `None` where null.
pub fn cells<T: ArrowPrimitiveType>(col: &PrimitiveArray<T>) -> Vec<Option<T::Native>> {
    (0..col.len())
        .map(|i| col.is_valid(i).then(|| col.value(i)))
        .collect()
}

/// The names of the columns of `batch`, in order.
pub fn column_names(batch: &RecordBatch) -> Vec<&str> {
    batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect()
}

/// A lookup of `features` for the users `keys` (`user_id`) as of `as_of`
/// (`None`: latest) known at `known_at`, without request values or
/// creation times.
pub fn user_lookup(
    features: &[&str],
    keys: &[i64],
    as_of: Option<i64>,
    known_at: Option<i64>,
) -> p::LookupRequest {
    p::LookupRequest {
        features: features.iter().map(|f| f.to_string()).collect(),
        entities: vec![p::KeyColumn {
            name: "user_id".into(),
            values: p::KeyColumnValues::Int64(keys.to_vec()),
        }],
        as_of,
        known_at,
        with_created_ts: false,
        request: Vec::new(),
    }
}
