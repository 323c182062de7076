//! Parquet input, read through Arrow. Only the needed columns are decoded.
//!
//! Arrow types accepted per feature type (dictionary-encoded columns of
//! these are accepted too):
//!
//! | feature type    | Arrow types                                                  |
//! |-----------------|--------------------------------------------------------------|
//! | `int64`         | Int8..Int64, UInt8..UInt64 (values above `i64::MAX` refused)  |
//! | `float64`       | Float64, Float32, integers                                   |
//! | `float32`       | Float32, Float64 (rounded to nearest), integers              |
//! | `bool`          | Boolean                                                      |
//! | `string`        | Utf8, LargeUtf8, Utf8View                                    |
//! | `bytes`         | Binary, LargeBinary, BinaryView, FixedSizeBinary             |
//! | `timestamp`     | Timestamp (any unit, any zone), Int64 µs, Date32, Date64     |
//! | `list<float32>` | List, LargeList or FixedSizeList of Float32 or Float64        |
//!
//! Join keys follow the `int64` and `string` rows; `event_timestamp` and
//! `created_timestamp` the `timestamp` row. Nanosecond timestamps are
//! truncated toward the past to microseconds.

use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, new_empty_array};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{CREATED_TIMESTAMP, EVENT_TIMESTAMP, Error, Target, missing_columns};
use strata_format::schema::{FeatureType, KeyType, KeyValue, Value};
use strata_store::RowWrite;

/// Rows decoded per Arrow batch.
const BATCH_ROWS: usize = 8192;

/// Why a column could not be converted.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnError {
    /// The column's Arrow type cannot hold the wanted type.
    Type(String),
    /// One cell (0-based index in the array) is out of range or malformed.
    Cell(usize, String),
}

/// Reads a whole Parquet file for `target`, validating every cell.
pub fn read(target: &Target, path: &Path) -> Result<Vec<RowWrite>, Error> {
    let invalid = |reason: String| Error::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let len = file
        .metadata()
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    if len == 0 {
        return Err(invalid("the file is empty; expected a Parquet file".into()));
    }
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
        invalid(format!(
            "not a readable Parquet file (damaged or truncated?): {e}"
        ))
    })?;
    let schema = builder.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();

    // Locate and type-check every needed column before reading any data.
    let mut wanted: Vec<(&str, FeatureType)> = target
        .keys
        .iter()
        .map(|k| (k.name.as_str(), key_feature_type(k.ty)))
        .collect();
    wanted.push((EVENT_TIMESTAMP, FeatureType::Timestamp));
    wanted.extend(target.view.features.iter().map(|f| (f.name.as_str(), f.ty)));
    let has_created = names.contains(&CREATED_TIMESTAMP);
    if has_created {
        wanted.push((CREATED_TIMESTAMP, FeatureType::Timestamp));
    }
    let missing: Vec<&str> = wanted
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !names.contains(n))
        .collect();
    if !missing.is_empty() {
        return Err(invalid(missing_columns(&missing, &names)));
    }
    let mut roots = Vec::with_capacity(wanted.len());
    for (name, ty) in &wanted {
        let positions: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| *n == name)
            .map(|(i, _)| i)
            .collect();
        if positions.len() > 1 {
            return Err(invalid(format!(
                "the file has more than one column named {name}"
            )));
        }
        let dt = schema.field(positions[0]).data_type();
        if let Err(ColumnError::Type(why)) = convert(new_empty_array(dt).as_ref(), *ty) {
            return Err(invalid(format!("column {name}: {why}")));
        }
        roots.push(positions[0]);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let total = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| invalid(format!("cannot read the Parquet data: {e}")))?;

    let mut rows: Vec<RowWrite> = Vec::with_capacity(total);
    for batch in reader {
        let batch = batch.map_err(|e| {
            invalid(format!(
                "cannot read the Parquet data after row {}: {e}",
                rows.len()
            ))
        })?;
        let base = rows.len();
        let column = |name: &str, ty: FeatureType| -> Result<Vec<Value>, Error> {
            let arr = batch
                .column_by_name(name)
                .ok_or_else(|| invalid(format!("column {name} vanished while reading")))?;
            convert(arr.as_ref(), ty).map_err(|e| match e {
                ColumnError::Type(why) => invalid(format!("column {name}: {why}")),
                ColumnError::Cell(i, why) => {
                    invalid(format!("row {}, column {name}: {why}", base + i + 1))
                }
            })
        };
        let null_at = |name: &str, values: &[Value], what: &str| -> Result<(), Error> {
            match values.iter().position(Value::is_null) {
                Some(i) => Err(invalid(format!(
                    "row {}, column {name}: {what}",
                    base + i + 1
                ))),
                None => Ok(()),
            }
        };
        let mut keys = Vec::with_capacity(target.keys.len());
        for k in &target.keys {
            let v = column(&k.name, key_feature_type(k.ty))?;
            null_at(&k.name, &v, "the join key is null; every row needs a key")?;
            keys.push(v);
        }
        let events = column(EVENT_TIMESTAMP, FeatureType::Timestamp)?;
        null_at(
            EVENT_TIMESTAMP,
            &events,
            "the event timestamp is null; every row needs one",
        )?;
        let created = if has_created {
            Some(column(CREATED_TIMESTAMP, FeatureType::Timestamp)?)
        } else {
            None
        };
        let mut features = Vec::with_capacity(target.view.features.len());
        for f in &target.view.features {
            features.push(column(&f.name, f.ty)?.into_iter());
        }
        for (i, ev) in events.iter().enumerate() {
            let key = keys.iter().map(|col| to_key(&col[i])).collect();
            let event_ts = timestamp_of(ev);
            let created_ts = created.as_ref().and_then(|c| match c[i] {
                Value::Timestamp(t) => Some(t),
                _ => None,
            });
            let values = features
                .iter_mut()
                .map(|it| it.next().unwrap_or(Value::Null))
                .collect();
            rows.push(RowWrite {
                key,
                event_ts,
                created_ts,
                values,
            });
        }
    }
    Ok(rows)
}

