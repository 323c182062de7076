//! Bucketed aggregations (`bucket = "column"`) checked against brute force:
//! each bucketed feature read `latest`, `as_of`, bitemporally and in
//! exports (`--as-known-at`, `--no-future-writes`) equals the map, per
//! distinct bucket of the stored events in its window, of the function over
//! that bucket's events; null beyond the bound `buckets` or without any
//! bucket. Random writes with out-of-order and late (corrected) events,
//! rewrites, deletes, flushes and reopens; tiles of 10 µs, windows of 35
//! and 100 µs; bucket columns of strings and of int64; bounds that windows
//! exceed (a group's bound and a smaller one of a feature in that group).

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use common::agg_model::open;
use common::tables::{export_one, user_table};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use proptest::prelude::*;
use strata::format::schema::{FeatureType, KeyValue, Value};
use strata::offline::export::{ExportRequest, KnownAt};
use strata::offline::read::convert::convert;
use strata::store::{ReadOptions, RowWrite, Store};

const DEFINITIONS: &str = include_str!("fixtures/aggregation-buckets.toml");

/// The features of `stats`, in order.
const NAMES: [&str; 9] = [
    "count_100us",
    "count_by_cat_100us",
    "amount_sum_by_cat_35us",
    "amount_sum_by_cat_100us",
    "amount_mean_by_cat_100us",
    "qty_min_by_cat_100us",
    "amount_max_by_qty_35us",
    "qty_last_by_cat_100us",
    "big_by_cat",
];

type Row = (Option<f64>, Option<&'static str>, Option<i64>);

/// Per feature: (function, column, bucket column, bound, window, filter).
type Feature = (
    &'static str,
    Option<usize>,
    Option<usize>,
    usize,
    i64,
    fn(&Row) -> bool,
);

fn all(_: &Row) -> bool {
    true
}

const FEATURES: [Feature; 9] = [
    ("count", None, None, 0, 100, all),
    ("count", None, Some(1), 100, 100, all),
    ("sum", Some(0), Some(1), 100, 35, all),
    ("sum", Some(0), Some(1), 100, 100, all),
    ("mean", Some(0), Some(1), 3, 100, all),
    ("min", Some(2), Some(1), 100, 100, all),
    ("max", Some(0), Some(2), 4, 35, all),
    ("last", Some(2), Some(1), 100, 100, all),
    ("count", Some(0), Some(1), 100, 100, |r| {
        r.2.is_some_and(|q| q > 3)
    }),
];

const CATS: [&str; 4] = ["a", "b", "c", "d"];

#[derive(Debug, Clone)]
struct Ev {
    key: i64,
    ts: i64,
    created: Option<i64>,
    row: Row,
}

#[derive(Debug, Clone)]
enum Op {
    Write(Vec<Ev>),
    Rewrite(usize, Row),
    Delete(i64),
    Flush,
    Reopen,
    Check(Vec<i64>),
}

fn row() -> impl Strategy<Value = Row> {
    (
        prop::option::weighted(0.8, -10i32..30),
        prop::option::weighted(0.85, 0usize..4),
        prop::option::weighted(0.8, 0i64..7),
    )
        .prop_map(|(a, c, q)| (a.map(|a| f64::from(a) * 0.5), c.map(|c| CATS[c]), q))
}

fn values(r: &Row) -> Vec<Value> {
    vec![
        r.0.map_or(Value::Null, Value::Float64),
        r.1.map_or(Value::Null, |k| Value::String(k.into())),
        r.2.map_or(Value::Null, Value::Int64),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let ev = (
        0i64..3,
        0i64..300,
        prop::option::weighted(0.3, 0i64..4),
        row(),
    )
        .prop_map(|(key, ts, created, row)| Ev {
            key,
            ts,
            created: created.map(|c| 100 + c),
            row,
        });
    prop_oneof![
        6 => prop::collection::vec(ev, 1..8).prop_map(Op::Write),
        2 => (any::<usize>(), row()).prop_map(|(i, r)| Op::Rewrite(i, r)),
        1 => (0i64..3).prop_map(Op::Delete),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        2 => prop::collection::vec(-10i64..350, 1..4).prop_map(Op::Check),
    ]
}

/// Stored events by `(key, event_ts, created_ts)`.
type Model = BTreeMap<(i64, i64, i64), Row>;

/// A stored event: its identity and row.
type Stored<'a> = (&'a (i64, i64, i64), &'a Row);

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Float64(x) => Some(*x),
        Value::Int64(x) => Some(*x as f64),
        _ => None,
    }
}

