//! Derived views checked against brute force: a derived view over an
//! aggregation view and a plain view (with a ttl) and a request value,
//! read by lookup (`latest`, `as_of`, `known_at`, request values sent as
//! text) and by export (`--as-known-at`, `--no-future-writes`, request
//! values from an entity-table column), after random writes with
//! out-of-order events, deletes, flushes and reopens. The model computes
//! the windows and the as-of reads from the raw versions and the derived
//! values with hand-written Rust, independent of the expression language.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use common::tables::{export_one, user_lookup, user_table_with};

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::Float64Array;
use common::agg_checks::{cell, close, concat, known_for};
use common::agg_model::Clocked;
use proptest::prelude::*;
use strata::format::protocol as p;
use strata::format::schema::{KeyValue, Value};
use strata::offline::export::{ExportRequest, KnownAt};
use strata::store::{RowWrite, Status, Store};

const DEFINITIONS: &str = include_str!("fixtures/derived-model.toml");

const TIERS: [&str; 3] = ["gold", "silver", "bronze"];

#[derive(Debug, Clone)]
enum Op {
    Event(i64, i64, Option<i64>, Option<f64>),
    Profile(i64, i64, Option<i64>, Option<f64>, Option<&'static str>),
    Delete(i64),
    Flush,
    Reopen,
    Check(Vec<(i64, Option<f64>)>),
}

fn op() -> impl Strategy<Value = Op> {
    let created = prop::option::weighted(0.3, 100i64..104);
    let amount = prop::option::weighted(0.85, (-20i32..40).prop_map(|a| f64::from(a) * 0.5));
    let limit = prop::option::weighted(0.8, (-5i32..50).prop_map(f64::from));
    let tier = prop::option::weighted(0.8, (0usize..3).prop_map(|t| TIERS[t]));
    let txn = prop::option::weighted(0.8, (0i32..30).prop_map(|t| f64::from(t) * 1.5));
    prop_oneof![
        5 => (0i64..3, 0i64..300, created.clone(), amount).prop_map(|(k, t, c, a)| Op::Event(k, t, c, a)),
        3 => (0i64..3, 0i64..300, created, limit, tier).prop_map(|(k, t, c, l, r)| Op::Profile(k, t, c, l, r)),
        1 => (0i64..3).prop_map(Op::Delete),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        2 => prop::collection::vec((-10i64..350, txn), 1..4).prop_map(Op::Check),
    ]
}

/// A profile version: `limit`, `tier`.
type Profile = (Option<f64>, Option<&'static str>);

/// `(key, event_ts, created_ts)` → values.
#[derive(Default)]
struct Model {
    events: BTreeMap<(i64, i64, i64), Option<f64>>,
    profiles: BTreeMap<(i64, i64, i64), Profile>,
}

/// What the inputs give at `t`: the window's amounts (non-null) and
/// count; the profile as of `t` within its ttl; `None` if no input has a
/// version.
struct Inputs {
    amounts: Vec<f64>,
    /// Null when the aggregation view has no event by then (NOT_FOUND).
    count35: Option<i64>,
    profile: Option<Profile>,
}

fn inputs(m: &Model, key: i64, t: i64, known: Option<i64>) -> Option<Inputs> {
    let vis = |k: &(i64, i64, i64)| k.0 == key && k.1 <= t && known.is_none_or(|kn| k.2 <= kn);
    let any_event = m.events.keys().any(vis);
    let newest = m
        .profiles
        .iter()
        .filter(|(k, _)| vis(k))
        .max_by_key(|(k, _)| (k.1, k.2));
    if !any_event && newest.is_none() {
        return None;
    }
    let window = |w: i64| m.events.iter().filter(move |(k, _)| vis(k) && k.1 > t - w);
    Some(Inputs {
        amounts: window(100).filter_map(|(_, a)| *a).collect(),
        count35: any_event.then(|| window(35).count() as i64),
        // Outside the 60 µs ttl: no value (no defaults declared).
        profile: newest.filter(|(k, _)| k.1 >= t - 60).map(|(_, v)| *v),
    })
}

fn fin(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// The derived features by hand: SQL null rules, non-finite → null.
fn derived(i: &Inputs, txn: Option<f64>) -> [Value; 5] {
    let max = i.amounts.iter().copied().reduce(f64::max);
    let min = i.amounts.iter().copied().reduce(f64::min);
    let mean =
        (!i.amounts.is_empty()).then(|| i.amounts.iter().sum::<f64>() / i.amounts.len() as f64);
    let (limit, tier) = i.profile.unwrap_or((None, None));
    let range = max.zip(min).map(|(a, b)| a - b);
    let ratio = txn.zip(mean).and_then(|(x, m)| fin(x / m));
    let headroom = match limit {
        None => Some(-1.0),
        Some(l) => Some(l - max.unwrap_or(0.0)),
    };
    let gold = tier.map(|t| t == "gold" || t == "silver");
    let busy = i.count35.map(|c| c > 1);
    let busy_gold = match (gold, busy) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    };
    let left = limit
        .zip(i.count35)
        .and_then(|(l, c)| fin((l.abs() + 1.0).ln() * c as f64));
    let right = txn.and_then(|x| fin(x.sqrt()));
    let score = match (left, right) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let f = |x: Option<f64>| x.map_or(Value::Null, Value::Float64);
    [
        f(range),
        f(ratio),
        f(headroom),
        busy_gold.map_or(Value::Null, Value::Bool),
        f(score),
    ]
}

/// One lookup of every key at `as_of` (or latest at `now`), with `txn`.
fn check_lookup(
    store: &Store,
    m: &Model,
    as_of: Option<i64>,
    known: Option<i64>,
    now: i64,
    txn: Option<f64>,
) {
    let keys: Vec<i64> = (0..4).collect();
    let mut req = user_lookup(&["risk:*"], &keys, as_of, known);
    req.request = vec![p::RequestColumn {
        name: "txn".into(),
        values: keys.iter().map(|_| txn.map(|x| x.to_string())).collect(),
    }];
    let resp = store.lookup(&req).unwrap();
    let t = as_of.unwrap_or(now);
    for (row, &key) in keys.iter().enumerate() {
        match inputs(m, key, t, known) {
            None => {
                for f in &resp.features {
                    assert_eq!(f.statuses[row], Status::NotFound, "key {key} at {t}");
                }
            }
            Some(i) => {
                let want = derived(&i, txn);
                for (f, w) in resp.features.iter().zip(&want) {
                    let got = &f.values[row];
                    assert!(
                        close(got, w),
                        "lookup {} key {key} at {t} known {known:?} txn {txn:?}: got {got:?}, want {w:?}",
                        f.name
                    );
                }
            }
        }
    }
}

fn check_export(store: &Store, m: &Model, rows: &[(i64, Option<f64>)], known_at: KnownAt) {
    let all: Vec<(i64, i64, Option<f64>)> = (0..4)
        .flat_map(|k| rows.iter().map(move |&(t, x)| (k, t, x)))
        .collect();
    let table = user_table_with(
        all.iter().map(|r| (r.0, r.1)),
        vec![(
            "txn",
            Arc::new(Float64Array::from_iter(all.iter().map(|r| r.2))),
        )],
    );
    let mut req = ExportRequest::new("risk:*").unwrap();
    req.known_at = known_at;
    req.threads = 2;
    let batch = concat(export_one(store, &req, table));
    let first = batch.schema().index_of("amount_range").unwrap();
    for (i, &(key, t, txn)) in all.iter().enumerate() {
        let known = known_for(known_at, t);
        let want = inputs(m, key, t, known).map(|i| derived(&i, txn));
        for f in 0..5 {
            let got = cell(batch.column(first + f).as_ref(), i);
            let w = want.as_ref().map_or(Value::Null, |w| w[f].clone());
            assert!(
                close(&got, &w),
                "export {known_at:?} key {key} at {t} txn {txn:?} feature {f}: got {got:?}, want {w:?}"
            );
        }
    }
}

fn run(ops: Vec<Op>) {
    let (clocked, mut store) = Clocked::new(DEFINITIONS);
    let mut m = Model::default();
    for op in ops {
        let now = clocked.tick();
        match op {
            Op::Event(k, t, c, a) => {
                let w = RowWrite {
                    key: vec![KeyValue::Int64(k)],
                    event_ts: t,
                    created_ts: c,
                    values: vec![a.map_or(Value::Null, Value::Float64)],
                };
                store.write("events", &[w]).unwrap();
                m.events.insert((k, t, c.unwrap_or(now)), a);
            }
            Op::Profile(k, t, c, l, r) => {
                let w = RowWrite {
                    key: vec![KeyValue::Int64(k)],
                    event_ts: t,
                    created_ts: c,
                    values: vec![
                        l.map_or(Value::Null, Value::Float64),
                        r.map_or(Value::Null, |r| Value::String(r.into())),
                    ],
                };
                store.write("profile", &[w]).unwrap();
                m.profiles.insert((k, t, c.unwrap_or(now)), (l, r));
            }
            Op::Delete(k) => {
                store.delete("user", &[KeyValue::Int64(k)]).unwrap();
                m.events.retain(|(key, _, _), _| *key != k);
                m.profiles.retain(|(key, _, _), _| *key != k);
            }
            Op::Flush => store.flush().unwrap(),
            Op::Reopen => {
                drop(store);
                store = clocked.reopen();
            }
            Op::Check(rows) => {
                for &(t, txn) in &rows {
                    check_lookup(&store, &m, Some(t), None, now, txn);
                    check_lookup(&store, &m, Some(t), Some(now - 3), now, txn);
                }
                check_lookup(&store, &m, Some(now), None, now, rows[0].1);
                for known in [KnownAt::Unbounded, KnownAt::At(now - 3), KnownAt::EventTime] {
                    check_export(&store, &m, &rows, known);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn derived_features_match_brute_force(ops in prop::collection::vec(op(), 1..30)) {
        run(ops);
    }
}

#[test]
fn derived_definition_errors_name_the_view_the_feature_and_the_column() {
    let cases = [
        (
            "txn / amount_mean_100us",
            "txn / amount_meen_100us",
            "column 7",
            "amount_meen_100us",
        ),
        (
            "amount_max_100us - amount_min_100us",
            "amount_max_100us - tier",
            "column 20",
            "needs numbers",
        ),
    ];
    for (from, to, col, msg) in cases {
        let text = DEFINITIONS.replace(from, to);
        let e = strata::catalog::defs::parse(&text).unwrap_err().to_string();
        for needle in ["\"risk\"", col, msg] {
            assert!(e.contains(needle), "{needle} missing in: {e}");
        }
    }
    let e = strata::catalog::defs::parse(
        &DEFINITIONS.replace("\"stats\", \"profile\"", "\"stats\", \"nope\""),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn a_derived_view_cannot_be_written_and_request_values_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::stores::store_with(dir.path(), DEFINITIONS);
    let w = RowWrite {
        key: vec![KeyValue::Int64(1)],
        event_ts: 1,
        created_ts: None,
        values: vec![],
    };
    let e = store.write("risk", &[w]).unwrap_err().to_string();
    assert!(e.contains("derived view"), "{e}");
    let mut req = p::LookupRequest {
        features: vec!["risk:txn_ratio".into()],
        entities: vec![p::KeyColumn {
            name: "user_id".into(),
            values: p::KeyColumnValues::Int64(vec![1]),
        }],
        request: vec![p::RequestColumn {
            name: "txn".into(),
            values: vec![Some("twelve".into())],
        }],
        ..Default::default()
    };
    let e = store.lookup(&req).unwrap_err().to_string();
    assert!(
        e.contains("txn") && e.contains("twelve") && e.contains("float64"),
        "{e}"
    );
    req.request[0].name = "tx".into();
    let e = store.lookup(&req).unwrap_err().to_string();
    assert!(e.contains("tx") && e.contains("not a request input"), "{e}");
}
