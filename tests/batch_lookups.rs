//! `Store::lookup` of many entity rows (which reads each stored view's keys
//! with one batched engine read) against `Store::get` of each row alone
//! (the single-key read), over a plain view and an aggregation view of its
//! events: random writes (late events, rewrites), entity deletes, flushes
//! and compactions, then lookups of random keys with duplicates and keys
//! never written, latest and as of random times, with and without
//! `known_at`.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use proptest::prelude::*;
use strata::engine::SyncPolicy;
use strata::format::protocol as p;
use strata::format::schema::{KeyValue, Value};
use strata::store::{Error, ReadOptions, RowWrite, StoreOptions};

const MIN: i64 = 60_000_000;
/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000_000;

const DEFS: &str = include_str!("fixtures/batch-lookups.toml");

#[derive(Debug, Clone)]
enum Op {
    /// `(user, minute, created minute, amount)`, one write.
    Put(Vec<(u8, i64, i64, u8)>),
    Delete(u8),
    Flush,
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    let put = (0u8..24, 0i64..90, 0i64..90, any::<u8>());
    prop_oneof![
        8 => prop::collection::vec(put, 1..10).prop_map(Op::Put),
        1 => (0u8..24).prop_map(Op::Delete),
        2 => Just(Op::Flush),
        1 => Just(Op::Compact),
    ]
}

/// One feature of one entity row as a lookup answers it.
type Cell = (Value, p::Status, Option<i64>);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn a_lookup_of_many_rows_answers_what_single_gets_answer(
        ops in prop::collection::vec(op(), 1..24),
        reads in prop::collection::vec(
            (
                prop::collection::vec(0u8..30, 1..140),
                prop::option::of(0i64..100),
                prop::option::of(0i64..100),
            ),
            1..4,
        ),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = common::stores::small(SyncPolicy::Never, 2000, 256);
        engine.compaction = common::stores::no_background();
        let store =
            common::stores::store_with_options(dir.path(), StoreOptions { engine }, DEFS);
        for op in &ops {
            match op {
                Op::Put(rows) => {
                    let rows: Vec<RowWrite> = rows
                        .iter()
                        .map(|&(u, m, c, a)| RowWrite {
                            key: vec![KeyValue::Int64(i64::from(u))],
                            event_ts: T0 + m * MIN,
                            created_ts: Some(T0 + c * MIN),
                            values: vec![Value::Float64(f64::from(a)), Value::Int64(i64::from(a))],
                        })
                        .collect();
                    store.write("txn", &rows).unwrap();
                }
                Op::Delete(u) => store.delete("user", &[KeyValue::Int64(i64::from(*u))]).unwrap(),
                Op::Flush => store.flush().unwrap(),
                Op::Compact => drop(store.compact().unwrap()),
            }
        }
        for (read, (users, at, known)) in reads.iter().enumerate() {
            let as_of = at.map(|m| T0 + m * MIN);
            let known_at = known.map(|m| T0 + m * MIN);
            let req = p::LookupRequest {
                features: vec!["txn:*".into(), "txn_stats:*".into()],
                entities: vec![p::KeyColumn {
                    name: "user_id".into(),
                    values: p::KeyColumnValues::Int64(
                        users.iter().map(|&u| i64::from(u)).collect(),
                    ),
                }],
                as_of,
                known_at,
                with_created_ts: as_of.is_some(),
                request: Vec::new(),
            };
            let hits = store.lookup_plan_cache_hits();
            let resp = store.lookup(&req).unwrap();
            prop_assert_eq!(resp.rows, users.len());
            if read > 0 {
                // The same features as the first read: planned from the
                // store's plan cache, whatever the keys and times.
                prop_assert!(store.lookup_plan_cache_hits() > hits);
            }
            // Another request shape (the views swapped) answers the same
            // columns, swapped.
            let swapped = p::LookupRequest {
                features: vec!["txn_stats:*".into(), "txn:*".into()],
                ..req.clone()
            };
            let other = store.lookup(&swapped).unwrap();
            let split = other.features.len() - 2;
            let mut cols: Vec<(&str, &p::Status)> = Vec::new();
            let mut swapped_cols: Vec<(&str, &p::Status)> = Vec::new();
            for c in &resp.features {
                cols.extend(c.statuses.iter().map(|s| (c.name.as_str(), s)));
            }
            for c in other.features[split..].iter().chain(&other.features[..split]) {
                swapped_cols.extend(c.statuses.iter().map(|s| (c.name.as_str(), s)));
            }
            prop_assert_eq!(swapped_cols, cols);
            if as_of.is_some() {
                // The server's answer, encoded straight from the rows, is
                // the response's encoding (a latest aggregation is dated at
                // each call's clock, so only as-of reads compare).
                let mut want = Vec::new();
                resp.encode(&mut want).unwrap();
                let plan = store.plan_lookup(&req, |_, _| Ok::<(), Error>(())).unwrap();
                let mut got = Vec::new();
                store.run_lookup_encoded(&req, &plan, usize::MAX, &mut got).unwrap();
                prop_assert_eq!(got, want);
            }
            for (row, &u) in users.iter().enumerate() {
                let mut want: Vec<Cell> = Vec::new();
                for view in ["txn", "txn_stats"] {
                    let r = store
                        .get(view, &[KeyValue::Int64(i64::from(u))], ReadOptions { as_of, known_at })
                        .unwrap();
                    for (v, s) in r.values.into_iter().zip(r.statuses) {
                        want.push((v, s, r.event_ts));
                    }
                }
                let mut got: Vec<Cell> = resp
                    .features
                    .iter()
                    .map(|c| (c.values[row].clone(), c.statuses[row], c.event_ts[row]))
                    .collect();
                if as_of.is_none() {
                    // A latest aggregation is dated at the read's clock,
                    // which each call reads anew.
                    for cell in got.iter_mut().skip(2).chain(want.iter_mut().skip(2)) {
                        cell.2 = None;
                    }
                }
                prop_assert_eq!(got, want, "user {} as of {:?} known at {:?}", u, as_of, known_at);
            }
        }
    }
}
