//! Cells of the text formats (a CSV cell, a JSON Lines field) read as one
//! of the [`CellType`]s, and the Arrow builders they are appended to. The
//! one set of rules and messages for cells, whoever reads the file.
//!
//! Text (CSV): an empty cell is null (so an empty string cannot be written
//! from CSV; a timestamp cell of only spaces is null too); integers and
//! floats as decimal text (`nan`, `inf` accepted for floats; spaces around
//! numbers ignored); `bool` as `true`/`false`/`1`/`0` (any case); strings
//! verbatim; bytes as **hex** (`0a1bff`, optionally prefixed with `0x`);
//! timestamps as [`crate::timestamp`] reads them; `list<float32>` as
//! `[1.0, 2.5]` or `1.0;2.5` (`[]` is the empty list); the other lists
//! and `map<string,int64>` as JSON text (`["a","b"]`, `[1,2]`,
//! `{"a":3,"b":1}`), the form CSV export writes.
//!
//! JSON: `null` is null; integers for `int64`, any number for floats,
//! `true`/`false`, strings, hex strings for bytes, integer microseconds or
//! text for timestamps, arrays of numbers or strings for lists (items never
//! null), objects of integers for maps (entries in key order).

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float32Builder, Float64Builder, Int64Builder, ListBuilder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_schema::{DataType, Field, TimeUnit};
use serde_json::Value as Json;

use crate::collections::{CollectionBuilder, collection_arrow_type};
use crate::timestamp;
use strata_format::schema::{FeatureType, KeyType, Value};

/// What a text cell or JSON value is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellType {
    Int64,
    Float64,
    Float32,
    Bool,
    Utf8,
    /// Bytes, written as hex text.
    Binary,
    /// Microseconds since the epoch, UTC.
    Timestamp,
    ListFloat32,
    /// `list<string>`, `list<int64>`, `list<float64>` or `map<string,int64>`.
    Collection(FeatureType),
}

impl CellType {
    /// The cell type of a feature type.
    pub fn of(ty: FeatureType) -> CellType {
        match ty {
            FeatureType::Int64 => CellType::Int64,
            FeatureType::Float64 => CellType::Float64,
            FeatureType::Float32 => CellType::Float32,
            FeatureType::Bool => CellType::Bool,
            FeatureType::String => CellType::Utf8,
            FeatureType::Bytes => CellType::Binary,
            FeatureType::Timestamp => CellType::Timestamp,
            FeatureType::ListFloat32 => CellType::ListFloat32,
            FeatureType::ListString
            | FeatureType::ListInt64
            | FeatureType::ListFloat64
            | FeatureType::MapStringInt64
            | FeatureType::MapStringFloat64 => CellType::Collection(ty),
        }
    }

    /// The cell type of a join key's type.
    pub fn of_key(ty: KeyType) -> CellType {
        match ty {
            KeyType::Int64 => CellType::Int64,
            KeyType::String => CellType::Utf8,
        }
    }

    /// The Arrow type of a column of such cells.
    pub fn arrow(self) -> DataType {
        match self {
            CellType::Int64 => DataType::Int64,
            CellType::Float64 => DataType::Float64,
            CellType::Float32 => DataType::Float32,
            CellType::Bool => DataType::Boolean,
            CellType::Utf8 => DataType::Utf8,
            CellType::Binary => DataType::Binary,
            CellType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            CellType::ListFloat32 => {
                DataType::List(Arc::new(Field::new_list_field(DataType::Float32, true)))
            }
            CellType::Collection(ty) => collection_arrow_type(ty).unwrap_or(DataType::Null),
        }
    }
}

/// One cell, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    F64(f64),
    F32(f32),
    Bool(bool),
    Str(&'a str),
    Bytes(Vec<u8>),
    Time(i64),
    List(Vec<f32>),
    /// A list or map value.
    Value(Value),
}

