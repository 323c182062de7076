//! Python values and Arrow batches into the store's and the protocol's
//! request types.

use arrow_array::RecordBatch;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyList, PyString, PyTuple};

use strata_format::protocol::{
    ExportKnownAt, KeyColumn, KeyColumnValues, LookupRequest, RequestColumn, RowWrite,
};
use strata_format::schema::{FeatureType, KeyType, KeyValue, Value};
use strata_offline::read::convert::{ColumnError, convert};
use strata_offline::{CREATED_TIMESTAMP, EVENT_TIMESTAMP};

use crate::Failure;

/// One key value: a Python `int` or `str`.
fn key_value(v: &Bound<'_, PyAny>, what: &str) -> Result<KeyValue, Failure> {
    if v.is_instance_of::<PyBool>() {
        return Err(Failure::invalid(format!(
            "{what}: a bool is not a key; use an int or a str"
        )));
    }
    if v.is_instance_of::<PyString>() {
        let s: String = v
            .extract()
            .map_err(|e| Failure::invalid(format!("{what}: {e}")))?;
        return Ok(KeyValue::String(s));
    }
    if v.is_none() {
        return Err(Failure::invalid(format!(
            "{what}: None is not a key; every entity row needs its join keys"
        )));
    }
    match v.extract::<i64>() {
        Ok(i) => Ok(KeyValue::Int64(i)),
        Err(_) => Err(Failure::invalid(format!(
            "{what}: {} is not a key; use an int (int64 join keys) or a str (string join keys)",
            type_name(v)
        ))),
    }
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "this value".into())
}

/// A key: an `int`, a `str`, or a tuple (or list) of them for a composite key.
pub fn key(v: &Bound<'_, PyAny>) -> Result<Vec<KeyValue>, Failure> {
    if let Ok(t) = v.cast::<PyTuple>() {
        return key_parts(t.iter());
    }
    if let Ok(l) = v.cast::<PyList>() {
        return key_parts(l.iter());
    }
    Ok(vec![key_value(v, "key")?])
}

/// The parts of a composite key, in order.
fn key_parts<'py>(
    parts: impl Iterator<Item = Bound<'py, PyAny>>,
) -> Result<Vec<KeyValue>, Failure> {
    parts
        .enumerate()
        .map(|(i, x)| key_value(&x, &format!("key part {}", i + 1)))
        .collect()
}

