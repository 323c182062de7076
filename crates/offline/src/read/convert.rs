//! Arrow arrays (of any reader) into typed [`Value`]s: the one place that
//! says which Arrow types a feature type accepts, used by ingest and by the
//! export's entity table alike.
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
//! | `list<T>`       | List, LargeList or FixedSizeList of what `T` accepts (items never null) |
//! | `map<string,int64>` | Map of what `string` and `int64` accept (keys distinct, values never null) |
//! | any             | Null (all values null: what pandas writes for an all-`None` column) |
//!
//! Join keys follow the `int64` and `string` rows; `event_timestamp` and
//! `created_timestamp` the `timestamp` row. Nanosecond timestamps are
//! truncated toward the past to microseconds.

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_schema::{DataType, TimeUnit};

use crate::collections::{item_types, list_value};
use strata_format::schema::{FeatureType, KeyType, Value};

/// Why a column could not be converted.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnError {
    /// The column's Arrow type cannot hold the wanted type.
    Type(String),
    /// One cell (0-based index in the array) is out of range or malformed.
    Cell(usize, String),
}

/// The feature type whose Arrow types a join key of type `t` accepts.
pub fn key_feature_type(t: KeyType) -> FeatureType {
    match t {
        KeyType::Int64 => FeatureType::Int64,
        KeyType::String => FeatureType::String,
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
        FeatureType::ListFloat64 => "List<Float64>",
        FeatureType::ListInt64 => "List<Int64>",
        FeatureType::ListString => "List<Utf8>",
        FeatureType::MapStringInt64 => "Map<Utf8, Int64>",
        FeatureType::MapStringFloat64 => "Map<Utf8, Float64>",
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

/// The values of a timestamp-like array in microseconds since the epoch,
/// one per slot (a null slot's value is unspecified); `None` if the type
/// is not timestamp-like. The one rule for instants in Arrow, for ingest
/// and for the export's event times: any `Timestamp` unit with or without
/// a zone (nanoseconds truncated toward the past), `Int64` microseconds,
/// `Date32` (midnight UTC) and `Date64`.
pub fn micros(a: &dyn Array) -> Option<Result<Vec<i64>, ColumnError>> {
    let scaled = |vals: &[i64], mul: i64, unit: &str| -> Result<Vec<i64>, ColumnError> {
        vals.iter()
            .enumerate()
            .map(|(i, &x)| match x.checked_mul(mul) {
                Some(t) => Ok(t),
                None if a.is_null(i) => Ok(0),
                None => Err(ColumnError::Cell(
                    i,
                    format!("{unit} {x} is out of range for microseconds since the epoch"),
                )),
            })
            .collect()
    };
    Some(match a.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => scaled(
            a.as_primitive::<TimestampSecondType>().values(),
            1_000_000,
            "second",
        ),
        DataType::Timestamp(TimeUnit::Millisecond, _) => scaled(
            a.as_primitive::<TimestampMillisecondType>().values(),
            1_000,
            "millisecond",
        ),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Ok(a
            .as_primitive::<TimestampMicrosecondType>()
            .values()
            .to_vec()),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => Ok(a
            .as_primitive::<TimestampNanosecondType>()
            .values()
            .iter()
            .map(|x| x.div_euclid(1_000))
            .collect()),
        DataType::Int64 => Ok(a.as_primitive::<Int64Type>().values().to_vec()),
        DataType::Date32 => Ok(a
            .as_primitive::<Date32Type>()
            .values()
            .iter()
            .map(|&d| i64::from(d) * 86_400_000_000)
            .collect()),
        DataType::Date64 => scaled(
            a.as_primitive::<Date64Type>().values(),
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
    if a.data_type() == &DataType::Null {
        return Ok(vec![Value::Null; a.len()]);
    }
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
        FeatureType::Timestamp => micros(a)
            .ok_or_else(mismatch)??
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                if a.is_null(i) {
                    Value::Null
                } else {
                    Value::Timestamp(t)
                }
            })
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
        FeatureType::ListString | FeatureType::ListInt64 | FeatureType::ListFloat64 => {
            let (values, spans) = list_spans(a).ok_or_else(mismatch)?;
            let (item_ty, _) = item_types(ty).ok_or_else(mismatch)?;
            let items = convert(values, item_ty).map_err(|e| in_items(e, &spans, "list"))?;
            collection_rows(a, &spans, &items, |row| Ok(list_value(ty, row)))?
        }
        FeatureType::MapStringInt64 | FeatureType::MapStringFloat64 => {
            let m = a.as_map_opt().ok_or_else(mismatch)?;
            let offsets: Vec<usize> = m.value_offsets().iter().map(|&x| x as usize).collect();
            let spans: Vec<(usize, usize)> = offsets.windows(2).map(|w| (w[0], w[1])).collect();
            let keys = convert(m.keys().as_ref(), FeatureType::String)
                .map_err(|e| in_items(e, &spans, "map key"))?;
            let (_, value_ty) = item_types(ty).ok_or_else(mismatch)?;
            let values = convert(m.values().as_ref(), value_ty.unwrap_or(FeatureType::Int64))
                .map_err(|e| in_items(e, &spans, "map value"))?;
            let entries: Vec<Value> = keys
                .into_iter()
                .zip(values)
                .map(|(k, v)| match (k, v) {
                    (Value::String(k), Value::Int64(n)) => Value::MapStringInt64(vec![(k, n)]),
                    (Value::String(k), Value::Float64(x)) => Value::MapStringFloat64(vec![(k, x)]),
                    _ => Value::Null,
                })
                .collect();
            collection_rows(a, &spans, &entries, |row| map_row(ty, row))?
        }
    })
}

