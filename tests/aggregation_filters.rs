//! Aggregations with `where` filters checked against brute force: the
//! filtered features of a view (beside unfiltered ones, so that tiles hold
//! several filter groups) read `latest`, `as_of`, bitemporally and in
//! exports (`--as-known-at`, `--no-future-writes`) equal the function over
//! the stored events the filter matches, after random writes with
//! out-of-order and late (corrected) events, rewrites, deletes, flushes
//! and reopens. Tiles of 10 µs, windows of 35 and 100 µs.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use common::agg_checks::{View, column_values};
use common::agg_model::{self, EventValues, Harness, Late, Model, Op, event};

use proptest::prelude::*;
use strata::format::schema::Value;

const DEFINITIONS: &str = include_str!("fixtures/aggregation-filters.toml");

type Row = (Option<f64>, Option<&'static str>, Option<i64>);

/// Per feature of `stats`: (function, column, window, filter).
type Feature = (&'static str, Option<usize>, i64, fn(&Row) -> Option<bool>);

fn all(_: &Row) -> Option<bool> {
    Some(true)
}

/// The filters, written out with SQL's null rules by hand.
const FEATURES: [Feature; 8] = [
    ("count", None, 100, all),
    ("count", None, 35, |r| r.1.map(|k| k == "click")),
    ("count", None, 100, |r| r.1.map(|k| k == "click")),
    ("sum", Some(0), 100, |r| {
        let kind = r.1.map(|k| k == "buy" || k == "click");
        let pos = r.0.map(|a| a > 0.0);
        match (kind, pos) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        }
    }),
    ("sum", Some(0), 100, all),
    ("max", Some(2), 35, |r| {
        let not_view = r.1.map(|k| k != "view");
        match (not_view, r.2.is_none()) {
            (Some(true), _) | (_, true) => Some(true),
            (Some(false), false) => Some(false),
            _ => None,
        }
    }),
    ("last", Some(1), 100, |r| r.2.map(|q| q >= 5)),
    ("age_of_last", None, 100, |r| Some(r.0.is_none())),
];

const KINDS: [&str; 3] = ["click", "buy", "view"];

impl EventValues for Row {
    fn to_values(&self) -> Vec<Value> {
        vec![
            self.0.map_or(Value::Null, Value::Float64),
            self.1.map_or(Value::Null, |k| Value::String(k.into())),
            self.2.map_or(Value::Null, Value::Int64),
        ]
    }
}

fn row() -> impl Strategy<Value = Row> {
    (
        prop::option::weighted(0.8, -10i32..30),
        prop::option::weighted(0.85, 0usize..3),
        prop::option::weighted(0.8, 0i64..10),
    )
        .prop_map(|(a, k, q)| (a.map(|a| f64::from(a) * 0.5), k.map(|k| KINDS[k]), q))
}

fn op() -> impl Strategy<Value = Op<Row>> {
    let writes = prop::collection::vec(event(0..3, 0i64..300, row()), 1..8).prop_map(Op::Write);
    agg_model::op(6, writes, row(), 0..3, -10..350)
}

/// Stored events by `(key, event_ts, created_ts)`.
type Events = Model<Row>;

fn expected(m: &Events, key: i64, at: i64, known: Option<i64>, f: &Feature) -> Value {
    let (func, col, w, filter) = *f;
    let evs: Vec<_> = m
        .window(key, at, w, known)
        .into_iter()
        .filter(|(_, r)| filter(r) == Some(true))
        .collect();
    let (_, nums) = column_values(col, evs.iter().map(|(_, r)| r.to_values()));
    let newest = evs.iter().max_by_key(|(id, _)| (id.1, id.2));
    match func {
        "count" => Value::Int64(evs.len() as i64),
        "sum" if nums.is_empty() => Value::Null,
        "sum" => Value::Float64(nums.iter().sum()),
        "max" if nums.is_empty() => Value::Null,
        "max" => Value::Float64(nums.iter().copied().fold(f64::MIN, f64::max)),
        "last" => newest.map_or(Value::Null, |(_, r)| r.to_values()[col.unwrap()].clone()),
        "age_of_last" => newest.map_or(Value::Null, |(id, _)| Value::Int64(at - id.1)),
        _ => unreachable!(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn filtered_aggregations_match_brute_force(ops in prop::collection::vec(op(), 1..30)) {
        let late = Late { lateness: 30, correct: true };
        let view = View {
            keys: 0..4,
            threads: 0,
            ..View::new("stats", &FEATURES)
        };
        // A key with no event by then is NOT_FOUND: no values.
        let want = view.each_feature(expected);
        Harness::new(DEFINITIONS, late).run(ops, &[0, 50, 120, 201, 260, 320], &view, want);
    }
}

#[test]
fn filter_errors_name_the_view_the_feature_and_the_column() {
    let bad = DEFINITIONS.replace(
        "kind = 'click'\", name = \"clicks_35\"",
        "kind = 'click' and amout > 1\", name = \"clicks_35\"",
    );
    let e = strata::catalog::defs::parse(&bad).unwrap_err().to_string();
    for needle in ["\"stats\"", "clicks_35", "column 20", "amout", "where"] {
        assert!(e.contains(needle), "{needle} missing in: {e}");
    }
}