/// The text of a cell in an error message, quoted and shortened.
pub(crate) fn quote(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        return format!("{text:?}");
    }
    let short: String = text.chars().take(MAX).collect();
    format!("{short:?}...")
}

/// Reads a text cell as `ty`; an empty cell is [`Cell::Null`].
pub fn parse_text(ty: CellType, text: &str) -> Result<Cell<'_>, String> {
    let t = text.trim();
    if text.is_empty() || (ty == CellType::Timestamp && t.is_empty()) {
        return Ok(Cell::Null);
    }
    let not = |what: &str| format!("{} is not {what}", quote(text));
    Ok(match ty {
        CellType::Int64 => Cell::Int(t.parse().map_err(|_| not("an int64"))?),
        CellType::Float64 => Cell::F64(t.parse().map_err(|_| not("a float64"))?),
        CellType::Float32 => Cell::F32(t.parse().map_err(|_| not("a float32"))?),
        CellType::Bool => match t.to_ascii_lowercase().as_str() {
            "true" | "1" => Cell::Bool(true),
            "false" | "0" => Cell::Bool(false),
            _ => return Err(not("a bool (true, false, 1 or 0)")),
        },
        CellType::Utf8 => Cell::Str(text),
        CellType::Binary => {
            Cell::Bytes(parse_hex(t).map_err(|e| format!("{} is not hex bytes: {e}", quote(text)))?)
        }
        CellType::Timestamp => Cell::Time(
            timestamp::parse(t).map_err(|e| format!("{} is not a timestamp: {e}", quote(text)))?,
        ),
        CellType::ListFloat32 => Cell::List(parse_list(t).map_err(|e| {
            format!(
                "{} is not a list<float32> ({e}); write [1.0, 2.5] or 1.0;2.5",
                quote(text)
            )
        })?),
        CellType::Collection(ty) => {
            let json: Json = serde_json::from_str(t).map_err(|e| {
                format!(
                    "{} is not a {ty} written as JSON ({e}); write {}",
                    quote(text),
                    json_example(ty)
                )
            })?;
            Cell::Value(collection_from_json(ty, &json)?)
        }
    })
}

fn json_example(ty: FeatureType) -> &'static str {
    match ty {
        FeatureType::ListString => r#"["a","b"]"#,
        FeatureType::ListInt64 => "[1,2]",
        FeatureType::MapStringInt64 => r#"{"a":3,"b":1}"#,
        FeatureType::MapStringFloat64 => r#"{"a":2.5,"b":1}"#,
        _ => "[1.5,2.0]",
    }
}

/// A JSON object (`an object of ...`, as the error says) as the entries
/// of a map of type `ty`, each value read by `value` (`None`: not `a_value`).
fn map_from_json<T>(
    ty: FeatureType,
    v: &Json,
    an_object_of: &str,
    a_value: &str,
    value: impl Fn(&Json) -> Option<T>,
) -> Result<Vec<(String, T)>, String> {
    let o = v
        .as_object()
        .ok_or_else(|| format!("{} is not a {ty} ({an_object_of})", short(v)))?;
    o.iter()
        .map(|(k, x)| match value(x) {
            Some(x) => Ok((k.clone(), x)),
            None => Err(format!(
                "the value of {k:?}, {}, is not {a_value}",
                short(x)
            )),
        })
        .collect()
}

