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

use common::tables::{export_one, user_table};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arrow_array::{Array, Float64Array, Int64Array, StringArray};
use proptest::prelude::*;
use strata::aggregate::sketch::QUANTILE_ALPHA;
use strata::engine::{Clock, Options, SyncPolicy};
use strata::format::schema::{KeyValue, Value};
use strata::offline::export::{ExportRequest, KnownAt};
use strata::store::{ReadOptions, RowWrite, Status, Store, StoreOptions};

fn definitions(lateness: u32, policy: &str) -> String {
    format!(
        r#"
[[entities]]
name = "user"
join_keys = [{{ name = "user_id", type = "int64" }}]

[[feature_views]]
name = "events"
entities = ["user"]
features = [
  {{ name = "amount", type = "float64" }},
  {{ name = "qty", type = "int64" }},
  {{ name = "tag", type = "string" }},
]

[[feature_views]]
name = "stats"
source = "events"
tile = "10us"
allowed_lateness = "{lateness}us"
late_events = "{policy}"
aggregations = [
  {{ function = "count", windows = ["35us", "100us"] }},
  {{ function = "count", column = "qty", window = "35us" }},
  {{ function = "sum", column = "amount", windows = ["35us", "100us"] }},
  {{ function = "mean", column = "amount", window = "100us" }},
  {{ function = "min", column = "amount", window = "35us" }},
  {{ function = "max", column = "qty", window = "100us" }},
  {{ function = "stddev", column = "amount", window = "100us" }},
  {{ function = "last", column = "tag", window = "100us" }},
  {{ function = "age_of_last", window = "35us" }},
  {{ function = "count_distinct", column = "tag", window = "100us" }},
  {{ function = "p50", column = "amount", window = "100us" }},
  {{ function = "p95", column = "qty", window = "35us" }},
  {{ function = "sum", column = "qty", window = "100us", slide = "20us", name = "qty_sum_hopping" }},
]
"#
    )
}

/// What each feature of `stats` computes: (function, column, window, slide).
const FEATURES: [(&str, Option<usize>, i64, i64); 15] = [
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

#[derive(Debug, Clone)]
struct Ev {
    key: i64,
    ts: i64,
    /// `None`: the store's clock.
    created: Option<i64>,
    values: [Value; 3],
}

#[derive(Debug, Clone)]
enum Op {
    Write(Vec<Ev>),
    /// Writes the stored event number `.0` (mod their count) again with
    /// new values: the same version, replaced.
    Rewrite(usize, [Value; 3]),
    Delete(i64),
    Flush,
    Reopen,
    Check(Vec<i64>),
}

fn value() -> impl Strategy<Value = [Value; 3]> {
    (
        prop::option::weighted(0.8, -50i32..50),
        prop::option::weighted(0.8, 0i64..20),
        prop::option::weighted(0.8, 0u8..6),
    )
        .prop_map(|(a, q, t)| {
            [
                a.map_or(Value::Null, |a| Value::Float64(f64::from(a) * 0.5)),
                q.map_or(Value::Null, Value::Int64),
                t.map_or(Value::Null, |t| Value::String(format!("t{t}"))),
            ]
        })
}

fn op() -> impl Strategy<Value = Op> {
    let ev = (
        0i64..4,
        0i64..400,
        prop::option::weighted(0.3, 0i64..4),
        value(),
    )
        .prop_map(|(key, ts, created, values)| Ev {
            key,
            ts,
            created: created.map(|c| 100 + c),
            values,
        });
    prop_oneof![
        6 => prop::collection::vec(ev, 1..8).prop_map(Op::Write),
        2 => (any::<usize>(), value()).prop_map(|(i, v)| Op::Rewrite(i, v)),
        1 => (0i64..4).prop_map(Op::Delete),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        2 => prop::collection::vec(-10i64..450, 1..4).prop_map(Op::Check),
    ]
}

/// The brute-force model: the stored events by identity, and the watermark.
#[derive(Default)]
struct Model {
    events: BTreeMap<(i64, i64, i64), [Value; 3]>,
    watermark: Option<i64>,
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Float64(x) => Some(*x),
        Value::Int64(x) => Some(*x as f64),
        _ => None,
    }
}

/// A stored event: `(key, event_ts, created_ts)` and its values.
type Stored<'a> = (&'a (i64, i64, i64), &'a [Value; 3]);

