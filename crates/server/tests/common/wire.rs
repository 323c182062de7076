//! Frames and request bodies as a client builds them, for the in-process
//! tests here and the end-to-end tests of `strata serve` (tests/server,
//! which includes this file by path). Depends on strata-format only.

use strata_format::protocol::{self as p, ErrorCode, FrameHeader, Kind};
use strata_format::schema::{KeyValue, Value};

/// One encoded frame.
pub fn frame(kind: Kind, id: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    p::encode_frame(&mut out, kind, id, body);
    out
}

/// The code of an `Error` frame.
pub fn error_code(f: &(FrameHeader, Vec<u8>)) -> ErrorCode {
    assert_eq!(
        f.0.kind(),
        Some(Kind::Error),
        "expected an Error frame, got {:?}",
        f.0
    );
    p::ErrorBody::decode(&f.1).unwrap().code().unwrap()
}

/// A row of `user_stats` (amount_avg, txn_count, segment).
pub fn user_row(id: i64, event_ts: i64, amount: f64, count: i64) -> p::RowWrite {
    p::RowWrite {
        key: vec![KeyValue::Int64(id)],
        event_ts,
        created_ts: None,
        values: vec![
            Value::Float64(amount),
            Value::Int64(count),
            Value::String(format!("seg{id}")),
        ],
    }
}

/// A key column of int64 keys.
pub fn int_keys(name: &str, keys: &[i64]) -> p::KeyColumn {
    p::KeyColumn {
        name: name.into(),
        values: p::KeyColumnValues::Int64(keys.to_vec()),
    }
}

/// A key column of string keys.
pub fn string_keys(name: &str, keys: &[&str]) -> p::KeyColumn {
    p::KeyColumn {
        name: name.into(),
        values: p::KeyColumnValues::String(keys.iter().map(|k| k.to_string()).collect()),
    }
}

/// The whole history of the int64 key `key` of `view`, with no limit.
pub fn full_history(view: &str, key: i64) -> p::HistoryRequest {
    p::HistoryRequest {
        view: view.into(),
        key: vec![KeyValue::Int64(key)],
        from: i64::MIN,
        to: i64::MAX - 1,
        known_at: None,
        limit: 0,
    }
}
