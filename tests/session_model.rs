//! Session reads (`latest`, `as_of`, bitemporal, and training exports,
//! also with `--as-known-at` and `--no-future-writes`) checked against a
//! brute-force computation of the session over the raw events, after
//! random writes with out-of-order, late and rewritten events, deletes,
//! flushes and reopens. Gaps of 3, 20 and 50 µs over events in 0..400 µs,
//! so that sessions merge, split and span several backward scan chunks
//! (8 gaps each).

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use common::agg_checks::{View, column_values};
use common::agg_model::{
    self, Ev, EventValues, Harness, Late, Model, Op, aggregation_view, event, values3,
};

use proptest::prelude::*;
use strata::format::schema::Value;

/// The aggregations of `sess`.
const AGGREGATIONS: &str = r#"
  { function = "count" },
  { function = "count", column = "qty" },
  { function = "count_distinct", column = "tag" },
  { function = "first", column = "tag" },
  { function = "last", column = "tag" },
  { function = "min", column = "amount" },
  { function = "max", column = "qty" },
  { function = "sum", column = "amount" },
  { function = "mean", column = "qty" },
  { function = "session_start" },
  { function = "session_end" },
  { function = "duration" },
  { function = "is_open" },
  { function = "count", where = "tag = 't1' or qty > 10", name = "count_f" },
  { function = "sum", column = "amount", where = "qty < 5", name = "amount_sum_f" },
  { function = "first", column = "tag", where = "amount > 0", name = "tag_first_f" },
  { function = "last", column = "qty", where = "tag in ('t2', 't3')", name = "qty_last_f" },
  { function = "count_distinct", column = "tag", where = "not (qty is null)", name = "tag_distinct_f" },
"#;

fn definitions(gap: i64, late: Late) -> String {
    aggregation_view(
        "sess",
        &format!("session_gap = \"{gap}us\""),
        late,
        AGGREGATIONS.trim_start(),
    )
}

/// A `where` filter, evaluated here directly (SQL's logic: an event
/// matches when the condition is true, not false or null).
type Filter = fn(&[Value; 3]) -> bool;

fn tag_is(v: &[Value; 3], tags: &[&str]) -> bool {
    matches!(&v[2], Value::String(t) if tags.contains(&t.as_str()))
}