/// The value of `func` over the events `evs` (identity, row) of one bucket.
fn one(func: &str, col: Option<usize>, evs: &[Stored]) -> Value {
    let vals: Vec<Value> = col.map_or(Vec::new(), |c| {
        evs.iter()
            .map(|(_, r)| values(r)[c].clone())
            .filter(|v| !v.is_null())
            .collect()
    });
    let nums: Vec<f64> = vals.iter().filter_map(number).collect();
    let float = |x: Option<f64>| x.map_or(Value::Null, Value::Float64);
    match func {
        "count" if col.is_none() => Value::Int64(evs.len() as i64),
        "count" => Value::Int64(vals.len() as i64),
        "sum" => float((!nums.is_empty()).then(|| nums.iter().sum())),
        "mean" => float((!nums.is_empty()).then(|| nums.iter().sum::<f64>() / nums.len() as f64)),
        "min" => float(nums.iter().copied().reduce(f64::min)),
        "max" => float(nums.iter().copied().reduce(f64::max)),
        "last" => {
            let newest = evs.iter().max_by_key(|(id, _)| (id.1, id.2));
            float(newest.and_then(|(_, r)| number(&values(r)[col.unwrap()])))
        }
        _ => unreachable!(),
    }
}

fn expected(m: &Model, key: i64, at: i64, known: Option<i64>, f: &Feature) -> Value {
    let (func, col, bucket, bound, w, filter) = *f;
    let evs: Vec<Stored> = m
        .iter()
        .filter(|((k, ts, c), r)| {
            *k == key && *ts > at - w && *ts <= at && known.is_none_or(|kn| *c <= kn) && filter(r)
        })
        .collect();
    let Some(b) = bucket else {
        return one(func, col, &evs);
    };
    let mut by: BTreeMap<String, Vec<Stored>> = BTreeMap::new();
    for e in &evs {
        let k = match &values(e.1)[b] {
            Value::String(s) => s.clone(),
            Value::Int64(x) => x.to_string(),
            _ => continue,
        };
        by.entry(k).or_default().push(*e);
    }
    if by.is_empty() || by.len() > bound {
        return Value::Null;
    }
    let entries: Vec<(String, Value)> = by
        .iter()
        .map(|(k, evs)| (k.clone(), one(func, col, evs)))
        .filter(|(_, v)| !v.is_null())
        .collect();
    if func == "count" {
        return Value::MapStringInt64(
            entries
                .into_iter()
                .map(|(k, v)| match v {
                    Value::Int64(n) => (k, n),
                    _ => unreachable!(),
                })
                .collect(),
        );
    }
    if entries.is_empty() {
        return Value::Null;
    }
    Value::MapStringFloat64(
        entries
            .into_iter()
            .map(|(k, v)| (k, number(&v).unwrap()))
            .collect(),
    )
}

fn near(g: f64, w: f64) -> bool {
    (g - w).abs() <= 1e-9 * (1.0 + w.abs())
}

fn close(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Float64(g), Value::Float64(w)) => near(*g, *w),
        (Value::MapStringFloat64(g), Value::MapStringFloat64(w)) => {
            g.len() == w.len()
                && g.iter()
                    .zip(w)
                    .all(|((gk, gv), (wk, wv))| gk == wk && near(*gv, *wv))
        }
        _ => got == want,
    }
}

fn has_event(m: &Model, key: i64, at: i64, known: Option<i64>) -> bool {
    m.keys()
        .any(|(k, ts, c)| *k == key && *ts <= at && known.is_none_or(|kn| *c <= kn))
}

