//! Bucketed aggregations (`bucket = "column"`) checked against brute force:
//! each bucketed feature read `latest`, `as_of`, bitemporally and in
//! exports (`--as-known-at`, `--no-future-writes`) equals the map, per
//! distinct bucket of the stored events in its window, of the function over
//! that bucket's events; null beyond the bound `buckets` or without any
//! bucket. Random writes with out-of-order and late (corrected) events,
//! rewrites, deletes, flushes and reopens; tiles of 10 µs, windows of 35
//! and 100 µs; bucket columns of strings and of int64; bounds that windows
//! exceed (a group's bound and a smaller one of a feature in that group).
//! The operations, the model and the reads are the shared harness's
//! ([`common::agg_model::Harness`]).

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use common::agg_checks::{View, column_values, num as number};
use common::agg_model::{EventValues, Harness, Id, Late, Model, Op, event, op, open};
use common::tables::{export_one, user_table};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use arrow_array::Array;
use proptest::prelude::*;
use strata::format::schema::{FeatureType, KeyValue, Value};
use strata::offline::export::ExportRequest;
use strata::offline::read::convert::convert;
use strata::store::{ReadOptions, RowWrite};

const DEFINITIONS: &str = include_str!("fixtures/aggregation-buckets.toml");

/// The fixture's late-event policy: 30 µs, late events corrected.
const LATE: Late = Late {
    lateness: 30,
    correct: true,
};

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

#[derive(Debug, Clone)]
struct Row(Option<f64>, Option<&'static str>, Option<i64>);

/// Per feature: (type, function, column, bucket column, bound, window,
/// filter).
type Feature = (
    FeatureType,
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

use FeatureType::{Int64, MapStringFloat64 as F, MapStringInt64 as I};

const FEATURES: [Feature; 9] = [
    (Int64, "count", None, None, 0, 100, all),
    (I, "count", None, Some(1), 100, 100, all),
    (F, "sum", Some(0), Some(1), 100, 35, all),
    (F, "sum", Some(0), Some(1), 100, 100, all),
    (F, "mean", Some(0), Some(1), 3, 100, all),
    (F, "min", Some(2), Some(1), 100, 100, all),
    (F, "max", Some(0), Some(2), 4, 35, all),
    (F, "last", Some(2), Some(1), 100, 100, all),
    (I, "count", Some(0), Some(1), 100, 100, |r| {
        r.2.is_some_and(|q| q > 3)
    }),
];

const CATS: [&str; 4] = ["a", "b", "c", "d"];

fn row() -> impl Strategy<Value = Row> {
    (
        prop::option::weighted(0.8, -10i32..30),
        prop::option::weighted(0.85, 0usize..4),
        prop::option::weighted(0.8, 0i64..7),
    )
        .prop_map(|(a, c, q)| Row(a.map(|a| f64::from(a) * 0.5), c.map(|c| CATS[c]), q))
}

impl EventValues for Row {
    fn to_values(&self) -> Vec<Value> {
        vec![
            self.0.map_or(Value::Null, Value::Float64),
            self.1.map_or(Value::Null, |k| Value::String(k.into())),
            self.2.map_or(Value::Null, Value::Int64),
        ]
    }
}

/// Writes of one to seven events of keys 0 to 2 at 0 to 299 µs among
/// rewrites, deletes, flushes, reopens and checks at −10 to 349 µs.
fn ops() -> impl Strategy<Value = Op<Row>> {
    let writes = prop::collection::vec(event(0..3, 0i64..300, row()), 1..8).prop_map(Op::Write);
    op(6, writes, row(), 0..3, -10..350)
}

/// A stored event: its identity and row.
type Stored<'a> = (&'a Id, &'a Row);

/// The value of `func` over the events `evs` (identity, row) of one bucket.
fn one(func: &str, col: Option<usize>, evs: &[Stored]) -> Value {
    let (vals, nums) = column_values(col, evs.iter().map(|(_, r)| r.to_values()));
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
            float(newest.and_then(|(_, r)| number(&r.to_values()[col.unwrap()])))
        }
        _ => unreachable!(),
    }
}

fn expected(m: &Model<Row>, key: i64, at: i64, known: Option<i64>, f: &Feature) -> Value {
    let (_, func, col, bucket, bound, w, filter) = *f;
    let evs: Vec<Stored> = m
        .window(key, at, w, known)
        .into_iter()
        .filter(|(_, r)| filter(r))
        .collect();
    let Some(b) = bucket else {
        return one(func, col, &evs);
    };
    let mut by: BTreeMap<String, Vec<Stored>> = BTreeMap::new();
    for e in &evs {
        let k = match &e.1.to_values()[b] {
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

/// [`View::close`]: floats, and the floats of maps, equal within a
/// relative 1e-9; anything else exactly.
fn close(_: &Feature, got: &Value, want: &Value) -> bool {
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

/// [`View::cells`]: the column converted as the feature's type.
fn cells(f: &Feature, col: &dyn Array) -> Vec<Value> {
    convert(col, f.0).unwrap()
}

/// Applies `ops`, checking every read of `stats` (keys 0 to 3) against
/// [`expected`], then reads as of six times across the events.
fn run(ops: Vec<Op<Row>>) {
    let view = View {
        keys: 0..4,
        threads: 0,
        ..View::new("stats", &FEATURES)
    }
    .close(close)
    .cells(cells);
    let want = view.each_feature(expected);
    Harness::new(DEFINITIONS, LATE).run(ops, &[0, 50, 120, 201, 260, 320], &view, want);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn bucketed_aggregations_match_brute_force(ops in prop::collection::vec(ops(), 1..30)) {
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
    assert_eq!(types, [Int64, I, F, F, F, F, F, F, I]);
    assert_eq!(types, FEATURES.map(|f| f.0));
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