/// The lookup request of `lookup`'s Python arguments, the same for the
/// embedded store and a server.
pub fn lookup_request(
    features: Vec<String>,
    entities: Vec<(String, Bound<'_, PyAny>)>,
    as_of: Option<i64>,
    known_at: Option<i64>,
    request: Vec<(String, Vec<Option<String>>)>,
) -> Result<LookupRequest, Failure> {
    Ok(LookupRequest {
        features,
        entities: key_columns(entities)?,
        as_of,
        known_at,
        with_created_ts: false,
        request: request
            .into_iter()
            .map(|(name, values)| RequestColumn { name, values })
            .collect(),
    })
}

/// Entity columns `(name, list of values)` as the lookup's key columns; the
/// type of each column is that of its values (all `int` or all `str`).
pub fn key_columns(cols: Vec<(String, Bound<'_, PyAny>)>) -> Result<Vec<KeyColumn>, Failure> {
    let mut out = Vec::with_capacity(cols.len());
    for (name, values) in cols {
        let list = values.cast::<PyList>().map_err(|_| {
            Failure::invalid(format!("entity column {name}: expected a list of keys"))
        })?;
        let n = list.len();
        let mut ints: Option<Vec<i64>> = None;
        let mut strs: Option<Vec<String>> = None;
        for (i, v) in list.iter().enumerate() {
            let what = format!("entity row {}, column {name}", i + 1);
            match key_value(&v, &what)? {
                KeyValue::Int64(x) if strs.is_none() => {
                    ints.get_or_insert_with(|| Vec::with_capacity(n)).push(x)
                }
                KeyValue::String(s) if ints.is_none() => {
                    strs.get_or_insert_with(|| Vec::with_capacity(n)).push(s)
                }
                _ => {
                    return Err(Failure::invalid(format!(
                        "{what}: the column mixes int and str keys; a join key has one type"
                    )));
                }
            }
        }
        let values = match (ints, strs) {
            (_, Some(s)) => KeyColumnValues::String(s),
            (Some(i), _) => KeyColumnValues::Int64(i),
            (None, None) => KeyColumnValues::Int64(Vec::new()),
        };
        out.push(KeyColumn { name, values });
    }
    Ok(out)
}

/// What rows for one view look like: its join keys and features.
pub struct RowShape {
    pub view: String,
    pub keys: Vec<(String, KeyType)>,
    pub features: Vec<(String, FeatureType)>,
}

fn key_feature_type(t: KeyType) -> FeatureType {
    match t {
        KeyType::Int64 => FeatureType::Int64,
        KeyType::String => FeatureType::String,
    }
}

/// Rows to write from Arrow batches: the join-key columns,
/// `event_timestamp`, optionally `created_timestamp`, and every feature, by
/// name (other columns are ignored), with the Arrow types an ingest accepts
/// (the offline crate's `convert`). `base` is the number of rows before
/// `batch`, for messages.
pub fn rows_of_batch(
    shape: &RowShape,
    batch: &RecordBatch,
    base: usize,
    out: &mut Vec<RowWrite>,
) -> Result<(), Failure> {
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut wanted: Vec<(&str, FeatureType)> = shape
        .keys
        .iter()
        .map(|(n, t)| (n.as_str(), key_feature_type(*t)))
        .collect();
    wanted.push((EVENT_TIMESTAMP, FeatureType::Timestamp));
    wanted.extend(shape.features.iter().map(|(n, t)| (n.as_str(), *t)));
    let missing: Vec<&str> = wanted
        .iter()
        .map(|w| w.0)
        .filter(|n| !names.contains(n))
        .collect();
    if !missing.is_empty() {
        return Err(Failure::invalid(format!(
            "data for {}: missing column(s) {}; the data has {}",
            shape.view,
            missing.join(", "),
            if names.is_empty() {
                "no columns".to_string()
            } else {
                names.join(", ")
            }
        )));
    }
    let column = |name: &str, ty: FeatureType| -> Result<Vec<Value>, Failure> {
        let arr = batch
            .column_by_name(name)
            .ok_or_else(|| Failure::invalid(format!("column {name} is missing")))?;
        convert(arr.as_ref(), ty).map_err(|e| match e {
            ColumnError::Type(why) => {
                Failure::invalid(format!("data for {}: column {name}: {why}", shape.view))
            }
            ColumnError::Cell(i, why) => Failure::invalid(format!(
                "data for {}: row {}, column {name}: {why}",
                shape.view,
                base + i + 1
            )),
        })
    };
    let null_at = |name: &str, values: &[Value], what: &str| -> Result<(), Failure> {
        match values.iter().position(Value::is_null) {
            Some(i) => Err(Failure::invalid(format!(
                "data for {}: row {}, column {name}: {what}",
                shape.view,
                base + i + 1
            ))),
            None => Ok(()),
        }
    };
    let mut keys = Vec::with_capacity(shape.keys.len());
    for (name, t) in &shape.keys {
        let v = column(name, key_feature_type(*t))?;
        null_at(name, &v, "the join key is null; every row needs a key")?;
        keys.push(v);
    }
    let events = column(EVENT_TIMESTAMP, FeatureType::Timestamp)?;
    null_at(
        EVENT_TIMESTAMP,
        &events,
        "the event timestamp is null; every row needs one",
    )?;
    let created = if names.contains(&CREATED_TIMESTAMP) {
        Some(column(CREATED_TIMESTAMP, FeatureType::Timestamp)?)
    } else {
        None
    };
    let mut features = Vec::with_capacity(shape.features.len());
    for (name, t) in &shape.features {
        features.push(column(name, *t)?.into_iter());
    }
    out.reserve(batch.num_rows());
    for (i, ev) in events.iter().enumerate() {
        let key = keys
            .iter()
            .map(|col| match &col[i] {
                Value::Int64(x) => KeyValue::Int64(*x),
                Value::String(s) => KeyValue::String(s.clone()),
                _ => KeyValue::Int64(0),
            })
            .collect();
        let ts = |v: &Value| match v {
            Value::Timestamp(t) | Value::Int64(t) => Some(*t),
            _ => None,
        };
        out.push(RowWrite {
            key,
            event_ts: ts(ev).unwrap_or_default(),
            created_ts: created.as_ref().and_then(|c| ts(&c[i])),
            values: features
                .iter_mut()
                .map(|it| it.next().unwrap_or(Value::Null))
                .collect(),
        });
    }
    Ok(())
}

/// Every row of a stream of batches.
pub fn rows_of_stream(
    shape: &RowShape,
    batches: impl Iterator<Item = Result<RecordBatch, arrow_schema::ArrowError>>,
) -> Result<Vec<RowWrite>, Failure> {
    let mut rows = Vec::new();
    for b in batches {
        let b = b.map_err(|e| {
            Failure::invalid(format!("reading the data after row {}: {e}", rows.len()))
        })?;
        let base = rows.len();
        rows_of_batch(shape, &b, base, &mut rows)?;
    }
    Ok(rows)
}

/// The rows of `rows` in pieces of at most `max_rows` rows.
pub fn pieces<T>(rows: &[T], max_rows: usize) -> impl Iterator<Item = &[T]> {
    rows.chunks(max_rows.max(1))
}

/// What a training set may see: everything, versions written by
/// `as_known_at`, or per row by its event time (`no_future_writes`).
pub fn known_at(
    as_known_at: Option<i64>,
    no_future_writes: bool,
) -> Result<ExportKnownAt, Failure> {
    match (as_known_at, no_future_writes) {
        (Some(t), false) => Ok(ExportKnownAt::At(t)),
        (None, true) => Ok(ExportKnownAt::EventTime),
        (None, false) => Ok(ExportKnownAt::Unbounded),
        (Some(_), true) => Err(Failure::invalid(
            "as_known_at and no_future_writes exclude each other; pass one",
        )),
    }
}

/// A history's `start`/`end` (inclusive, either open) as the store's range.
pub fn history_range(start: Option<i64>, end: Option<i64>) -> Result<(i64, i64), Failure> {
    let (from, to) = (start.unwrap_or(i64::MIN), end.unwrap_or(i64::MAX - 1));
    if from > to {
        return Err(Failure::invalid("start is after end"));
    }
    Ok((from, to))
}

/// Definitions as `apply` takes them: TOML text, or the file at a path.
pub enum Definitions {
    Text(String),
    File(std::path::PathBuf),
}

impl Definitions {
    /// Exactly one of `text` and `path`.
    pub fn of(
        text: Option<String>,
        path: Option<std::path::PathBuf>,
    ) -> Result<Definitions, Failure> {
        match (text, path) {
            (Some(t), None) => Ok(Definitions::Text(t)),
            (None, Some(p)) => Ok(Definitions::File(p)),
            _ => Err(Failure::invalid("give definitions as text or a path")),
        }
    }
}