fn want(m: &Model, key: i64, at: i64, known: Option<i64>, f: &Feature) -> Value {
    // A key with no event by then is NOT_FOUND: no values.
    if has_event(m, key, at, known) {
        expected(m, key, at, known, f)
    } else {
        Value::Null
    }
}

fn check(store: &Store, m: &Model, at: i64, known: Option<i64>, latest: bool) {
    for key in 0..4 {
        let opts = ReadOptions {
            as_of: (!latest).then_some(at),
            known_at: known,
        };
        let row = store.get("stats", &[KeyValue::Int64(key)], opts).unwrap();
        for (i, f) in FEATURES.iter().enumerate() {
            let (got, want) = (&row.values[i], want(m, key, at, known, f));
            assert!(
                close(got, &want),
                "key {key} at {at} known {known:?} latest {latest} {}: got {got:?}, want {want:?}",
                NAMES[i]
            );
        }
    }
}

fn check_export(store: &Store, m: &Model, ts: &[i64], known_at: KnownAt) {
    let rows: Vec<(i64, i64)> = (0..4)
        .flat_map(|k| ts.iter().map(move |&t| (k, t)))
        .collect();
    let mut req = ExportRequest::new("stats:*").unwrap();
    req.known_at = known_at;
    let out = export_one(store, &req, user_table(rows.iter().copied()));
    let batch = arrow_select::concat::concat_batches(&out[0].schema(), &out).unwrap();
    let types = store.catalog().view("stats").unwrap().schema();
    for (f, feature) in FEATURES.iter().enumerate() {
        let got = convert(batch.column(2 + f).as_ref(), types[f]).unwrap();
        for (i, &(key, t)) in rows.iter().enumerate() {
            let known = match known_at {
                KnownAt::Unbounded => None,
                KnownAt::At(k) => Some(k),
                KnownAt::EventTime => Some(t),
            };
            let want = want(m, key, t, known, feature);
            assert!(
                close(&got[i], &want),
                "export {known_at:?} key {key} at {t} {}: got {:?}, want {want:?}",
                NAMES[f],
                got[i]
            );
        }
    }
}

fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(200));
    let mut store = open(dir.path(), &clock);
    common::stores::apply(&store, DEFINITIONS);
    let mut m = Model::new();
    for op in ops {
        let now = clock.fetch_add(1, Ordering::SeqCst) + 1;
        match op {
            Op::Write(evs) => {
                let rows: Vec<RowWrite> = evs
                    .iter()
                    .map(|e| RowWrite {
                        key: vec![KeyValue::Int64(e.key)],
                        event_ts: e.ts,
                        created_ts: e.created,
                        values: values(&e.row),
                    })
                    .collect();
                store.write("events", &rows).unwrap();
                for e in evs {
                    m.insert((e.key, e.ts, e.created.unwrap_or(now)), e.row);
                }
            }
            Op::Rewrite(i, row) => {
                if m.is_empty() {
                    continue;
                }
                let &(key, ts, created) = m.keys().nth(i % m.len()).unwrap();
                let w = RowWrite {
                    key: vec![KeyValue::Int64(key)],
                    event_ts: ts,
                    created_ts: Some(created),
                    values: values(&row),
                };
                store.write("events", &[w]).unwrap();
                m.insert((key, ts, created), row);
            }
            Op::Delete(k) => {
                store.delete("user", &[KeyValue::Int64(k)]).unwrap();
                m.retain(|(key, _, _), _| *key != k);
            }
            Op::Flush => store.flush().unwrap(),
            Op::Reopen => {
                drop(store);
                store = open(dir.path(), &clock);
            }
            Op::Check(ts) => {
                for &t in &ts {
                    check(&store, &m, t, None, false);
                    check(&store, &m, t, Some(now - 3), false);
                }
                check(&store, &m, now, None, true);
                for known in [KnownAt::Unbounded, KnownAt::At(now - 3), KnownAt::EventTime] {
                    check_export(&store, &m, &ts, known);
                }
            }
        }
    }
    for t in [0, 50, 120, 201, 260, 320] {
        check(&store, &m, t, None, false);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn bucketed_aggregations_match_brute_force(ops in prop::collection::vec(op(), 1..30)) {
        run(ops);
    }
}

