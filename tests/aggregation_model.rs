//! Aggregation reads (`latest`, `as_of`, bitemporal, and training exports,
//! also with `--as-known-at` and `--no-future-writes`) checked against a
//! brute-force computation over the raw events, after random writes with
//! out-of-order, late and rewritten events, deletes, flushes and reopens.
//! Windows of 35 µs and 100 µs, one hopping (slide 20 µs), tiles of 10 µs,
//! so that reads combine tiles and raw events at both edges.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use common::agg_checks::{View, column_values};
use common::agg_model::{
    self, EventValues, Harness, Late, Model, Op, aggregation_view, event, values3,
};

use proptest::prelude::*;
use strata::aggregate::sketch::QUANTILE_ALPHA;
use strata::format::schema::Value;

/// The aggregations of `stats`.
const AGGREGATIONS: &str = r#"
  { function = "count", windows = ["35us", "100us"] },
  { function = "count", column = "qty", window = "35us" },
  { function = "sum", column = "amount", windows = ["35us", "100us"] },
  { function = "mean", column = "amount", window = "100us" },
  { function = "min", column = "amount", window = "35us" },
  { function = "max", column = "qty", window = "100us" },
  { function = "stddev", column = "amount", window = "100us" },
  { function = "last", column = "tag", window = "100us" },
  { function = "age_of_last", window = "35us" },
  { function = "count_distinct", column = "tag", window = "100us" },
  { function = "p50", column = "amount", window = "100us" },
  { function = "p95", column = "qty", window = "35us" },
  { function = "sum", column = "qty", window = "100us", slide = "20us", name = "qty_sum_hopping" },
"#;

fn definitions(late: Late) -> String {
    aggregation_view("stats", "tile = \"10us\"", late, AGGREGATIONS.trim_start())
}

/// What one feature of `stats` computes: (function, column, window, slide).
type Feature = (&'static str, Option<usize>, i64, i64);

const FEATURES: [Feature; 15] = [
    ("count", None, 35, 0),
    ("count", None, 100, 0),
    ("count", Some(1), 35, 0),
    ("sum", Some(0), 35, 0),
    ("sum", Some(0), 100, 0),
    ("mean", Some(0), 100, 0),
    ("min", Some(0), 35, 0),
    ("max", Some(1), 100, 0),
    ("stddev", Some(0), 100, 0),
    ("last", Some(2), 100, 0),
    ("age_of_last", None, 35, 0),
    ("count_distinct", Some(2), 100, 0),
    ("p50", Some(0), 100, 0),
    ("p95", Some(1), 35, 0),
    ("sum", Some(1), 100, 20),
];

type Events = Model<[Value; 3]>;

fn op() -> impl Strategy<Value = Op<[Value; 3]>> {
    let ev = event(0..4, 0i64..400, values3(-50..50, 0..20));
    let writes = prop::collection::vec(ev, 1..8).prop_map(Op::Write);
    agg_model::op(6, writes, values3(-50..50, 0..20), 0..4, -10..450)
}

/// The exact value of one feature, or for approximate ones the exact
/// value to compare within the stated bound.
fn expected(m: &Events, key: i64, at: i64, known: Option<i64>, f: &Feature) -> Value {
    let (func, col, w, slide) = *f;
    let end = if slide > 0 {
        at.div_euclid(slide) * slide
    } else {
        at
    };
    let evs = m.window(key, end, w, known);
    let (vals, nums) = column_values(col, evs.iter().map(|(_, v)| v.to_values()));
    let float = |ok: bool, x: f64| if ok { Value::Float64(x) } else { Value::Null };
    let newest = evs.iter().max_by_key(|(id, _)| (id.1, id.2));
    match func {
        "count" if col.is_none() => Value::Int64(evs.len() as i64),
        "count" => Value::Int64(vals.len() as i64),
        "sum" => float(!nums.is_empty(), nums.iter().sum()),
        "mean" => float(
            !nums.is_empty(),
            nums.iter().sum::<f64>() / nums.len() as f64,
        ),
        "min" => float(
            !nums.is_empty(),
            nums.iter().copied().fold(f64::MAX, f64::min),
        ),
        "max" => float(
            !nums.is_empty(),
            nums.iter().copied().fold(f64::MIN, f64::max),
        ),
        "stddev" => {
            let n = nums.len() as f64;
            let mean = nums.iter().sum::<f64>() / n;
            let ss: f64 = nums.iter().map(|x| (x - mean) * (x - mean)).sum();
            float(nums.len() > 1, (ss / (n - 1.0)).sqrt())
        }
        "last" => newest.map_or(Value::Null, |(_, v)| v[col.unwrap()].clone()),
        "age_of_last" => newest.map_or(Value::Null, |(id, _)| Value::Int64(end - id.1)),
        "count_distinct" => {
            let mut d: Vec<String> = vals.iter().map(|v| format!("{v:?}")).collect();
            d.sort();
            d.dedup();
            Value::Int64(d.len() as i64)
        }
        "p50" | "p95" => {
            let q = if func == "p50" { 0.5 } else { 0.95 };
            let mut s = nums.clone();
            s.sort_by(f64::total_cmp);
            if s.is_empty() {
                Value::Null
            } else {
                Value::Float64(s[(q * (s.len() - 1) as f64).floor() as usize])
            }
        }
        _ => unreachable!(),
    }
}

fn close(f: &Feature, got: &Value, want: &Value) -> bool {
    let func = f.0;
    match (got, want) {
        (Value::Float64(g), Value::Float64(w)) => {
            let tol = if func.starts_with('p') {
                QUANTILE_ALPHA * w.abs() + 1e-9
            } else {
                1e-9 * (1.0 + w.abs())
            };
            (g - w).abs() <= tol
        }
        // Distinct counts this small are exact but for a rare collision.
        (Value::Int64(g), Value::Int64(w)) if func == "count_distinct" => (g - w).abs() <= 1,
        _ => got == want,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn aggregation_reads_match_brute_force(
        ops in prop::collection::vec(op(), 1..30),
        late in agg_model::late(),
    ) {
        let view = View::new("stats", &FEATURES).close(close);
        let want = view.each_feature(expected);
        Harness::new(&definitions(late), late).run(ops, &[0, 50, 120, 201, 260, 399, 420], &view, want);
    }
}
