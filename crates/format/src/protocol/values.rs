//! Primitive encodings shared by the message bodies.
//!
//! - `str`: varint byte length, UTF-8 bytes.
//! - `opt_i64`: one byte `0` (absent) or `1` followed by an `i64` LE.
//! - key value: a [`KeyType`] tag, then `int64` as 8 bytes LE or `string` as
//!   a `str`.
//! - typed value ([`put_value`]): the value alone, its type known from the
//!   context: `int64`, `timestamp`, `float64` 8 bytes LE; `float32` 4; `bool`
//!   one byte 0 or 1; `string`, `bytes` varint length and bytes;
//!   lists and maps as [`crate::collection`] encodes them (the same bytes as
//!   in a row).
//! - tagged value ([`put_tagged_value`]): a tag byte, `0` for null or the
//!   [`FeatureType`] tag, then the typed value.

use crate::DecodeError;
use crate::collection::{get_collection, put_collection};
use crate::error::Reader;
use crate::row::MAX_FIELD_LEN;
use crate::schema::{FeatureType, KeyType, KeyValue, Value};
use crate::varint;

use super::frame::WireError;

pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    varint::put(out, b.len() as u64);
    out.extend_from_slice(b);
}

pub fn get_bytes<'a>(r: &mut Reader<'a>, max: usize) -> Result<&'a [u8], WireError> {
    let n = r.varint()?;
    if n > max as u64 {
        return Err(WireError::Limit {
            what: "string length",
            count: n,
            limit: max,
        });
    }
    Ok(r.bytes(n as usize)?)
}

pub fn get_str<'a>(r: &mut Reader<'a>, max: usize) -> Result<&'a str, WireError> {
    let at = r.pos();
    let b = get_bytes(r, max)?;
    std::str::from_utf8(b)
        .map_err(|_| WireError::Decode(DecodeError::invalid(r.what(), at, "string is not UTF-8")))
}

pub fn get_string(r: &mut Reader<'_>, max: usize) -> Result<String, WireError> {
    get_str(r, max).map(str::to_string)
}

/// A count of elements that take at least `min_size` bytes each: bounded by
/// `limit` and by the bytes left, so that reserving it is safe.
pub fn get_count(
    r: &mut Reader<'_>,
    what: &'static str,
    limit: usize,
    min_size: usize,
) -> Result<usize, WireError> {
    let at = r.pos();
    let n = r.varint()?;
    if n > limit as u64 {
        return Err(WireError::Limit {
            what,
            count: n,
            limit,
        });
    }
    let need = n.saturating_mul(min_size.max(1) as u64);
    if need > r.remaining() as u64 {
        return Err(WireError::Decode(DecodeError::invalid(
            r.what(),
            at,
            format!(
                "{what} {n} needs at least {need} bytes, {} left",
                r.remaining()
            ),
        )));
    }
    Ok(n as usize)
}

pub fn put_opt_i64(out: &mut Vec<u8>, v: Option<i64>) {
    match v {
        None => out.push(0),
        Some(t) => {
            out.push(1);
            out.extend_from_slice(&t.to_le_bytes());
        }
    }
}

pub fn get_opt_i64(r: &mut Reader<'_>) -> Result<Option<i64>, WireError> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(r.i64()?)),
        b => Err(r.invalid(format!("option tag {b} (0 or 1)")).into()),
    }
}

pub fn get_bool(r: &mut Reader<'_>) -> Result<bool, WireError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        b => Err(r.invalid(format!("bool byte {b} (0 or 1)")).into()),
    }
}

pub fn key_type(b: u8) -> Option<KeyType> {
    match b {
        1 => Some(KeyType::Int64),
        2 => Some(KeyType::String),
        _ => None,
    }
}

pub fn feature_type(b: u8) -> Option<FeatureType> {
    FeatureType::from_u8(b)
}

pub fn get_key_type(r: &mut Reader<'_>) -> Result<KeyType, WireError> {
    let b = r.u8()?;
    key_type(b).ok_or_else(|| r.invalid(format!("key type tag {b}")).into())
}

pub fn get_feature_type(r: &mut Reader<'_>) -> Result<FeatureType, WireError> {
    let b = r.u8()?;
    feature_type(b).ok_or_else(|| r.invalid(format!("feature type tag {b}")).into())
}

pub fn put_key_value(out: &mut Vec<u8>, k: &KeyValue) {
    out.push(k.key_type() as u8);
    match k {
        KeyValue::Int64(v) => out.extend_from_slice(&v.to_le_bytes()),
        KeyValue::String(s) => put_str(out, s),
    }
}

pub fn get_key_value(r: &mut Reader<'_>, max_len: usize) -> Result<KeyValue, WireError> {
    Ok(match get_key_type(r)? {
        KeyType::Int64 => KeyValue::Int64(r.i64()?),
        KeyType::String => KeyValue::String(get_string(r, max_len)?),
    })
}