#[test]
fn bucketed_features_are_named_and_typed_as_maps() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::stores::store_with(dir.path(), DEFINITIONS);
    let cat = store.catalog();
    let view = cat.view("stats").unwrap();
    let names: Vec<&str> = view.features.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, NAMES);
    let types: Vec<FeatureType> = view.features.iter().map(|f| f.ty).collect();
    use FeatureType::{Int64, MapStringFloat64 as F, MapStringInt64 as I};
    assert_eq!(types, [Int64, I, F, F, F, F, F, F, I]);
}

#[test]
fn bucket_errors_name_the_view_the_field_and_the_cause() {
    let cases = [
        (
            "bucket = \"cat\", window",
            "bucket = \"kind\", window",
            "no column \"kind\"",
        ),
        (
            "bucket = \"cat\", window",
            "bucket = \"amount\", window",
            "float64",
        ),
        (
            "bucket = \"cat\", window",
            "bucket = 3, window",
            "must be a string",
        ),
        (
            "{ function = \"min\", column = \"qty\", bucket",
            "{ function = \"stddev\", column = \"qty\", bucket",
            "stddev cannot be bucketed",
        ),
        ("buckets = 3,", "buckets = 0,", "from 1 to 10000"),
        (
            "{ function = \"count\", window = \"100us\" },",
            "{ function = \"count\", buckets = 5, window = \"100us\" },",
            "add bucket",
        ),
    ];
    for (from, to, needle) in cases {
        let bad = DEFINITIONS.replacen(from, to, 1);
        assert_ne!(bad, DEFINITIONS, "{from}");
        let e = strata::catalog::defs::parse(&bad).unwrap_err().to_string();
        for n in ["\"stats\"", "bucket", needle] {
            assert!(e.contains(n), "{n} missing in: {e}");
        }
    }
    let list = DEFINITIONS.replace(
        "{ name = \"qty\", type = \"int64\" },",
        "{ name = \"qty\", type = \"int64\" },\n  { name = \"tags\", type = \"list<string>\" },",
    );
    let bad = list.replacen("bucket = \"cat\", window", "bucket = \"tags\", window", 1);
    let e = strata::catalog::defs::parse(&bad).unwrap_err().to_string();
    assert!(
        e.contains("list<string>") && e.contains("string, int64 or bool"),
        "{e}"
    );
}

/// The same answer from `get`, `get --as-of`, an export and its CSV text.
#[test]
fn one_bucketed_value_on_every_surface() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(960));
    let store = open(dir.path(), &clock);
    common::stores::apply(&store, DEFINITIONS);
    let ev = |ts, amount, cat: &str, qty| RowWrite {
        key: vec![KeyValue::Int64(7)],
        event_ts: ts,
        created_ts: None,
        values: vec![
            Value::Float64(amount),
            Value::String(cat.into()),
            Value::Int64(qty),
        ],
    };
    let rows = [
        ev(900, 1.5, "b", 1),
        ev(910, 2.0, "a", 5),
        ev(950, 4.0, "b", 6),
    ];
    store.write("events", &rows).unwrap();
    let want = Value::MapStringFloat64(vec![("a".into(), 2.0), ("b".into(), 5.5)]);
    let key = [KeyValue::Int64(7)];
    let latest = store.get("stats", &key, ReadOptions::default()).unwrap();
    let as_of = ReadOptions {
        as_of: Some(960),
        known_at: None,
    };
    let past = store.get("stats", &key, as_of).unwrap();
    assert_eq!(latest.values[3], want);
    assert_eq!(past.values[3], want);
    let req = ExportRequest::new("stats:amount_sum_by_cat_100us").unwrap();
    let out = export_one(&store, &req, user_table([(7, 960)]));
    let got = convert(out[0].column(2).as_ref(), FeatureType::MapStringFloat64).unwrap();
    assert_eq!(got[0], want);
    assert_eq!(
        latest.values[1],
        Value::MapStringInt64(vec![("a".into(), 1), ("b".into(), 2)])
    );
}