fn key_feature_type(t: KeyType) -> FeatureType {
    match t {
        KeyType::Int64 => FeatureType::Int64,
        KeyType::String => FeatureType::String,
    }
}

/// A non-null key value converted by [`convert`].
fn to_key(v: &Value) -> KeyValue {
    match v {
        Value::String(s) => KeyValue::String(s.clone()),
        Value::Int64(x) => KeyValue::Int64(*x),
        // `read` checked for nulls, and convert only yields these two for key types.
        _ => KeyValue::Int64(0),
    }
}

fn timestamp_of(v: &Value) -> i64 {
    match v {
        Value::Timestamp(t) => *t,
        _ => 0,
    }
}

fn suggestion(ty: FeatureType) -> &'static str {
    match ty {
        FeatureType::Int64 => "Int64 (or another integer type)",
        FeatureType::Float64 | FeatureType::Float32 => "Float64 or Float32",
        FeatureType::Bool => "Boolean",
        FeatureType::String => "Utf8",
        FeatureType::Bytes => "Binary",
        FeatureType::Timestamp => "Timestamp (any unit), Int64 microseconds, Date32 or Date64",
        FeatureType::ListFloat32 => "List<Float32>",
    }
}

macro_rules! as_i128 {
    ($a:expr, $t:ty) => {
        $a.as_primitive::<$t>()
            .iter()
            .map(|v| v.map(i128::from))
            .collect()
    };
}

/// The values of an integer array, widened.
fn integers(a: &dyn Array) -> Option<Vec<Option<i128>>> {
    Some(match a.data_type() {
        DataType::Int8 => as_i128!(a, Int8Type),
        DataType::Int16 => as_i128!(a, Int16Type),
        DataType::Int32 => as_i128!(a, Int32Type),
        DataType::Int64 => as_i128!(a, Int64Type),
        DataType::UInt8 => as_i128!(a, UInt8Type),
        DataType::UInt16 => as_i128!(a, UInt16Type),
        DataType::UInt32 => as_i128!(a, UInt32Type),
        DataType::UInt64 => as_i128!(a, UInt64Type),
        _ => return None,
    })
}

/// The values of a float array, widened.
fn floats(a: &dyn Array) -> Option<Vec<Option<f64>>> {
    Some(match a.data_type() {
        DataType::Float32 => a
            .as_primitive::<Float32Type>()
            .iter()
            .map(|v| v.map(f64::from))
            .collect(),
        DataType::Float64 => a.as_primitive::<Float64Type>().iter().collect(),
        _ => return None,
    })
}

