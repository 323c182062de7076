//! The collecting and order aggregate functions (`first`, `variance`,
//! `percentile`, `count_distinct_exact`, `collect_set`, `first_k`,
//! `last_k`, `top_k`, `bottom_k`, `histogram`) checked against a brute-force
//! computation over the raw events through `latest`, `as_of`, bitemporal
//! reads and training exports (with `--as-known-at` and
//! `--no-future-writes`), after random writes with out-of-order, late and
//! rewritten events, deletes, flushes and reopens. The harness is that of
//! `aggregation_model.rs`: windows of 35 µs and 100 µs, one hopping, tiles
//! of 10 µs, so reads combine tiles and raw events at both edges; bounds
//! (`limit`, `k`) small enough that windows and tiles exceed them (the
//! `tag` column keeps at most 5 distinct values of its 6, `qty` 3 of 12,
//! `amount` 5 of 16).

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use common::agg_checks::View;
use common::agg_model::{self, Harness, Late, Model, Op, aggregation_view, event, values3};

use proptest::prelude::*;
use strata::aggregate::sketch::QUANTILE_ALPHA;
use strata::format::schema::{FeatureType, Value};
use strata::offline::read::convert::convert;
use strata::store::Store;

/// The aggregations of `stats`.
const AGGREGATIONS: &str = r#"
  { function = "first", column = "tag", window = "100us" },
  { function = "first", column = "amount", window = "35us" },
  { function = "variance", column = "amount", window = "100us" },
  { function = "percentile", column = "amount", quantiles = [0.0, 0.25, 0.9, 1.0], window = "100us" },
  { function = "count_distinct_exact", column = "tag", limit = 4, window = "100us" },
  { function = "count_distinct_exact", column = "qty", limit = 3, windows = ["35us", "100us"] },
  { function = "collect_set", column = "tag", limit = 3, window = "100us" },
  { function = "collect_set", column = "amount", limit = 5, window = "35us" },
  { function = "first_k", column = "qty", k = 3, window = "100us" },
  { function = "last_k", column = "tag", k = 2, window = "35us" },
  { function = "top_k", column = "amount", k = 3, window = "100us" },
  { function = "bottom_k", column = "qty", k = 2, window = "100us", slide = "20us" },
  { function = "histogram", column = "tag", k = 2, limit = 5, window = "100us" },
  { function = "histogram", column = "qty", k = 2, limit = 3, window = "35us" },
"#;

fn definitions(late: Late) -> String {
    aggregation_view("stats", "tile = \"10us\"", late, AGGREGATIONS.trim_start())
}

/// One feature of `stats`: function, column, window, slide, parameter
/// (quantile in parts per 10 000, `limit`, or `k`; histograms: `(k, limit)`
/// as `k * 10 000 + limit`), and the feature's type.
type F = (&'static str, usize, i64, i64, u32, FeatureType);

const FEATURES: [F; 18] = [
    ("first", 2, 100, 0, 0, FeatureType::String),
    ("first", 0, 35, 0, 0, FeatureType::Float64),
    ("variance", 0, 100, 0, 0, FeatureType::Float64),
    ("percentile", 0, 100, 0, 0, FeatureType::Float64),
    ("percentile", 0, 100, 0, 2500, FeatureType::Float64),
    ("percentile", 0, 100, 0, 9000, FeatureType::Float64),
    ("percentile", 0, 100, 0, 10_000, FeatureType::Float64),
    ("count_distinct_exact", 2, 100, 0, 4, FeatureType::Int64),
    ("count_distinct_exact", 1, 35, 0, 3, FeatureType::Int64),
    ("count_distinct_exact", 1, 100, 0, 3, FeatureType::Int64),
    ("collect_set", 2, 100, 0, 3, FeatureType::ListString),
    ("collect_set", 0, 35, 0, 5, FeatureType::ListFloat64),
    ("first_k", 1, 100, 0, 3, FeatureType::ListInt64),
    ("last_k", 2, 35, 0, 2, FeatureType::ListString),
    ("top_k", 0, 100, 0, 3, FeatureType::ListFloat64),
    ("bottom_k", 1, 100, 20, 2, FeatureType::ListInt64),
    (
        "histogram",
        2,
        100,
        0,
        2 * 10_000 + 5,
        FeatureType::MapStringInt64,
    ),
    (
        "histogram",
        1,
        35,
        0,
        2 * 10_000 + 3,
        FeatureType::MapStringInt64,
    ),
];

type Events = Model<[Value; 3]>;

fn op() -> impl Strategy<Value = Op<[Value; 3]>> {
    // Half the events dense around the clock's start: tiles with more
    // distinct values than the bounds.
    let ev = event(
        0..4,
        prop_oneof![0i64..400, 185i64..215],
        values3(-8..8, 0..12),
    );
    let writes = prop::collection::vec(ev, 1..10).prop_map(Op::Write);
    agg_model::op(6, writes, values3(-8..8, 0..12), 0..4, -10..450)
}

/// A non-null value as a sortable key: floats by total order.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum K {
    I(i64),
    F(f64),
    S(String),
}

impl Eq for K {}

#[expect(
    clippy::derive_ord_xor_partial_ord,
    reason = "floats by total_cmp; the model's values are never NaN"
)]
impl Ord for K {
    fn cmp(&self, o: &K) -> std::cmp::Ordering {
        match (self, o) {
            (K::I(a), K::I(b)) => a.cmp(b),
            (K::F(a), K::F(b)) => a.total_cmp(b),
            (K::S(a), K::S(b)) => a.cmp(b),
            _ => unreachable!(),
        }
    }
}

fn k(v: &Value) -> K {
    match v {
        Value::Int64(x) => K::I(*x),
        Value::Float64(x) => K::F(*x),
        Value::String(s) => K::S(s.clone()),
        _ => unreachable!(),
    }
}

