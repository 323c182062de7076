//! An export of an aggregation view answers every row with exactly the
//! values a lookup `as_of` the row's time answers, bit for bit: the export
//! reads a key's tiles and events once for all its rows and computes each
//! row's windows from them, and must add and merge them in the order the
//! store's read does (float sums depend on it). Amounts with many
//! significant digits, random event and row times (several rows per key,
//! some before the key's first event, some far apart), writes out of
//! order, overwrites, deletes, flushes and reopens.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use common::agg_checks::concat;
use common::agg_model::Clocked;
use common::tables::{export_one, user_lookup, user_table};
use proptest::prelude::*;
use strata::format::schema::{KeyValue, Value};
use strata::offline::export::ExportRequest;
use strata::offline::read::convert::convert;
use strata::store::{RowWrite, Store};

const DEFINITIONS: &str = include_str!("fixtures/aggregation-export-exact.toml");

const SHOPS: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
enum Op {
    Event(i64, i64, Option<f64>, usize),
    Delete(i64),
    Flush,
    Reopen,
    Check(Vec<(i64, i64)>),
}

fn op() -> impl Strategy<Value = Op> {
    // Thirds and sevenths: sums of them depend on the order of addition.
    let amount = prop::option::weighted(
        0.9,
        (-300i32..300, prop_oneof![Just(3.0), Just(7.0), Just(1.1)])
            .prop_map(|(a, d)| f64::from(a) / d),
    );
    prop_oneof![
        12 => (0i64..2, 0i64..150, amount, 0usize..3).prop_map(|(k, t, a, s)| Op::Event(k, t, a, s)),
        1 => (0i64..2).prop_map(Op::Delete),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        2 => prop::collection::vec((0i64..3, -20i64..200), 1..40).prop_map(Op::Check),
    ]
}

/// Exports `rows` (key, time) and checks every feature of every row
/// against a lookup of that key `as_of` that time.
fn check(store: &Store, rows: &[(i64, i64)]) {
    let view = store.catalog().view("stats").unwrap().clone();
    let names: Vec<&str> = view.features.iter().map(|f| f.name.as_str()).collect();
    let types = view.schema();
    for threads in [1, 2] {
        let mut req = ExportRequest::new("stats:*").unwrap();
        req.threads = threads;
        let batch = concat(export_one(store, &req, user_table(rows.iter().copied())));
        let columns: Vec<Vec<Value>> = (0..names.len())
            .map(|f| convert(batch.column(2 + f).as_ref(), types[f]).unwrap())
            .collect();
        for (i, &(key, t)) in rows.iter().enumerate() {
            let resp = store
                .lookup(&user_lookup(&["stats:*"], &[key], Some(t), None))
                .unwrap();
            for (f, name) in names.iter().enumerate() {
                let got = &columns[f][i];
                let want = &resp.features[f].values[0];
                let same = match (got, want) {
                    (Value::Float64(g), Value::Float64(w)) => g.to_bits() == w.to_bits(),
                    (Value::MapStringFloat64(g), Value::MapStringFloat64(w)) => {
                        g.len() == w.len()
                            && g.iter()
                                .zip(w)
                                .all(|(a, b)| a.0 == b.0 && a.1.to_bits() == b.1.to_bits())
                    }
                    _ => got == want,
                };
                assert!(
                    same,
                    "{name} of key {key} at {t} ({threads} threads): export {got:?}, lookup {want:?}"
                );
            }
        }
    }
}

fn run(ops: Vec<Op>) {
    let (clocked, mut store) = Clocked::new(DEFINITIONS);
    for op in ops {
        clocked.tick();
        match op {
            Op::Event(k, t, a, s) => {
                let w = RowWrite {
                    key: vec![KeyValue::Int64(k)],
                    event_ts: t,
                    created_ts: None,
                    values: vec![
                        a.map_or(Value::Null, Value::Float64),
                        Value::String(SHOPS[s].into()),
                    ],
                };
                store.write("events", &[w]).unwrap();
            }
            Op::Delete(k) => store.delete("user", &[KeyValue::Int64(k)]).unwrap(),
            Op::Flush => store.flush().unwrap(),
            Op::Reopen => {
                drop(store);
                store = clocked.reopen();
            }
            Op::Check(rows) => check(&store, &rows),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn an_aggregation_export_answers_what_lookups_answer_bit_for_bit(
        ops in prop::collection::vec(op(), 1..80),
    ) {
        run(ops);
    }
}
