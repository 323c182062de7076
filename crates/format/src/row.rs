//! Feature rows, encoded against a view's schema.
//!
//! ```text
//! row = n_fields: varint | null bitmap: ceil(n_fields / 8) bytes | values
//! ```
//!
//! Bit `i` of the bitmap (byte `i / 8`, bit `i % 8`) is set when field `i` is
//! null. Non-null values follow in field order:
//!
//! | type            | bytes                                   |
//! |-----------------|-----------------------------------------|
//! | `int64`         | 8, little-endian two's complement       |
//! | `timestamp`     | 8, little-endian µs since the epoch     |
//! | `float64`       | 8, little-endian IEEE 754               |
//! | `float32`       | 4, little-endian IEEE 754               |
//! | `bool`          | 1, `0` or `1`                           |
//! | `string`        | varint length, UTF-8 bytes              |
//! | `bytes`         | varint length, bytes                    |
//! | lists, maps     | see [`crate::collection`]               |
//!
//! `n_fields` lets a schema grow: a row written before nullable features were
//! appended to its view decodes with the new fields null. A row with more
//! fields than the schema is damage.

use super::collection::{get_collection, put_collection};
use super::error::{DecodeError, Reader};
use super::schema::{FeatureType, Value};
use super::varint;

/// Largest string, bytes value or list accepted in one field (bytes / items).
pub const MAX_FIELD_LEN: usize = 16 << 20;

/// Encodes `values` (one per schema field, in order) into `out` (cleared
/// first). Fails, naming the field index, if a value does not fit its type.
pub fn encode_row(
    schema: &[FeatureType],
    values: &[Value],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    out.clear();
    if schema.len() != values.len() {
        return Err(format!(
            "the row has {} value(s), the schema {} field(s)",
            values.len(),
            schema.len()
        ));
    }
    varint::put(out, schema.len() as u64);
    let bitmap_at = out.len();
    out.resize(bitmap_at + schema.len().div_ceil(8), 0);
    for (i, (ty, v)) in schema.iter().zip(values).enumerate() {
        match (ty, v) {
            (_, Value::Null) => out[bitmap_at + i / 8] |= 1 << (i % 8),
            (FeatureType::Int64, Value::Int64(x))
            | (FeatureType::Timestamp, Value::Timestamp(x)) => {
                out.extend_from_slice(&x.to_le_bytes())
            }
            (FeatureType::Float64, Value::Float64(x)) => out.extend_from_slice(&x.to_le_bytes()),
            (FeatureType::Float32, Value::Float32(x)) => out.extend_from_slice(&x.to_le_bytes()),
            (FeatureType::Bool, Value::Bool(x)) => out.push(u8::from(*x)),
            (FeatureType::String, Value::String(s)) => put_bytes(out, s.as_bytes(), i)?,
            (FeatureType::Bytes, Value::Bytes(b)) => put_bytes(out, b, i)?,
            (ty, v) if ty.is_collection() && v.feature_type() == Some(*ty) => {
                put_collection(out, v).map_err(|e| format!("field {i}: {e}"))?;
            }
            (ty, v) => {
                return Err(format!(
                    "field {i} is {ty}, got a {} value",
                    v.feature_type().map_or("null", FeatureType::name)
                ));
            }
        }
    }
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8], field: usize) -> Result<(), String> {
    if b.len() > MAX_FIELD_LEN {
        return Err(format!(
            "field {field}: value longer than {MAX_FIELD_LEN} bytes"
        ));
    }
    varint::put(out, b.len() as u64);
    out.extend_from_slice(b);
    Ok(())
}

/// The number of fields a row was written with (`n_fields`): a schema
/// field at or past it is one the row predates (a feature appended to the
/// view after the row was written, or one its input did not have).
pub fn stored_fields(buf: &[u8]) -> Result<usize, DecodeError> {
    Reader::new(buf, "row").len(usize::MAX)
}

/// Decodes a row against `schema`. Fields the row predates are null.
pub fn decode_row(schema: &[FeatureType], buf: &[u8]) -> Result<Vec<Value>, DecodeError> {
    let mut values = Vec::with_capacity(schema.len());
    decode_row_with(schema, buf, |_, v| values.push(v))?;
    Ok(values)
}