fn list(ty: FeatureType, ks: Vec<K>) -> Value {
    if ks.is_empty() {
        return Value::Null;
    }
    let mut out = Vec::new();
    for x in ks {
        out.push(match x {
            K::I(i) => Value::Int64(i),
            K::F(f) => Value::Float64(f),
            K::S(s) => Value::String(s),
        });
    }
    match ty {
        FeatureType::ListInt64 => Value::ListInt64(
            out.iter()
                .map(|v| match v {
                    Value::Int64(x) => *x,
                    _ => unreachable!(),
                })
                .collect(),
        ),
        FeatureType::ListFloat64 => Value::ListFloat64(
            out.iter()
                .map(|v| match v {
                    Value::Float64(x) => *x,
                    _ => unreachable!(),
                })
                .collect(),
        ),
        _ => Value::ListString(
            out.iter()
                .map(|v| match v {
                    Value::String(x) => x.clone(),
                    _ => unreachable!(),
                })
                .collect(),
        ),
    }
}

fn expected(m: &Events, key: i64, at: i64, known: Option<i64>, f: &F) -> Value {
    let (func, col, w, slide, p, ty) = *f;
    let end = if slide > 0 {
        at.div_euclid(slide) * slide
    } else {
        at
    };
    // Events of the window, oldest first.
    let evs = m.window(key, end, w, known);
    let mut by_time = evs.clone();
    by_time.sort_by_key(|(id, _)| (id.1, id.2));
    let vals: Vec<K> = by_time
        .iter()
        .filter(|(_, v)| !v[col].is_null())
        .map(|(_, v)| k(&v[col]))
        .collect();
    let mut sorted = vals.clone();
    sorted.sort();
    let mut distinct = sorted.clone();
    distinct.dedup();
    match func {
        "first" => by_time.first().map_or(Value::Null, |(_, v)| v[col].clone()),
        "variance" => {
            let xs: Vec<f64> = vals
                .iter()
                .map(|x| match x {
                    K::F(f) => *f,
                    _ => unreachable!(),
                })
                .collect();
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / n;
            let ss: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
            if xs.len() > 1 {
                Value::Float64(ss / (n - 1.0))
            } else {
                Value::Null
            }
        }
        "percentile" => match sorted.len() {
            0 => Value::Null,
            n => {
                let rank = (f64::from(p) / 10_000.0 * (n - 1) as f64).floor() as usize;
                match &sorted[rank] {
                    K::F(x) => Value::Float64(*x),
                    _ => unreachable!(),
                }
            }
        },
        "count_distinct_exact" if distinct.len() > p as usize => Value::Null,
        "count_distinct_exact" => Value::Int64(distinct.len() as i64),
        "collect_set" => list(ty, distinct.into_iter().take(p as usize).collect()),
        "first_k" => list(ty, vals.into_iter().take(p as usize).collect()),
        "last_k" => list(ty, vals.into_iter().rev().take(p as usize).collect()),
        "top_k" => list(ty, sorted.into_iter().rev().take(p as usize).collect()),
        "bottom_k" => list(ty, sorted.into_iter().take(p as usize).collect()),
        "histogram" => {
            let (top, limit) = ((p / 10_000) as usize, (p % 10_000) as usize);
            if distinct.is_empty() || distinct.len() > limit {
                return Value::Null;
            }
            let mut counts: Vec<(i64, K)> = distinct
                .into_iter()
                .map(|d| (sorted.iter().filter(|x| **x == d).count() as i64, d))
                .collect();
            counts.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            Value::MapStringInt64(
                counts
                    .into_iter()
                    .take(top)
                    .map(|(n, d)| {
                        let text = match d {
                            K::I(i) => i.to_string(),
                            K::S(s) => s,
                            K::F(f) => format!("{f:?}"),
                        };
                        (text, n)
                    })
                    .collect(),
            )
        }
        _ => unreachable!(),
    }
}

fn close(f: &F, got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Float64(g), Value::Float64(w)) => {
            let tol = if f.0 == "percentile" {
                QUANTILE_ALPHA * w.abs() + 1e-9
            } else {
                1e-9 * (1.0 + w.abs())
            };
            (g - w).abs() <= tol
        }
        _ => got == want,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn new_functions_match_brute_force(
        ops in prop::collection::vec(op(), 1..30),
        late in agg_model::late(),
    ) {
        let harness = Harness::new(&definitions(late), late);
        let types: Vec<FeatureType> = harness.store().catalog().view("stats").unwrap().schema();
        assert_eq!(types, FEATURES.map(|f| f.5), "declared feature types");
        let view = View::new("stats", &FEATURES)
            .close(close)
            .cells(|f, col| convert(col, f.5).unwrap());
        let want = view.each_feature(expected);
        harness.run(ops, &[0, 50, 120, 201, 260, 399, 420], &view, want);
    }
}

#[test]
fn feature_names_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let cat = common::stores::apply(
        &store,
        &definitions(Late {
            lateness: 0,
            correct: false,
        }),
    );
    let names: Vec<&str> = cat
        .view("stats")
        .unwrap()
        .features
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "tag_first_100us",
            "amount_first_35us",
            "amount_variance_100us",
            "amount_p0_100us",
            "amount_p25_100us",
            "amount_p90_100us",
            "amount_p100_100us",
            "tag_count_distinct_exact_100us",
            "qty_count_distinct_exact_35us",
            "qty_count_distinct_exact_100us",
            "tag_collect_set_100us",
            "amount_collect_set_35us",
            "qty_first3_100us",
            "tag_last2_35us",
            "amount_top3_100us",
            "qty_bottom2_100us",
            "tag_histogram_100us",
            "qty_histogram_35us",
        ]
    );
}