/// The exact value of one feature, or for approximate ones the exact
/// value to compare within the stated bound.
fn expected(
    m: &Model,
    key: i64,
    at: i64,
    known: Option<i64>,
    f: (&str, Option<usize>, i64, i64),
) -> Value {
    let (func, col, w, slide) = f;
    let end = if slide > 0 {
        at.div_euclid(slide) * slide
    } else {
        at
    };
    let start = end - w;
    let evs: Vec<Stored> = m
        .events
        .iter()
        .filter(|((k, ts, c), _)| {
            *k == key && *ts > start && *ts <= end && known.is_none_or(|kn| *c <= kn)
        })
        .collect();
    let vals: Vec<&Value> = col.map_or(Vec::new(), |c| {
        evs.iter()
            .map(|(_, v)| &v[c])
            .filter(|v| !v.is_null())
            .collect()
    });
    let nums: Vec<f64> = vals.iter().filter_map(|v| num(v)).collect();
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

fn close(func: &str, got: &Value, want: &Value) -> bool {
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

fn open(dir: &std::path::Path, clock: &Arc<AtomicI64>) -> Store {
    let c = clock.clone();
    let mut engine = Options {
        sync: SyncPolicy::Never,
        memtable_bytes: 16 << 10,
        ..Options::default()
    };
    engine.clock = Clock::new(move || c.load(Ordering::SeqCst));
    Store::open_with(dir, StoreOptions { engine }).unwrap()
}

fn check(store: &Store, m: &Model, at: i64, known: Option<i64>, latest: bool) {
    for key in 0..5 {
        let opts = ReadOptions {
            as_of: (!latest).then_some(at),
            known_at: known,
        };
        let row = store.get("stats", &[KeyValue::Int64(key)], opts).unwrap();
        let any = m
            .events
            .keys()
            .any(|(k, ts, c)| *k == key && *ts <= at && known.is_none_or(|kn| *c <= kn));
        if !any {
            assert!(
                row.statuses.iter().all(|s| *s == Status::NotFound),
                "key {key} at {at}: expected NOT_FOUND, got {row:?}"
            );
            continue;
        }
        for (i, f) in FEATURES.iter().enumerate() {
            let want = expected(m, key, at, known, *f);
            let got = &row.values[i];
            assert!(
                close(f.0, got, &want),
                "key {key} at {at} known {known:?} latest {latest} feature {i} {f:?}: got {got:?}, want {want:?}"
            );
            let status = if got.is_null() {
                Status::NullValue
            } else {
                Status::Present
            };
            assert_eq!(row.statuses[i], status);
        }
    }
}

/// Exports `stats:*` for every key at every time of `ts` and checks each
/// cell against the model (a row with no event before it: all null).
fn check_export(store: &Store, m: &Model, ts: &[i64], known_at: KnownAt) {
    let rows: Vec<(i64, i64)> = (0..5)
        .flat_map(|k| ts.iter().map(move |&t| (k, t)))
        .collect();
    let table = user_table(rows.iter().copied());
    let mut req = ExportRequest::new("stats:*").unwrap();
    req.known_at = known_at;
    req.threads = 2;
    let out = export_one(store, &req, table);
    let batch = arrow_select::concat::concat_batches(&out[0].schema(), &out).unwrap();
    for (i, &(key, t)) in rows.iter().enumerate() {
        let known = match known_at {
            KnownAt::Unbounded => None,
            KnownAt::At(k) => Some(k),
            KnownAt::EventTime => Some(t),
        };
        let any = m
            .events
            .keys()
            .any(|(k, ts, c)| *k == key && *ts <= t && known.is_none_or(|kn| *c <= kn));
        for (f, feature) in FEATURES.iter().enumerate() {
            let col = batch.column(2 + f);
            let got = if col.is_null(i) {
                Value::Null
            } else if let Some(a) = col.as_any().downcast_ref::<Int64Array>() {
                Value::Int64(a.value(i))
            } else if let Some(a) = col.as_any().downcast_ref::<Float64Array>() {
                Value::Float64(a.value(i))
            } else {
                let a = col.as_any().downcast_ref::<StringArray>().unwrap();
                Value::String(a.value(i).to_string())
            };
            let want = if any {
                expected(m, key, t, known, *feature)
            } else {
                Value::Null
            };
            assert!(
                close(feature.0, &got, &want),
                "export {known_at:?} key {key} at {t} feature {f} {feature:?}: got {got:?}, want {want:?}"
            );
        }
    }
}

fn run(ops: Vec<Op>, lateness: u32, correct: bool) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(200));
    let mut store = open(dir.path(), &clock);
    let policy = if correct { "correct" } else { "reject" };
    common::stores::apply(&store, &definitions(lateness, policy));
    let mut m = Model::default();
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
                        values: e.values.to_vec(),
                    })
                    .collect();
                let summary = store.write("events", &rows).unwrap();
                let mut rejected = 0;
                for e in evs {
                    let late = m.watermark.is_some_and(|w| e.ts < w - i64::from(lateness));
                    if late && !correct {
                        rejected += 1;
                        continue;
                    }
                    m.watermark = Some(m.watermark.map_or(e.ts, |w| w.max(e.ts)));
                    m.events
                        .insert((e.key, e.ts, e.created.unwrap_or(now)), e.values);
                }
                assert_eq!(summary.rejected_late, rejected);
            }
            Op::Rewrite(i, values) => {
                if m.events.is_empty() {
                    continue;
                }
                let &(key, ts, created) = m.events.keys().nth(i % m.events.len()).unwrap();
                let row = RowWrite {
                    key: vec![KeyValue::Int64(key)],
                    event_ts: ts,
                    created_ts: Some(created),
                    values: values.to_vec(),
                };
                let summary = store.write("events", &[row]).unwrap();
                let late = m.watermark.is_some_and(|w| ts < w - i64::from(lateness));
                if late && !correct {
                    assert_eq!(summary.rejected_late, 1);
                } else {
                    m.events.insert((key, ts, created), values);
                }
            }
            Op::Delete(k) => {
                store.delete("user", &[KeyValue::Int64(k)]).unwrap();
                m.events.retain(|(key, _, _), _| *key != k);
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
    for t in [0, 50, 120, 201, 260, 399, 420] {
        check(&store, &m, t, None, false);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn aggregation_reads_match_brute_force(
        ops in prop::collection::vec(op(), 1..30),
        lateness in prop_oneof![Just(0u32), Just(30), Just(1000)],
        correct in any::<bool>(),
    ) {
        run(ops, lateness, correct);
    }
}
