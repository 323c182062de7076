//! The encoding of list and map values, shared by rows ([`crate::row`]) and
//! the wire protocol's typed values ([`crate::protocol`]):
//!
//! | type                | bytes                                                  |
//! |---------------------|--------------------------------------------------------|
//! | `list<float32>`     | varint count, count × 4 bytes LE                       |
//! | `list<float64>`     | varint count, count × 8 bytes LE IEEE 754              |
//! | `list<int64>`       | varint count, count × 8 bytes LE two's complement      |
//! | `list<string>`      | varint count, count × (varint length, UTF-8 bytes)     |
//! | `map<string,int64>` | varint count, count × (varint length, UTF-8, 8 bytes LE) |
//! | `map<string,float64>` | varint count, count × (varint length, UTF-8, 8 bytes LE IEEE 754) |
//!
//! A count is at most [`MAX_FIELD_LEN`] items and so is each string's
//! length. Map keys are distinct; the entries keep their order.

use crate::error::{DecodeError, Reader};
use crate::row::MAX_FIELD_LEN;
use crate::schema::{FeatureType, Value};
use crate::varint;

/// Appends a list or map value; `Ok(false)` if `v` is not one (the caller
/// encodes it), an error if it is too long or a map repeats a key.
pub fn put_collection(out: &mut Vec<u8>, v: &Value) -> Result<bool, String> {
    let count = match v {
        Value::ListFloat32(l) => l.len(),
        Value::ListFloat64(l) => l.len(),
        Value::ListInt64(l) => l.len(),
        Value::ListString(l) => l.len(),
        Value::MapStringInt64(m) => m.len(),
        Value::MapStringFloat64(m) => m.len(),
        _ => return Ok(false),
    };
    if count > MAX_FIELD_LEN {
        return Err(format!("list longer than {MAX_FIELD_LEN} items"));
    }
    varint::put(out, count as u64);
    match v {
        Value::ListFloat32(l) => l
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Value::ListFloat64(l) => l
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Value::ListInt64(l) => l
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Value::ListString(l) => {
            for s in l {
                put_str(out, s)?;
            }
        }
        Value::MapStringInt64(m) => put_map(out, m, i64::to_le_bytes)?,
        Value::MapStringFloat64(m) => put_map(out, m, f64::to_le_bytes)?,
        _ => {}
    }
    Ok(true)
}

/// A map's entries, each its key and its value's 8 bytes; refused if a key
/// repeats.
fn put_map<T: Copy>(
    out: &mut Vec<u8>,
    m: &[(String, T)],
    le_bytes: fn(T) -> [u8; 8],
) -> Result<(), String> {
    if let Some(k) = repeated_key(m) {
        return Err(format!("map key {k:?} appears twice"));
    }
    for (k, v) in m {
        put_str(out, k)?;
        out.extend_from_slice(&le_bytes(*v));
    }
    Ok(())
}

