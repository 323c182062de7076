//! Row decoding against a few schemas.
//!
//! Input: `schema selector: u8 | row bytes`. Checks: no panic; a decoded
//! row has one value per field, each null or of the field's type; it
//! re-encodes, and the re-encoding decodes to the same values (floats
//! compared bit for bit) and is stable; the row also decodes against the
//! schema grown by two fields, with those fields null; `decode_row_with`
//! visits the same values in field order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_format::row::{decode_row, decode_row_with, encode_row};
use strata_format::schema::FeatureType::{self, *};
use strata_format::schema::Value;

const SCHEMAS: &[&[FeatureType]] = &[
    &[],
    &[Int64],
    &[Float64, Float32, Bool],
    &[String, Bytes],
    &[Timestamp, ListFloat32],
    &[
        Int64,
        Float64,
        Float32,
        Bool,
        String,
        Bytes,
        Timestamp,
        ListFloat32,
    ],
    &[Bool, Bool, Bool, Bool, Bool, Bool, Bool, Bool, Bool, String],
    &[ListString, ListInt64, ListFloat64, MapStringInt64, MapStringFloat64],
    &[MapStringInt64, Int64, ListString, ListString, Bool],
    &[
        ListFloat32,
        ListFloat32,
        Int64,
        String,
        Bytes,
        Bool,
        Float32,
        Float64,
        Timestamp,
        Int64,
        Int64,
    ],
];

/// Equality with floats compared by their bits (NaN == NaN).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float64(x), Value::Float64(y)) => x.to_bits() == y.to_bits(),
        (Value::Float32(x), Value::Float32(y)) => x.to_bits() == y.to_bits(),
        (Value::ListFloat32(x), Value::ListFloat32(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        (Value::ListFloat64(x), Value::ListFloat64(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        (Value::MapStringFloat64(x), Value::MapStringFloat64(y)) => {
            x.len() == y.len()
                && x
                    .iter()
                    .zip(y)
                    .all(|((k, p), (l, q))| k == l && p.to_bits() == q.to_bits())
        }
        _ => a == b,
    }
}

fn same_row(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
}

fuzz_target!(|data: &[u8]| {
    let Some((sel, bytes)) = data.split_first() else {
        return;
    };
    let schema = SCHEMAS[*sel as usize % SCHEMAS.len()];
    let Ok(values) = decode_row(schema, bytes) else {
        return;
    };
    assert_eq!(values.len(), schema.len());
    for (ty, v) in schema.iter().zip(&values) {
        assert!(
            v.feature_type().is_none_or(|t| t == *ty),
            "a {ty} field decoded as {v:?}"
        );
    }

    let mut visited = Vec::new();
    decode_row_with(schema, bytes, |i, v| {
        assert_eq!(i, visited.len());
        visited.push(v);
    })
    .expect("decode_row_with fails where decode_row succeeds");
    assert!(same_row(&visited, &values));

    let mut buf = Vec::new();
    encode_row(schema, &values, &mut buf).expect("decoded values re-encode");
    let again = decode_row(schema, &buf).expect("a re-encoded row decodes");
    assert!(same_row(&again, &values), "round trip changed the row");
    let mut buf2 = Vec::new();
    encode_row(schema, &again, &mut buf2).unwrap();
    assert_eq!(buf, buf2, "encoding is not stable");

    let mut grown = schema.to_vec();
    grown.extend([Int64, String]);
    let wider = decode_row(&grown, bytes).expect("a row decodes against a grown schema");
    assert!(same_row(&wider[..schema.len()], &values));
    assert!(
        wider[schema.len()..].iter().all(Value::is_null),
        "fields the row predates are null"
    );
});