/// What one feature of `sess` computes: (function, column, filter).
type Feature = (&'static str, Option<usize>, Option<Filter>);

const FEATURES: [Feature; 18] = [
    ("count", None, None),
    ("count", Some(1), None),
    ("count_distinct", Some(2), None),
    ("first", Some(2), None),
    ("last", Some(2), None),
    ("min", Some(0), None),
    ("max", Some(1), None),
    ("sum", Some(0), None),
    ("mean", Some(1), None),
    ("session_start", None, None),
    ("session_end", None, None),
    ("duration", None, None),
    ("is_open", None, None),
    (
        "count",
        None,
        Some(|v| tag_is(v, &["t1"]) || matches!(v[1], Value::Int64(q) if q > 10)),
    ),
    (
        "sum",
        Some(0),
        Some(|v| matches!(v[1], Value::Int64(q) if q < 5)),
    ),
    (
        "first",
        Some(2),
        Some(|v| matches!(v[0], Value::Float64(a) if a > 0.0)),
    ),
    ("last", Some(1), Some(|v| tag_is(v, &["t2", "t3"]))),
    ("count_distinct", Some(2), Some(|v| !v[1].is_null())),
];

type Events = Model<[Value; 3]>;

fn op() -> impl Strategy<Value = Op<[Value; 3]>> {
    let ev = event(0..4, 0i64..400, values3(-50..50, 0..20));
    // A dense run of events (`step` ≤ 3 µs apart, newest or oldest first):
    // sessions longer than the read's backward scan chunk of 8 gaps.
    let dense = (
        0i64..4,
        0i64..400,
        1i64..=3,
        prop::collection::vec(values3(-50..50, 0..20), 5..40),
        any::<bool>(),
    )
        .prop_map(|(key, start, step, values, descending)| {
            let mut evs: Vec<Ev<_>> = values
                .into_iter()
                .enumerate()
                .map(|(i, values)| Ev {
                    key,
                    ts: start + step * i as i64,
                    created: None,
                    values,
                })
                .collect();
            if descending {
                evs.reverse();
            }
            Op::Write(evs)
        });
    let writes = prop_oneof![
        6 => prop::collection::vec(ev, 1..12).prop_map(Op::Write),
        2 => dense,
    ];
    agg_model::op(8, writes, values3(-50..50, 0..20), 0..4, -10..450)
}

/// The session of `key` at `at`: the events visible at `known`, with
/// `event_ts <= at`, sorted by `(event_ts, created_ts)`, cut at the last
/// gap wider than `gap`. Empty when there is no such event.
fn session(
    m: &Events,
    key: i64,
    at: i64,
    known: Option<i64>,
    gap: i64,
) -> Vec<((i64, i64), [Value; 3])> {
    let evs: Vec<((i64, i64), [Value; 3])> = m
        .visible(key, at, known)
        .map(|((_, ts, c), v)| ((*ts, *c), v.clone()))
        .collect();
    // The map is ordered by (key, ts, created): `evs` is sorted.
    if evs.is_empty() {
        return evs;
    }
    let mut first = evs.len() - 1;
    while first > 0 && evs[first].0.0 - evs[first - 1].0.0 <= gap {
        first -= 1;
    }
    evs[first..].to_vec()
}

/// The value of one feature over the session `s`, read at `at`.
fn expected(s: &[((i64, i64), [Value; 3])], at: i64, gap: i64, f: Feature) -> Value {
    let (func, col, filter) = f;
    let (start, end) = (s[0].0.0, s[s.len() - 1].0.0);
    // A filter selects the events of the feature, not the session.
    let s: Vec<((i64, i64), [Value; 3])> = s
        .iter()
        .filter(|(_, v)| filter.is_none_or(|w| w(v)))
        .cloned()
        .collect();
    let (vals, nums) = column_values(col, s.iter().map(|(_, v)| v.to_values()));
    let float = |x: f64| {
        if nums.is_empty() {
            Value::Null
        } else {
            Value::Float64(x)
        }
    };
    let edge = |i: Option<usize>| i.map_or(Value::Null, |i| s[i].1[col.unwrap()].clone());
    match func {
        "count" if col.is_none() => Value::Int64(s.len() as i64),
        "count" => Value::Int64(vals.len() as i64),
        "count_distinct" => {
            let mut d: Vec<String> = vals.iter().map(|v| format!("{v:?}")).collect();
            d.sort();
            d.dedup();
            Value::Int64(d.len() as i64)
        }
        "first" => edge((!s.is_empty()).then_some(0)),
        "last" => edge(s.len().checked_sub(1)),
        "min" => float(nums.iter().copied().fold(f64::MAX, f64::min)),
        "max" => float(nums.iter().copied().fold(f64::MIN, f64::max)),
        "sum" => float(nums.iter().sum()),
        "mean" => float(nums.iter().sum::<f64>() / nums.len() as f64),
        "session_start" => Value::Timestamp(start),
        "session_end" => Value::Timestamp(end),
        "duration" => Value::Int64(end - start),
        "is_open" => Value::Bool(at - end <= gap),
        _ => unreachable!(),
    }
}

fn want(m: &Events, gap: i64, key: i64, at: i64, known: Option<i64>) -> Option<Vec<Value>> {
    let s = session(m, key, at, known, gap);
    (!s.is_empty()).then(|| FEATURES.map(|f| expected(&s, at, gap, f)).to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn session_reads_match_brute_force(
        ops in prop::collection::vec(op(), 1..30),
        gap in prop_oneof![Just(3i64), Just(20), Just(50)],
        late in agg_model::late(),
    ) {
        Harness::new(&definitions(gap, late), late).run(
            ops,
            &[0, 50, 120, 201, 260, 399, 420],
            &View::new("sess", &FEATURES),
            |m, key, at, known| want(m, gap, key, at, known),
        );
    }
}
