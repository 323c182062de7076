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

use common::tables::{export_one, user_table};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arrow_array::{Array, Float64Array, Int64Array, StringArray};
use proptest::prelude::*;
use strata::engine::{Clock, Options, SyncPolicy};
use strata::format::schema::{KeyValue, Value};
use strata::offline::export::{ExportRequest, KnownAt};
use strata::store::{ReadOptions, RowWrite, Store, StoreOptions};

const DEFINITIONS: &str = r#"
[[entities]]
name = "user"
join_keys = [{ name = "user_id", type = "int64" }]

[[feature_views]]
name = "events"
entities = ["user"]
features = [
  { name = "amount", type = "float64" },
  { name = "kind", type = "string" },
  { name = "qty", type = "int64" },
]

[[feature_views]]
name = "stats"
source = "events"
tile = "10us"
allowed_lateness = "30us"
late_events = "correct"
aggregations = [
  { function = "count", window = "100us" },
  { function = "count", window = "35us", where = "kind = 'click'", name = "clicks_35" },
  { function = "count", window = "100us", where = "kind = 'click'", name = "clicks_100" },
  { function = "sum", column = "amount", window = "100us", where = "kind in ('buy', 'click') and amount > 0", name = "spend_100" },
  { function = "sum", column = "amount", window = "100us" },
  { function = "max", column = "qty", window = "35us", where = "not (kind = 'view') or qty is null", name = "qty_max_35" },
  { function = "last", column = "kind", window = "100us", where = "qty >= 5", name = "kind_last_big" },
  { function = "age_of_last", window = "100us", where = "amount is null", name = "age_no_amount" },
]
"#;

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
        prop::option::weighted(0.85, 0usize..3),
        prop::option::weighted(0.8, 0i64..10),
    )
        .prop_map(|(a, k, q)| (a.map(|a| f64::from(a) * 0.5), k.map(|k| KINDS[k]), q))
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

fn expected(m: &Model, key: i64, at: i64, known: Option<i64>, f: &Feature) -> Value {
    let (func, col, w, filter) = *f;
    let evs: Vec<(&(i64, i64, i64), &Row)> = m
        .iter()
        .filter(|((k, ts, c), r)| {
            *k == key
                && *ts > at - w
                && *ts <= at
                && known.is_none_or(|kn| *c <= kn)
                && filter(r) == Some(true)
        })
        .collect();
    let vals: Vec<Value> = col.map_or(Vec::new(), |c| {
        evs.iter()
            .map(|(_, r)| values(r)[c].clone())
            .filter(|v| !v.is_null())
            .collect()
    });
    let nums: Vec<f64> = vals
        .iter()
        .filter_map(|v| match v {
            Value::Float64(x) => Some(*x),
            Value::Int64(x) => Some(*x as f64),
            _ => None,
        })
        .collect();
    let newest = evs.iter().max_by_key(|(id, _)| (id.1, id.2));
    match func {
        "count" => Value::Int64(evs.len() as i64),
        "sum" if nums.is_empty() => Value::Null,
        "sum" => Value::Float64(nums.iter().sum()),
        "max" if nums.is_empty() => Value::Null,
        "max" => Value::Float64(nums.iter().copied().fold(f64::MIN, f64::max)),
        "last" => newest.map_or(Value::Null, |(_, r)| values(r)[col.unwrap()].clone()),
        "age_of_last" => newest.map_or(Value::Null, |(id, _)| Value::Int64(at - id.1)),
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

fn has_event(m: &Model, key: i64, at: i64, known: Option<i64>) -> bool {
    m.keys()
        .any(|(k, ts, c)| *k == key && *ts <= at && known.is_none_or(|kn| *c <= kn))
}

fn check(store: &Store, m: &Model, at: i64, known: Option<i64>, latest: bool) {
    for key in 0..4 {
        let opts = ReadOptions {
            as_of: (!latest).then_some(at),
            known_at: known,
        };
        let row = store.get("stats", &[KeyValue::Int64(key)], opts).unwrap();
        for (i, f) in FEATURES.iter().enumerate() {
            // A key with no event by then is NOT_FOUND: no values.
            let want = if has_event(m, key, at, known) {
                expected(m, key, at, known, f)
            } else {
                Value::Null
            };
            let got = &row.values[i];
            assert!(
                close(got, &want),
                "key {key} at {at} known {known:?} latest {latest} feature {i}: got {got:?}, want {want:?}"
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
    for (i, &(key, t)) in rows.iter().enumerate() {
        let known = match known_at {
            KnownAt::Unbounded => None,
            KnownAt::At(k) => Some(k),
            KnownAt::EventTime => Some(t),
        };
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
            let want = if has_event(m, key, t, known) {
                expected(m, key, t, known, feature)
            } else {
                Value::Null
            };
            assert!(
                close(&got, &want),
                "export {known_at:?} key {key} at {t} feature {f}: got {got:?}, want {want:?}"
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
    fn filtered_aggregations_match_brute_force(ops in prop::collection::vec(op(), 1..30)) {
        run(ops);
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