/// A JSON array or object as a list or map value of type `ty`.
fn collection_from_json(ty: FeatureType, v: &Json) -> Result<Value, String> {
    let item =
        |i: usize, x: &Json, what: &str| format!("item {} {} is not {what}", i + 1, short(x));
    match ty {
        FeatureType::MapStringInt64 => {
            let m = map_from_json(ty, v, "an object of integers", "an int64", Json::as_i64)?;
            return Ok(Value::MapStringInt64(m));
        }
        FeatureType::MapStringFloat64 => {
            let m = map_from_json(ty, v, "an object of numbers", "a number", Json::as_f64)?;
            return Ok(Value::MapStringFloat64(m));
        }
        _ => {}
    }
    let a = v
        .as_array()
        .ok_or_else(|| format!("{} is not a {ty} (an array)", short(v)))?;
    let items = a.iter().enumerate();
    Ok(match ty {
        FeatureType::ListString => Value::ListString(
            items
                .map(|(i, x)| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| item(i, x, "a string"))
                })
                .collect::<Result<_, _>>()?,
        ),
        FeatureType::ListInt64 => Value::ListInt64(
            items
                .map(|(i, x)| x.as_i64().ok_or_else(|| item(i, x, "an int64")))
                .collect::<Result<_, _>>()?,
        ),
        _ => Value::ListFloat64(
            items
                .map(|(i, x)| x.as_f64().ok_or_else(|| item(i, x, "a number")))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// A JSON value in an error message, shortened.
pub(crate) fn short(v: &Json) -> String {
    let t = v.to_string();
    if t.chars().count() > 60 {
        format!("{}...", t.chars().take(60).collect::<String>())
    } else {
        t
    }
}

/// Reads a JSON value as `ty`; `null` is [`Cell::Null`].
pub fn from_json(ty: CellType, v: &Json) -> Result<Cell<'_>, String> {
    if v.is_null() {
        return Ok(Cell::Null);
    }
    let not = |what: &str| format!("{} is not {what}", short(v));
    Ok(match ty {
        CellType::Int64 => Cell::Int(v.as_i64().ok_or_else(|| not("an int64"))?),
        CellType::Float64 => Cell::F64(v.as_f64().ok_or_else(|| not("a float64"))?),
        CellType::Float32 => Cell::F32(v.as_f64().ok_or_else(|| not("a float32"))? as f32),
        CellType::Bool => Cell::Bool(v.as_bool().ok_or_else(|| not("a bool"))?),
        CellType::Utf8 => Cell::Str(v.as_str().ok_or_else(|| not("a string"))?),
        CellType::Binary => {
            let s = v.as_str().ok_or_else(|| not("hex bytes"))?;
            Cell::Bytes(parse_hex(s).map_err(|e| format!("{} is not hex bytes: {e}", short(v)))?)
        }
        CellType::Timestamp => Cell::Time(match v {
            Json::Number(n) => n
                .as_i64()
                .ok_or_else(|| format!("{n} is not integer microseconds"))?,
            Json::String(s) => timestamp::parse(s)
                .map_err(|e| format!("{:?} is not a timestamp: {e}", short(v)))?,
            _ => return Err(format!("{} is not a timestamp", short(v))),
        }),
        CellType::ListFloat32 => Cell::List(
            v.as_array()
                .ok_or_else(|| not("a list<float32> (an array of numbers)"))?
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    x.as_f64()
                        .map(|f| f as f32)
                        .ok_or_else(|| format!("item {} {} is not a number", i + 1, short(x)))
                })
                .collect::<Result<_, _>>()?,
        ),
        CellType::Collection(ty) => Cell::Value(collection_from_json(ty, v)?),
    })
}

/// Hex text (optionally `0x`-prefixed) to bytes.
pub fn parse_hex(t: &str) -> Result<Vec<u8>, String> {
    let h = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if !h.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    let digit = |c: u8| -> Result<u8, String> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(format!("{:?} is not a hex digit", c as char)),
        }
    };
    h.as_bytes()
        .chunks_exact(2)
        .map(|p| match p {
            [hi, lo] => Ok(digit(*hi)? << 4 | digit(*lo)?),
            _ => Err("odd number of hex digits".into()),
        })
        .collect()
}

/// Bytes to lower-case hex (the inverse of [`parse_hex`], without prefix).
pub fn to_hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(DIGITS[(x >> 4) as usize] as char);
        s.push(DIGITS[(x & 15) as usize] as char);
    }
    s
}