/// Decodes a row, calling `f(field index, value)` for every schema field in
/// order.
pub fn decode_row_with(
    schema: &[FeatureType],
    buf: &[u8],
    mut f: impl FnMut(usize, Value),
) -> Result<(), DecodeError> {
    let mut r = Reader::new(buf, "row");
    let n = r.len(schema.len())?;
    let bitmap = r.bytes(n.div_ceil(8))?;
    for (i, ty) in schema.iter().enumerate() {
        let null = i >= n || bitmap.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0);
        if null {
            f(i, Value::Null);
            continue;
        }
        let v = match ty {
            FeatureType::Int64 => Value::Int64(r.i64()?),
            FeatureType::Timestamp => Value::Timestamp(r.i64()?),
            FeatureType::Float64 => Value::Float64(f64::from_le_bytes(r.array()?)),
            FeatureType::Float32 => Value::Float32(f32::from_le_bytes(r.array()?)),
            FeatureType::Bool => match r.u8()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(r.invalid(format!("field {i}: bool byte {b}"))),
            },
            FeatureType::String => {
                let len = r.len(MAX_FIELD_LEN)?;
                let s = r.bytes(len)?;
                let s = std::str::from_utf8(s)
                    .map_err(|_| r.invalid(format!("field {i}: string is not UTF-8")))?;
                Value::String(s.to_owned())
            }
            FeatureType::Bytes => {
                let len = r.len(MAX_FIELD_LEN)?;
                Value::Bytes(r.bytes(len)?.to_vec())
            }
            FeatureType::ListFloat32
            | FeatureType::ListString
            | FeatureType::ListInt64
            | FeatureType::ListFloat64
            | FeatureType::MapStringInt64
            | FeatureType::MapStringFloat64 => match get_collection(&mut r, *ty) {
                Some(v) => v?,
                None => return Err(r.invalid(format!("field {i}: {ty} is not a list"))),
            },
        };
        f(i, v);
    }
    if !r.is_empty() {
        return Err(r.invalid("trailing bytes after the last field"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value_of(ty: FeatureType) -> BoxedStrategy<Value> {
        let v = match ty {
            FeatureType::Int64 => any::<i64>().prop_map(Value::Int64).boxed(),
            FeatureType::Timestamp => any::<i64>().prop_map(Value::Timestamp).boxed(),
            FeatureType::Float64 => any::<f64>()
                .prop_filter("nan", |x| !x.is_nan())
                .prop_map(Value::Float64)
                .boxed(),
            FeatureType::Float32 => any::<f32>()
                .prop_filter("nan", |x| !x.is_nan())
                .prop_map(Value::Float32)
                .boxed(),
            FeatureType::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
            FeatureType::String => ".{0,12}".prop_map(Value::String).boxed(),
            FeatureType::Bytes => prop::collection::vec(any::<u8>(), 0..12)
                .prop_map(Value::Bytes)
                .boxed(),
            FeatureType::ListFloat32 => prop::collection::vec(-1e6f32..1e6, 0..6)
                .prop_map(Value::ListFloat32)
                .boxed(),
            FeatureType::ListFloat64 => prop::collection::vec(-1e9f64..1e9, 0..6)
                .prop_map(Value::ListFloat64)
                .boxed(),
            FeatureType::ListInt64 => prop::collection::vec(any::<i64>(), 0..6)
                .prop_map(Value::ListInt64)
                .boxed(),
            FeatureType::ListString => prop::collection::vec(".{0,6}", 0..6)
                .prop_map(Value::ListString)
                .boxed(),
            FeatureType::MapStringInt64 => {
                prop::collection::btree_map(".{0,6}", any::<i64>(), 0..6)
                    .prop_map(|m| Value::MapStringInt64(m.into_iter().rev().collect()))
                    .boxed()
            }
            FeatureType::MapStringFloat64 => {
                prop::collection::btree_map(".{0,6}", -1e9f64..1e9, 0..6)
                    .prop_map(|m| Value::MapStringFloat64(m.into_iter().rev().collect()))
                    .boxed()
            }
        };
        prop_oneof![1 => Just(Value::Null), 4 => v].boxed()
    }

    fn schema_and_row() -> impl Strategy<Value = (Vec<FeatureType>, Vec<Value>)> {
        prop::collection::vec(prop::sample::select(FeatureType::ALL.to_vec()), 0..12).prop_flat_map(
            |s| {
                let vals: Vec<_> = s.iter().map(|t| value_of(*t)).collect();
                (Just(s), vals)
            },
        )
    }

    proptest! {
        #[test]
        fn round_trips((schema, row) in schema_and_row()) {
            let mut buf = Vec::new();
            encode_row(&schema, &row, &mut buf).unwrap();
            prop_assert_eq!(decode_row(&schema, &buf).unwrap(), row);
        }

        #[test]
        fn grown_schema_reads_old_rows_as_null((schema, row) in schema_and_row(), extra in 1usize..4) {
            let mut buf = Vec::new();
            encode_row(&schema, &row, &mut buf).unwrap();
            let mut grown = schema.clone();
            grown.extend(std::iter::repeat_n(FeatureType::Int64, extra));
            let mut want = row.clone();
            want.extend(std::iter::repeat_n(Value::Null, extra));
            prop_assert_eq!(decode_row(&grown, &buf).unwrap(), want);
        }

        #[test]
        fn damaged_rows_error_not_panic((schema, row) in schema_and_row(), cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>()) {
            let mut buf = Vec::new();
            encode_row(&schema, &row, &mut buf).unwrap();
            let cut_at = cut.index(buf.len());
            prop_assert!(decode_row(&schema, &buf[..cut_at]).is_err() || cut_at == buf.len());
            let i = flip.index(buf.len());
            buf[i] ^= 0x5a;
            let _ = decode_row(&schema, &buf);
        }
    }

    #[test]
    fn type_mismatch_names_field() {
        let err = encode_row(
            &[FeatureType::Int64, FeatureType::Bool],
            &[Value::Int64(1), Value::Float64(1.0)],
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(err.contains("field 1 is bool"), "{err}");
    }
}
