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

use common::tables::{export_one, user_table};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arrow_array::{
    Array, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use proptest::prelude::*;
use strata::engine::{Clock, Options, SyncPolicy};
use strata::format::schema::{KeyValue, Value};
use strata::offline::export::{ExportRequest, KnownAt};
use strata::store::{ReadOptions, RowWrite, Status, Store, StoreOptions};

fn definitions(gap: i64, lateness: u32, policy: &str) -> String {
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
name = "sess"
source = "events"
session_gap = "{gap}us"
allowed_lateness = "{lateness}us"
late_events = "{policy}"
aggregations = [
  {{ function = "count" }},
  {{ function = "count", column = "qty" }},
  {{ function = "count_distinct", column = "tag" }},
  {{ function = "first", column = "tag" }},
  {{ function = "last", column = "tag" }},
  {{ function = "min", column = "amount" }},
  {{ function = "max", column = "qty" }},
  {{ function = "sum", column = "amount" }},
  {{ function = "mean", column = "qty" }},
  {{ function = "session_start" }},
  {{ function = "session_end" }},
  {{ function = "duration" }},
  {{ function = "is_open" }},
  {{ function = "count", where = "tag = 't1' or qty > 10", name = "count_f" }},
  {{ function = "sum", column = "amount", where = "qty < 5", name = "amount_sum_f" }},
  {{ function = "first", column = "tag", where = "amount > 0", name = "tag_first_f" }},
  {{ function = "last", column = "qty", where = "tag in ('t2', 't3')", name = "qty_last_f" }},
  {{ function = "count_distinct", column = "tag", where = "not (qty is null)", name = "tag_distinct_f" }},
]
"#
    )
}

/// A `where` filter, evaluated here directly (SQL's logic: an event
/// matches when the condition is true, not false or null).
type Filter = fn(&[Value; 3]) -> bool;

fn tag_is(v: &[Value; 3], tags: &[&str]) -> bool {
    matches!(&v[2], Value::String(t) if tags.contains(&t.as_str()))
}