/// The values of a timestamp-like array, in microseconds.
fn timestamps(a: &dyn Array) -> Option<Result<Vec<Option<i64>>, ColumnError>> {
    let scaled =
        |vals: Vec<Option<i64>>, mul: i64, what: &str| -> Result<Vec<Option<i64>>, ColumnError> {
            vals.into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    None => Ok(None),
                    Some(x) => x.checked_mul(mul).map(Some).ok_or_else(|| {
                        ColumnError::Cell(i, format!("{what} {x} is out of range for microseconds"))
                    }),
                })
                .collect()
        };
    Some(match a.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => scaled(
            a.as_primitive::<TimestampSecondType>().iter().collect(),
            1_000_000,
            "second",
        ),
        DataType::Timestamp(TimeUnit::Millisecond, _) => scaled(
            a.as_primitive::<TimestampMillisecondType>()
                .iter()
                .collect(),
            1_000,
            "millisecond",
        ),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Ok(a
            .as_primitive::<TimestampMicrosecondType>()
            .iter()
            .collect()),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => Ok(a
            .as_primitive::<TimestampNanosecondType>()
            .iter()
            .map(|v| v.map(|x| x.div_euclid(1_000)))
            .collect()),
        DataType::Int64 => Ok(a.as_primitive::<Int64Type>().iter().collect()),
        DataType::Date32 => Ok(a
            .as_primitive::<Date32Type>()
            .iter()
            .map(|v| v.map(|d| i64::from(d) * 86_400_000_000))
            .collect()),
        DataType::Date64 => scaled(
            a.as_primitive::<Date64Type>().iter().collect(),
            1_000,
            "Date64 millisecond",
        ),
        _ => return None,
    })
}

/// The items of a list array (widened to f64), and each row's `start..end` in them.
type ListItems = (Vec<Option<f64>>, Vec<(usize, usize)>);

/// A list array's values and each row's `start..end` in them.
pub(crate) type ListSpans<'a> = (&'a dyn Array, Vec<(usize, usize)>);

/// The values array of a list array (`List`, `LargeList` or
/// `FixedSizeList`) and each row's `start..end` in it; `None` for other types.
pub(crate) fn list_spans(a: &dyn Array) -> Option<ListSpans<'_>> {
    let spans = |o: &mut dyn Iterator<Item = usize>| {
        let o: Vec<usize> = o.collect();
        o.windows(2).map(|w| (w[0], w[1])).collect::<Vec<_>>()
    };
    match a.data_type() {
        DataType::List(_) => {
            let l = a.as_list::<i32>();
            Some((
                l.values().as_ref(),
                spans(&mut l.value_offsets().iter().map(|&x| x as usize)),
            ))
        }
        DataType::LargeList(_) => {
            let l = a.as_list::<i64>();
            Some((
                l.values().as_ref(),
                spans(&mut l.value_offsets().iter().map(|&x| x as usize)),
            ))
        }
        DataType::FixedSizeList(_, _) => {
            let l = a.as_fixed_size_list();
            let width = usize::try_from(l.value_length()).unwrap_or(0);
            let spans = (0..l.len())
                .map(|i| (l.value_offset_at(i), l.value_offset_at(i) + width))
                .collect();
            Some((l.values().as_ref(), spans))
        }
        _ => None,
    }
}

/// The float items of a list array's values, with the row spans.
fn list_items(a: &dyn Array) -> Option<ListItems> {
    let (values, spans) = list_spans(a)?;
    Some((floats(values)?, spans))
}