/// The map of one row from its single-entry maps.
fn map_row(ty: FeatureType, row: &[Value]) -> Result<Value, String> {
    if ty == FeatureType::MapStringFloat64 {
        let m = first_entries(row, |e| match e {
            Value::MapStringFloat64(kv) => kv.first().cloned(),
            _ => None,
        })?;
        return Ok(Value::MapStringFloat64(m));
    }
    let m = first_entries(row, |e| match e {
        Value::MapStringInt64(kv) => kv.first().cloned(),
        _ => None,
    })?;
    Ok(Value::MapStringInt64(m))
}

/// The `entry` of each single-entry map of a row; refused if a key repeats.
fn first_entries<T>(
    row: &[Value],
    entry: impl Fn(&Value) -> Option<(String, T)>,
) -> Result<Vec<(String, T)>, String> {
    let m: Vec<(String, T)> = row.iter().filter_map(entry).collect();
    match strata_format::collection::repeated_key(&m) {
        Some(k) => Err(format!("map key {k:?} appears twice")),
        None => Ok(m),
    }
}

/// An error converting the items of a list or map column, moved to the row
/// holding the item.
fn in_items(e: ColumnError, spans: &[(usize, usize)], what: &str) -> ColumnError {
    match e {
        ColumnError::Cell(j, why) => {
            let row = spans.iter().position(|(s, e)| (*s..*e).contains(&j));
            ColumnError::Cell(row.unwrap_or(0), format!("a {what}: {why}"))
        }
        ColumnError::Type(why) => ColumnError::Type(format!("the {what}s: {why}")),
    }
}

/// One value per row of a list or map array `a`: null rows null, the others
/// `make(items of the row)`, refused if an item is null.
fn collection_rows(
    a: &dyn Array,
    spans: &[(usize, usize)],
    items: &[Value],
    make: impl Fn(&[Value]) -> Result<Value, String>,
) -> Result<Vec<Value>, ColumnError> {
    let mut out = Vec::with_capacity(spans.len());
    for (i, &(start, end)) in spans.iter().enumerate() {
        if a.is_null(i) {
            out.push(Value::Null);
            continue;
        }
        let row = items.get(start..end).unwrap_or(&[]);
        if let Some(j) = row.iter().position(Value::is_null) {
            return Err(ColumnError::Cell(
                i,
                format!(
                    "item {} is null; list items and map values cannot be null",
                    j + 1
                ),
            ));
        }
        out.push(make(row).map_err(|why| ColumnError::Cell(i, why))?);
    }
    Ok(out)
}

/// The first row of a dictionary array whose key is `index`.
fn first_use(keys: &dyn Array, normalized: Vec<usize>, index: usize) -> usize {
    normalized
        .iter()
        .enumerate()
        .position(|(i, k)| *k == index && !keys.is_null(i))
        .unwrap_or(0)
}