/// What each feature of `sess` computes: (function, column, filter).
const FEATURES: [(&str, Option<usize>, Option<Filter>); 18] = [
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
    // A dense run of events (`step` ≤ 3 µs apart, newest or oldest first):
    // sessions longer than the read's backward scan chunk of 8 gaps.
    let dense = (
        0i64..4,
        0i64..400,
        1i64..=3,
        prop::collection::vec(value(), 5..40),
        any::<bool>(),
    )
        .prop_map(|(key, start, step, values, descending)| {
            let mut evs: Vec<Ev> = values
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
    prop_oneof![
        6 => prop::collection::vec(ev, 1..12).prop_map(Op::Write),
        2 => dense,
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

/// The session of `key` at `at`: the events visible at `known`, with
/// `event_ts <= at`, sorted by `(event_ts, created_ts)`, cut at the last
/// gap wider than `gap`. Empty when there is no such event.
fn session(
    m: &Model,
    key: i64,
    at: i64,
    known: Option<i64>,
    gap: i64,
) -> Vec<((i64, i64), [Value; 3])> {
    let evs: Vec<((i64, i64), [Value; 3])> = m
        .events
        .iter()
        .filter(|((k, ts, c), _)| *k == key && *ts <= at && known.is_none_or(|kn| *c <= kn))
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
fn expected(
    s: &[((i64, i64), [Value; 3])],
    at: i64,
    gap: i64,
    f: (&str, Option<usize>, Option<Filter>),
) -> Value {
    let (func, col, filter) = f;
    let (start, end) = (s[0].0.0, s[s.len() - 1].0.0);
    // A filter selects the events of the feature, not the session.
    let s: Vec<((i64, i64), [Value; 3])> = s
        .iter()
        .filter(|(_, v)| filter.is_none_or(|w| w(v)))
        .cloned()
        .collect();
    let vals: Vec<&Value> = col.map_or(Vec::new(), |c| {
        s.iter()
            .map(|(_, v)| &v[c])
            .filter(|v| !v.is_null())
            .collect()
    });
    let nums: Vec<f64> = vals.iter().filter_map(|v| num(v)).collect();
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

fn close(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Float64(g), Value::Float64(w)) => (g - w).abs() <= 1e-9 * (1.0 + w.abs()),
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

fn check(store: &Store, m: &Model, gap: i64, at: i64, known: Option<i64>, latest: bool) {
    for key in 0..5 {
        let opts = ReadOptions {
            as_of: (!latest).then_some(at),
            known_at: known,
        };
        let row = store.get("sess", &[KeyValue::Int64(key)], opts).unwrap();
        let s = session(m, key, at, known, gap);
        if s.is_empty() {
            assert!(
                row.statuses.iter().all(|s| *s == Status::NotFound),
                "key {key} at {at}: expected NOT_FOUND, got {row:?}"
            );
            continue;
        }
        for (i, f) in FEATURES.iter().enumerate() {
            let want = expected(&s, at, gap, *f);
            let got = &row.values[i];
            assert!(
                close(got, &want),
                "key {key} at {at} known {known:?} latest {latest} feature {i} {f:?}: got {got:?}, want {want:?}; session {s:?}"
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

/// One exported cell as a [`Value`].
fn cell(col: &dyn Array, i: usize) -> Value {
    let any = col.as_any();
    if col.is_null(i) {
        Value::Null
    } else if let Some(a) = any.downcast_ref::<Int64Array>() {
        Value::Int64(a.value(i))
    } else if let Some(a) = any.downcast_ref::<Float64Array>() {
        Value::Float64(a.value(i))
    } else if let Some(a) = any.downcast_ref::<BooleanArray>() {
        Value::Bool(a.value(i))
    } else if let Some(a) = any.downcast_ref::<TimestampMicrosecondArray>() {
        Value::Timestamp(a.value(i))
    } else {
        let a = any.downcast_ref::<StringArray>().unwrap();
        Value::String(a.value(i).to_string())
    }
}

/// Exports `sess:*` for every key at every time of `ts` and checks each
/// cell against the model (a row with no event before it: all null).
fn check_export(store: &Store, m: &Model, gap: i64, ts: &[i64], known_at: KnownAt) {
    let rows: Vec<(i64, i64)> = (0..5)
        .flat_map(|k| ts.iter().map(move |&t| (k, t)))
        .collect();
    let table = user_table(rows.iter().copied());
    let mut req = ExportRequest::new("sess:*").unwrap();
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
        let s = session(m, key, t, known, gap);
        for (f, feature) in FEATURES.iter().enumerate() {
            let got = cell(batch.column(2 + f).as_ref(), i);
            let want = if s.is_empty() {
                Value::Null
            } else {
                expected(&s, t, gap, *feature)
            };
            assert!(
                close(&got, &want),
                "export {known_at:?} key {key} at {t} feature {f} {feature:?}: got {got:?}, want {want:?}"
            );
        }
    }
}

fn run(ops: Vec<Op>, gap: i64, lateness: u32, correct: bool) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(200));
    let mut store = open(dir.path(), &clock);
    let policy = if correct { "correct" } else { "reject" };
    common::stores::apply(&store, &definitions(gap, lateness, policy));
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
                    check(&store, &m, gap, t, None, false);
                    check(&store, &m, gap, t, Some(now - 3), false);
                }
                check(&store, &m, gap, now, None, true);
                for known in [KnownAt::Unbounded, KnownAt::At(now - 3), KnownAt::EventTime] {
                    check_export(&store, &m, gap, &ts, known);
                }
            }
        }
    }
    for t in [0, 50, 120, 201, 260, 399, 420] {
        check(&store, &m, gap, t, None, false);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn session_reads_match_brute_force(
        ops in prop::collection::vec(op(), 1..30),
        gap in prop_oneof![Just(3i64), Just(20), Just(50)],
        lateness in prop_oneof![Just(0u32), Just(30), Just(1000)],
        correct in any::<bool>(),
    ) {
        run(ops, gap, lateness, correct);
    }
}