/// Converts an Arrow array into values of type `ty` (`Value::Null` for
/// nulls). Key and timestamp columns use `Int64`/`String` and `Timestamp`.
pub fn convert(a: &dyn Array, ty: FeatureType) -> Result<Vec<Value>, ColumnError> {
    if let Some(d) = a.as_any_dictionary_opt() {
        let values = convert(d.values().as_ref(), ty).map_err(|e| match e {
            ColumnError::Cell(i, why) => {
                ColumnError::Cell(first_use(d.keys(), d.normalized_keys(), i), why)
            }
            t => t,
        })?;
        if values.is_empty() {
            return Ok(vec![Value::Null; a.len()]);
        }
        let keys = d.normalized_keys();
        return Ok((0..a.len())
            .map(|i| {
                if a.is_null(i) {
                    Value::Null
                } else {
                    values.get(keys[i]).cloned().unwrap_or(Value::Null)
                }
            })
            .collect());
    }
    let mismatch = || {
        ColumnError::Type(format!(
            "{} in the file cannot be read as {ty}; write it as {}",
            a.data_type(),
            suggestion(ty)
        ))
    };
    let opt = |v: Option<Value>| v.unwrap_or(Value::Null);
    Ok(match ty {
        FeatureType::Int64 => integers(a)
            .ok_or_else(mismatch)?
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                None => Ok(Value::Null),
                Some(x) => i64::try_from(x)
                    .map(Value::Int64)
                    .map_err(|_| ColumnError::Cell(i, format!("{x} does not fit an int64"))),
            })
            .collect::<Result<_, _>>()?,
        FeatureType::Float64 | FeatureType::Float32 => {
            let vals = match floats(a) {
                Some(f) => f,
                None => integers(a)
                    .ok_or_else(mismatch)?
                    .into_iter()
                    .map(|v| v.map(|x| x as f64))
                    .collect(),
            };
            let f32s = ty == FeatureType::Float32;
            vals.into_iter()
                .map(|v| {
                    opt(v.map(|x| {
                        if f32s {
                            Value::Float32(x as f32)
                        } else {
                            Value::Float64(x)
                        }
                    }))
                })
                .collect()
        }
        FeatureType::Bool => a
            .as_boolean_opt()
            .ok_or_else(mismatch)?
            .iter()
            .map(|v| opt(v.map(Value::Bool)))
            .collect(),
        FeatureType::String => {
            let s = |v: Option<&str>| opt(v.map(|s| Value::String(s.to_string())));
            match a.data_type() {
                DataType::Utf8 => a.as_string::<i32>().iter().map(s).collect(),
                DataType::LargeUtf8 => a.as_string::<i64>().iter().map(s).collect(),
                DataType::Utf8View => a.as_string_view().iter().map(s).collect(),
                _ => return Err(mismatch()),
            }
        }
        FeatureType::Bytes => {
            let b = |v: Option<&[u8]>| opt(v.map(|b| Value::Bytes(b.to_vec())));
            match a.data_type() {
                DataType::Binary => a.as_binary::<i32>().iter().map(b).collect(),
                DataType::LargeBinary => a.as_binary::<i64>().iter().map(b).collect(),
                DataType::BinaryView => a.as_binary_view().iter().map(b).collect(),
                DataType::FixedSizeBinary(_) => a.as_fixed_size_binary().iter().map(b).collect(),
                _ => return Err(mismatch()),
            }
        }
        FeatureType::Timestamp => timestamps(a)
            .ok_or_else(mismatch)??
            .into_iter()
            .map(|v| opt(v.map(Value::Timestamp)))
            .collect(),
        FeatureType::ListFloat32 => {
            let (items, spans) = list_items(a).ok_or_else(mismatch)?;
            let mut out = Vec::with_capacity(spans.len());
            for (i, (start, end)) in spans.into_iter().enumerate() {
                if a.is_null(i) {
                    out.push(Value::Null);
                    continue;
                }
                let mut list = Vec::with_capacity(end - start);
                for (j, item) in items.get(start..end).unwrap_or(&[]).iter().enumerate() {
                    let x = item.ok_or_else(|| {
                        ColumnError::Cell(
                            i,
                            format!(
                                "item {} of the list is null; list items cannot be null",
                                j + 1
                            ),
                        )
                    })?;
                    list.push(x as f32);
                }
                out.push(Value::ListFloat32(list));
            }
            out
        }
    })
}

/// The first row of a dictionary array whose key is `index`.
fn first_use(keys: &dyn Array, normalized: Vec<usize>, index: usize) -> usize {
    normalized
        .iter()
        .enumerate()
        .position(|(i, k)| *k == index && !keys.is_null(i))
        .unwrap_or(0)
}

#[cfg(test)]
#[path = "parquet_tests.rs"]
mod tests;
