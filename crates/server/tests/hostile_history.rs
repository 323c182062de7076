//! Red-team row 7 of issue 15: a history with `limit = 1` on a key with
//! 120,000 versions; and a history's decoded size bounded by the answer
//! limit. The limit stops the scan, so its work is the limit's:
//! it takes about as long as on a key with ten versions (the fastest of 20
//! runs each, compared in the same test; it took 73 ms on an async worker
//! before, thousands of times the small key's).

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use strata_format::protocol as p;
use strata_format::schema::{KeyValue, Value};
use strata_server::Limits;

fn fastest(c: &strata_server::Session, key: i64) -> Duration {
    let req = p::HistoryRequest {
        limit: 1,
        ..full_history("user_stats", key)
    };
    (0..20)
        .map(|_| {
            let t = Instant::now();
            let h = history(c, &req).unwrap();
            let took = t.elapsed();
            assert_eq!(h.versions.len(), 1);
            assert!(h.truncated);
            took
        })
        .min()
        .unwrap()
}

#[test]
fn row7_a_history_limit_stops_the_scan() {
    let f = Fixture::new(&Limits::default());
    let store = f.handler.store();
    let row = |key: i64, t: i64| p::RowWrite {
        key: vec![KeyValue::Int64(key)],
        event_ts: t,
        created_ts: None,
        values: vec![Value::Float64(1.0), Value::Int64(t), Value::Null],
    };
    for chunk in 0..12 {
        let rows: Vec<_> = (0..10_000).map(|i| row(1, chunk * 10_000 + i)).collect();
        store.write("user_stats", &rows).unwrap();
        if chunk % 4 == 3 {
            // Versions in segments as well as in the memtable.
            store.engine().flush().unwrap();
        }
    }
    let rows: Vec<_> = (0..10).map(|t| row(2, t)).collect();
    store.write("user_stats", &rows).unwrap();
    let c = f.session(&f.admin);
    // The newest version of the long history is the one answered.
    let req = p::HistoryRequest {
        limit: 1,
        ..full_history("user_stats", 1)
    };
    assert_eq!(history(&c, &req).unwrap().versions[0].event_ts, 119_999);
    let (long, short) = (fastest(&c, 1), fastest(&c, 2));
    println!("history limit 1: {long:?} on 120,000 versions, {short:?} on 10");
    assert!(
        long <= short * 20 + Duration::from_millis(2),
        "{long:?} on 120,000 versions against {short:?} on 10"
    );
}

/// A history's memory is bounded in bytes once decoded, not only in
/// encoded bytes: 2,000 narrow versions (about 20 bytes each encoded, a
/// few hundred decoded) under a 64 KiB answer limit are cut where their
/// decoded rows fill it, and the answer says it was truncated.
#[test]
fn a_history_is_bounded_by_its_decoded_size() {
    let frame = 64 << 10;
    let f = Fixture::new(&Limits {
        max_frame_bytes: frame,
        ..Limits::default()
    });
    let rows: Vec<_> = (0..2_000)
        .map(|t| p::RowWrite {
            key: vec![KeyValue::Int64(3)],
            event_ts: t,
            created_ts: None,
            values: vec![Value::Float64(1.0), Value::Int64(t), Value::Null],
        })
        .collect();
    f.handler.store().write("user_stats", &rows).unwrap();
    let req = full_history("user_stats", 3);
    let h = history(&f.session(&f.admin), &req).unwrap();
    let decoded = std::mem::size_of::<p::HistoryVersion>() + 3 * std::mem::size_of::<Value>();
    println!("{} versions of {decoded} bytes decoded", h.versions.len());
    assert!(h.truncated);
    assert_eq!(h.versions.len(), frame as usize / decoded);
    assert_eq!(h.versions[0].event_ts, 1_999);
    // The encoded rows alone (under 32 bytes a version) would have let
    // all 2,000 into 64 KiB.
    assert!(h.versions.len() < 1_000, "{}", h.versions.len());
}