fn put_str(out: &mut Vec<u8>, s: &str) -> Result<(), String> {
    if s.len() > MAX_FIELD_LEN {
        return Err(format!("list item longer than {MAX_FIELD_LEN} bytes"));
    }
    varint::put(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// The first key of `m` that another entry repeats.
pub fn repeated_key<T>(m: &[(String, T)]) -> Option<&str> {
    if m.len() < 2 {
        return None;
    }
    let mut keys: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

/// Reads a value of collection type `ty` (see [`FeatureType::is_collection`]);
/// `None` for any other type.
pub(crate) fn get_collection(
    r: &mut Reader<'_>,
    ty: FeatureType,
) -> Option<Result<Value, DecodeError>> {
    let min_item = match ty {
        FeatureType::ListFloat32 => 4,
        FeatureType::ListFloat64 | FeatureType::ListInt64 => 8,
        FeatureType::ListString => 1,
        FeatureType::MapStringInt64 | FeatureType::MapStringFloat64 => 9,
        _ => return None,
    };
    Some(read_collection(r, ty, min_item))
}

fn read_collection(
    r: &mut Reader<'_>,
    ty: FeatureType,
    min_item: usize,
) -> Result<Value, DecodeError> {
    let count = r.len(MAX_FIELD_LEN)?;
    // Bounded by the bytes left before anything is reserved.
    if count.saturating_mul(min_item) > r.remaining() {
        return Err(r.invalid(format!(
            "a list of {count} items needs at least {} bytes, {} left",
            count.saturating_mul(min_item),
            r.remaining()
        )));
    }
    Ok(match ty {
        FeatureType::ListFloat32 => {
            let raw = r.bytes(count * 4)?;
            Value::ListFloat32(
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            )
        }
        FeatureType::ListFloat64 => Value::ListFloat64(items(r, count, get_f64)?),
        FeatureType::ListInt64 => Value::ListInt64(items(r, count, Reader::i64)?),
        FeatureType::ListString => Value::ListString(items(r, count, get_str)?),
        FeatureType::MapStringFloat64 => Value::MapStringFloat64(map(r, count, get_f64)?),
        _ => Value::MapStringInt64(map(r, count, Reader::i64)?),
    })
}

/// `count` items, each read by `item`.
fn items<'r, T>(
    r: &mut Reader<'r>,
    count: usize,
    item: impl Fn(&mut Reader<'r>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let mut l = Vec::with_capacity(count);
    for _ in 0..count {
        l.push(item(r)?);
    }
    Ok(l)
}

/// `count` map entries, each a key and a value read by `value`; refused if
/// a key repeats.
fn map<'r, T>(
    r: &mut Reader<'r>,
    count: usize,
    value: impl Fn(&mut Reader<'r>) -> Result<T, DecodeError>,
) -> Result<Vec<(String, T)>, DecodeError> {
    let m = items(r, count, |r| Ok((get_str(r)?, value(r)?)))?;
    if let Some(k) = repeated_key(&m) {
        return Err(r.invalid(format!("map key {k:?} appears twice")));
    }
    Ok(m)
}

fn get_f64(r: &mut Reader<'_>) -> Result<f64, DecodeError> {
    Ok(f64::from_le_bytes(r.array()?))
}

fn get_str(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let len = r.len(MAX_FIELD_LEN)?;
    let b = r.bytes(len)?;
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|_| r.invalid("list item is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_round_trip_and_refuse_damage() {
        let values = [
            Value::ListFloat32(vec![1.0, -2.5]),
            Value::ListFloat64(vec![0.1, f64::MAX]),
            Value::ListInt64(vec![i64::MIN, 0, 7]),
            Value::ListString(vec!["a".into(), String::new(), "é".into()]),
            Value::MapStringInt64(vec![("x".into(), 3), ("".into(), -1)]),
            Value::MapStringFloat64(vec![("b".into(), 2.5), ("a".into(), -0.0)]),
            Value::ListString(vec![]),
        ];
        for v in values {
            let mut out = Vec::new();
            assert_eq!(put_collection(&mut out, &v), Ok(true));
            let ty = v.feature_type().unwrap();
            let mut r = Reader::new(&out, "test");
            assert_eq!(get_collection(&mut r, ty).unwrap().unwrap(), v);
            assert!(r.is_empty());
            for cut in 0..out.len() {
                let mut r = Reader::new(&out[..cut], "test");
                assert!(
                    get_collection(&mut r, ty).unwrap().is_err(),
                    "{v:?} cut at {cut}"
                );
            }
        }
        assert_eq!(put_collection(&mut Vec::new(), &Value::Int64(1)), Ok(false));
        let dup = Value::MapStringInt64(vec![("a".into(), 1), ("a".into(), 2)]);
        assert!(put_collection(&mut Vec::new(), &dup).is_err());
        let dup = Value::MapStringFloat64(vec![("a".into(), 1.0), ("a".into(), 2.0)]);
        assert!(put_collection(&mut Vec::new(), &dup).is_err());
    }

    #[test]
    fn huge_counts_are_refused_before_reserving() {
        let mut out = Vec::new();
        varint::put(&mut out, 1 << 20);
        let mut r = Reader::new(&out, "test");
        assert!(
            get_collection(&mut r, FeatureType::ListInt64)
                .unwrap()
                .is_err()
        );
    }
}