fn parse_list(t: &str) -> Result<Vec<f32>, String> {
    let inner = match t.strip_prefix('[') {
        Some(rest) => rest.strip_suffix(']').ok_or("a [ without its closing ]")?,
        None if t.ends_with(']') => return Err("a ] without its opening [".into()),
        None => t,
    };
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    inner
        .split([',', ';'])
        .enumerate()
        .map(|(i, item)| {
            let item = item.trim();
            item.parse::<f32>()
                .map_err(|_| format!("item {} {item:?} is not a number", i + 1))
        })
        .collect()
}

/// An Arrow builder for one column of cells.
pub(crate) enum Builder {
    Int(Int64Builder),
    F64(Float64Builder),
    F32(Float32Builder),
    Bool(BooleanBuilder),
    Str(StringBuilder),
    Bin(BinaryBuilder),
    Time(TimestampMicrosecondBuilder),
    List(ListBuilder<Float32Builder>),
    Collection(Box<CollectionBuilder>),
}

impl Builder {
    pub(crate) fn new(ty: CellType, rows: usize) -> Builder {
        match ty {
            CellType::Int64 => Builder::Int(Int64Builder::with_capacity(rows)),
            CellType::Float64 => Builder::F64(Float64Builder::with_capacity(rows)),
            CellType::Float32 => Builder::F32(Float32Builder::with_capacity(rows)),
            CellType::Bool => Builder::Bool(BooleanBuilder::with_capacity(rows)),
            CellType::Utf8 => Builder::Str(StringBuilder::with_capacity(rows, rows * 8)),
            CellType::Binary => Builder::Bin(BinaryBuilder::with_capacity(rows, rows * 8)),
            CellType::Timestamp => {
                Builder::Time(TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"))
            }
            CellType::ListFloat32 => {
                Builder::List(ListBuilder::with_capacity(Float32Builder::new(), rows))
            }
            CellType::Collection(ty) => match CollectionBuilder::new(ty, rows) {
                Some(b) => Builder::Collection(Box::new(b)),
                None => Builder::List(ListBuilder::with_capacity(Float32Builder::new(), rows)),
            },
        }
    }

    /// Appends a cell read as this builder's type ([`Cell::Null`], or a
    /// cell of another type, is a null).
    pub(crate) fn append(&mut self, cell: Cell<'_>) {
        match (self, cell) {
            (Builder::Int(b), Cell::Int(x)) => b.append_value(x),
            (Builder::F64(b), Cell::F64(x)) => b.append_value(x),
            (Builder::F32(b), Cell::F32(x)) => b.append_value(x),
            (Builder::Bool(b), Cell::Bool(x)) => b.append_value(x),
            (Builder::Str(b), Cell::Str(s)) => b.append_value(s),
            (Builder::Bin(b), Cell::Bytes(x)) => b.append_value(x),
            (Builder::Time(b), Cell::Time(t)) => b.append_value(t),
            (Builder::List(b), Cell::List(items)) => {
                b.values().append_slice(&items);
                b.append(true);
            }
            (Builder::Collection(b), Cell::Value(v)) => {
                if !b.push(&v) {
                    b.push_null();
                }
            }
            (Builder::Collection(b), _) => b.push_null(),
            (Builder::Int(b), _) => b.append_null(),
            (Builder::F64(b), _) => b.append_null(),
            (Builder::F32(b), _) => b.append_null(),
            (Builder::Bool(b), _) => b.append_null(),
            (Builder::Str(b), _) => b.append_null(),
            (Builder::Bin(b), _) => b.append_null(),
            (Builder::Time(b), _) => b.append_null(),
            (Builder::List(b), _) => b.append_null(),
        }
    }

    pub(crate) fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::F64(b) => Arc::new(b.finish()),
            Builder::F32(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::Bin(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
            Builder::List(b) => Arc::new(b.finish()),
            Builder::Collection(b) => b.finish(),
        }
    }
}

#[cfg(test)]
#[path = "cells_tests.rs"]
mod tests;