/// Appends `v`, which must be of type `ty` (not null).
pub fn put_value(out: &mut Vec<u8>, ty: FeatureType, v: &Value) -> Result<(), String> {
    match (ty, v) {
        (FeatureType::Int64, Value::Int64(x)) | (FeatureType::Timestamp, Value::Timestamp(x)) => {
            out.extend_from_slice(&x.to_le_bytes())
        }
        (FeatureType::Float64, Value::Float64(x)) => out.extend_from_slice(&x.to_le_bytes()),
        (FeatureType::Float32, Value::Float32(x)) => out.extend_from_slice(&x.to_le_bytes()),
        (FeatureType::Bool, Value::Bool(x)) => out.push(u8::from(*x)),
        (FeatureType::String, Value::String(s)) => put_str(out, s),
        (FeatureType::Bytes, Value::Bytes(b)) => put_bytes(out, b),
        (ty, v) if ty.is_collection() && v.feature_type() == Some(ty) => {
            put_collection(out, v)?;
        }
        (ty, v) => {
            return Err(format!(
                "a {} value where a {ty} is expected",
                v.feature_type().map_or("null", FeatureType::name)
            ));
        }
    }
    Ok(())
}

/// Reads a non-null value of type `ty`.
pub fn get_value(r: &mut Reader<'_>, ty: FeatureType) -> Result<Value, WireError> {
    Ok(match ty {
        FeatureType::Int64 => Value::Int64(r.i64()?),
        FeatureType::Timestamp => Value::Timestamp(r.i64()?),
        FeatureType::Float64 => Value::Float64(f64::from_le_bytes(r.array()?)),
        FeatureType::Float32 => Value::Float32(f32::from_le_bytes(r.array()?)),
        FeatureType::Bool => Value::Bool(get_bool(r)?),
        FeatureType::String => Value::String(get_string(r, MAX_FIELD_LEN)?),
        FeatureType::Bytes => Value::Bytes(get_bytes(r, MAX_FIELD_LEN)?.to_vec()),
        FeatureType::ListFloat32
        | FeatureType::ListString
        | FeatureType::ListInt64
        | FeatureType::ListFloat64
        | FeatureType::MapStringInt64
        | FeatureType::MapStringFloat64 => match get_collection(r, ty) {
            Some(v) => v?,
            None => return Err(r.invalid(format!("{ty} is not a list")).into()),
        },
    })
}

/// Appends a tag (0 = null, else the type) and the value.
pub fn put_tagged_value(out: &mut Vec<u8>, v: &Value) {
    match v.feature_type() {
        None => out.push(0),
        Some(ty) => {
            out.push(ty as u8);
            // Cannot fail: the type is the value's own.
            let _ = put_value(out, ty, v);
        }
    }
}

pub fn get_tagged_value(r: &mut Reader<'_>) -> Result<Value, WireError> {
    match r.u8()? {
        0 => Ok(Value::Null),
        b => match feature_type(b) {
            Some(ty) => get_value(r, ty),
            None => Err(r.invalid(format!("value tag {b}")).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_values() -> Vec<Value> {
        vec![
            Value::Null,
            Value::Int64(-3),
            Value::Float64(1.5),
            Value::Float32(-0.25),
            Value::Bool(true),
            Value::String("héllo".into()),
            Value::Bytes(vec![0, 255]),
            Value::Timestamp(1_700_000_000_000_000),
            Value::ListFloat32(vec![1.0, 2.0]),
            Value::ListString(vec!["a".into(), "bc".into()]),
            Value::ListInt64(vec![-1, 2]),
            Value::ListFloat64(vec![0.5]),
            Value::MapStringInt64(vec![("k".into(), 4)]),
            Value::MapStringFloat64(vec![("k".into(), 0.5)]),
        ]
    }

    #[test]
    fn tagged_values_round_trip() {
        let mut out = Vec::new();
        for v in all_values() {
            put_tagged_value(&mut out, &v);
        }
        let mut r = Reader::new(&out, "test");
        for v in all_values() {
            assert_eq!(get_tagged_value(&mut r).unwrap(), v);
        }
        assert!(r.is_empty());
    }

    #[test]
    fn counts_are_bounded_by_limit_and_bytes() {
        let mut out = Vec::new();
        varint::put(&mut out, 1000);
        out.extend_from_slice(&[0; 10]);
        let mut r = Reader::new(&out, "test");
        assert!(matches!(
            get_count(&mut r, "rows", 999, 1),
            Err(WireError::Limit { count: 1000, .. })
        ));
        let mut r = Reader::new(&out, "test");
        assert!(matches!(
            get_count(&mut r, "rows", 5000, 1),
            Err(WireError::Decode(_))
        ));
    }

    #[test]
    fn wrong_type_is_refused() {
        let mut out = Vec::new();
        assert!(put_value(&mut out, FeatureType::Int64, &Value::Float64(1.0)).is_err());
        assert!(put_value(&mut out, FeatureType::Int64, &Value::Null).is_err());
        let mut r = Reader::new(&[2u8], "test");
        assert!(get_bool(&mut r).is_err());
    }
}
