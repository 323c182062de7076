//! Request inputs passed down a chain of derived views, checked against
//! brute force: `r3` declares no request input and reads `r2` and `r1`;
//! `r2` reads `r1` and a plain view, and declares `txn` (as `r1` does) and
//! `boost`; `r1` reads an aggregation view and a plain view. A lookup of
//! any of them takes `txn` and `boost` from the request, an export from
//! the entity table's columns, and every level of the chain sees them.
//! Checked after random writes, deletes, flushes and reopens, by lookups
//! (`as_of`, `known_at`; each view alone and all three in one lookup) and
//! exports (`--as-known-at`, `--no-future-writes`). The model computes every
//! level by hand, independent of the expression language. Also: a missing
//! request column names the view declaring it, and one request name with
//! two types along a chain is refused at apply.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array};
use common::agg_checks::{cell, close, concat, known_for};
use common::agg_model::Clocked;
use common::tables::{export_one, user_lookup, user_table_with};
use proptest::prelude::*;
use strata::format::protocol as p;
use strata::format::schema::{KeyValue, Value};
use strata::offline::export::{ExportRequest, KnownAt};
use strata::store::{RowWrite, Status, Store};

const DEFINITIONS: &str = include_str!("fixtures/derived-request-chain.toml");

/// The derived views and their features, in schema order.
const VIEWS: [(&str, &[&str]); 3] = [
    ("r1", &["over", "share"]),
    ("r2", &["pushed", "bump", "echo"]),
    ("r3", &["score", "lvl"]),
];

/// A request: `txn`, `boost` (null: not sent).
type Request = (Option<f64>, Option<i64>);

#[derive(Debug, Clone)]
enum Op {
    Event(i64, i64, Option<i64>, Option<f64>),
    Profile(i64, i64, Option<i64>, Option<f64>),
    Flag(i64, i64, Option<i64>, Option<i64>),
    Delete(i64),
    Flush,
    Reopen,
    Check(Vec<(i64, Request)>),
}

fn op() -> impl Strategy<Value = Op> {
    let created = prop::option::weighted(0.3, 100i64..104);
    let amount = prop::option::weighted(0.85, (-20i32..40).prop_map(|a| f64::from(a) * 0.5));
    let limit = prop::option::weighted(0.8, (-5i32..50).prop_map(f64::from));
    let level = prop::option::weighted(0.8, -3i64..10);
    let txn = prop::option::weighted(0.8, (0i32..30).prop_map(|t| f64::from(t) * 1.5));
    let boost = prop::option::weighted(0.8, -3i64..6);
    prop_oneof![
        5 => (0i64..3, 0i64..300, created.clone(), amount).prop_map(|(k, t, c, a)| Op::Event(k, t, c, a)),
        2 => (0i64..3, 0i64..300, created.clone(), limit).prop_map(|(k, t, c, l)| Op::Profile(k, t, c, l)),
        2 => (0i64..3, 0i64..300, created, level).prop_map(|(k, t, c, l)| Op::Flag(k, t, c, l)),
        1 => (0i64..3).prop_map(Op::Delete),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        2 => prop::collection::vec((-10i64..350, (txn, boost)), 1..4).prop_map(Op::Check),
    ]
}

/// `(key, event_ts, created_ts)` → value.
#[derive(Default)]
struct Model {
    events: BTreeMap<(i64, i64, i64), Option<f64>>,
    profiles: BTreeMap<(i64, i64, i64), Option<f64>>,
    flags: BTreeMap<(i64, i64, i64), Option<i64>>,
}

fn fin(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Every derived view's features at `t` for request `(txn, boost)` by hand
/// (SQL null rules, non-finite → null), in [`VIEWS`] order; `None` for a
/// view none of whose inputs has a version (`NOT_FOUND`).
fn expected(
    m: &Model,
    key: i64,
    t: i64,
    known: Option<i64>,
    (txn, boost): Request,
) -> [Option<Vec<Value>>; 3] {
    let vis = |k: &(i64, i64, i64)| k.0 == key && k.1 <= t && known.is_none_or(|kn| k.2 <= kn);
    let any_event = m.events.keys().any(vis);
    let newest = |versions: &mut dyn Iterator<Item = &(i64, i64, i64)>| {
        versions
            .filter(|k| vis(k))
            .max_by_key(|k| (k.1, k.2))
            .copied()
    };
    let profile = newest(&mut m.profiles.keys()).map(|k| m.profiles[&k]);
    let flag = newest(&mut m.flags.keys()).map(|k| m.flags[&k]);
    let amounts: Vec<f64> = m
        .events
        .iter()
        .filter(|(k, _)| vis(k) && k.1 > t - 100)
        .filter_map(|(_, a)| *a)
        .collect();
    let sum = (!amounts.is_empty()).then(|| amounts.iter().sum::<f64>());
    // r1 over stats and profile.
    let r1 = (any_event || profile.is_some()).then(|| {
        let limit = profile.flatten();
        let over = txn.and_then(|x| fin(x - limit.unwrap_or(0.0)));
        let share = txn.zip(sum).and_then(|(x, s)| fin(x / s));
        (over, share)
    });
    // r2 over r1 and flags: r1's features are null where r1 has no version.
    let r2 = (r1.is_some() || flag.is_some()).then(|| {
        let over = r1.and_then(|r| r.0);
        let pushed = boost.and_then(|b| fin(over.unwrap_or(0.5) * b as f64));
        let bump = boost.and_then(|b| flag.flatten().unwrap_or(0).checked_add(b));
        let echo = txn.zip(boost).and_then(|(x, b)| fin(x + b as f64));
        (pushed, bump, echo)
    });
    // r3 over r2 and r1.
    let r3 = r2.map(|(pushed, bump, _)| {
        let share = r1.and_then(|r| r.1);
        let score = fin(pushed.unwrap_or(0.0) + share.unwrap_or(-1.0));
        (score, bump.map(|b| b * 2))
    });
    let f = |x: Option<f64>| x.map_or(Value::Null, Value::Float64);
    let i = |x: Option<i64>| x.map_or(Value::Null, Value::Int64);
    [
        r1.map(|(o, s)| vec![f(o), f(s)]),
        r2.map(|(p, b, e)| vec![f(p), i(b), f(e)]),
        r3.map(|(s, l)| vec![f(s), i(l)]),
    ]
}

/// The request columns of a lookup sending `req` for each of `rows` rows.
fn request_columns(req: Request, rows: usize) -> Vec<p::RequestColumn> {
    vec![
        p::RequestColumn {
            name: "txn".into(),
            values: vec![req.0.map(|x| x.to_string()); rows],
        },
        p::RequestColumn {
            name: "boost".into(),
            values: vec![req.1.map(|x| x.to_string()); rows],
        },
    ]
}

/// One lookup of `features` for keys 0 to 3 as of `t` sending `req`,
/// checked feature by feature.
fn check_lookup(
    store: &Store,
    m: &Model,
    features: &[&str],
    (t, known): (i64, Option<i64>),
    req: Request,
) {
    let keys: Vec<i64> = (0..4).collect();
    let mut lookup = user_lookup(features, &keys, Some(t), known);
    lookup.request = request_columns(req, keys.len());
    if features == ["r1:*"] {
        // r1 reads txn only; a request value no view reads is refused.
        lookup.request.retain(|c| c.name == "txn");
    }
    let resp = store.lookup(&lookup).unwrap();
    for (row, &key) in keys.iter().enumerate() {
        let want = expected(m, key, t, known, req);
        for f in &resp.features {
            let (view, name) = f.name.split_once(':').unwrap();
            let v = VIEWS.iter().position(|x| x.0 == view).unwrap();
            let i = VIEWS[v].1.iter().position(|n| *n == name).unwrap();
            let w = want[v].as_ref().map_or(Value::Null, |w| w[i].clone());
            let got = &f.values[row];
            assert!(
                close(got, &w),
                "lookup {} key {key} at {t} known {known:?} request {req:?}: got {got:?}, want {w:?}",
                f.name
            );
            let found = f.statuses[row] != Status::NotFound;
            assert_eq!(
                found,
                want[v].is_some(),
                "lookup {} key {key} at {t}: status {:?}",
                f.name,
                f.statuses[row]
            );
        }
    }
}

/// An export of `view` (keys 0 to 3 at each row's time, with its request
/// columns), checked row by row.
fn check_export(store: &Store, m: &Model, view: usize, rows: &[(i64, Request)], known_at: KnownAt) {
    let all: Vec<(i64, i64, Request)> = (0..4)
        .flat_map(|k| rows.iter().map(move |&(t, r)| (k, t, r)))
        .collect();
    let table = user_table_with(
        all.iter().map(|r| (r.0, r.1)),
        vec![
            (
                "boost",
                Arc::new(Int64Array::from_iter(all.iter().map(|r| r.2.1))),
            ),
            (
                "txn",
                Arc::new(Float64Array::from_iter(all.iter().map(|r| r.2.0))),
            ),
        ],
    );
    let (name, features) = VIEWS[view];
    let mut req = ExportRequest::new(&format!("{name}:*")).unwrap();
    req.known_at = known_at;
    req.threads = 2;
    let batch = concat(export_one(store, &req, table));
    let first = batch.schema().index_of(features[0]).unwrap();
    for (i, &(key, t, r)) in all.iter().enumerate() {
        let want = expected(m, key, t, known_for(known_at, t), r);
        for f in 0..features.len() {
            let got = cell(batch.column(first + f).as_ref(), i);
            let w = want[view].as_ref().map_or(Value::Null, |w| w[f].clone());
            assert!(
                close(&got, &w),
                "export {name} {known_at:?} key {key} at {t} request {r:?} feature {}: got {got:?}, want {w:?}",
                features[f]
            );
        }
    }
}

fn run(ops: Vec<Op>) {
    let (clocked, mut store) = Clocked::new(DEFINITIONS);
    let mut m = Model::default();
    for op in ops {
        let now = clocked.tick();
        let write = |store: &Store, view, k, t, c: Option<i64>, v: Value| {
            let w = RowWrite {
                key: vec![KeyValue::Int64(k)],
                event_ts: t,
                created_ts: c,
                values: vec![v],
            };
            store.write(view, &[w]).unwrap();
            (k, t, c.unwrap_or(now))
        };
        let float = |x: Option<f64>| x.map_or(Value::Null, Value::Float64);
        match op {
            Op::Event(k, t, c, a) => {
                let id = write(&store, "events", k, t, c, float(a));
                m.events.insert(id, a);
            }
            Op::Profile(k, t, c, l) => {
                let id = write(&store, "profile", k, t, c, float(l));
                m.profiles.insert(id, l);
            }
            Op::Flag(k, t, c, l) => {
                let id = write(
                    &store,
                    "flags",
                    k,
                    t,
                    c,
                    l.map_or(Value::Null, Value::Int64),
                );
                m.flags.insert(id, l);
            }
            Op::Delete(k) => {
                store.delete("user", &[KeyValue::Int64(k)]).unwrap();
                m.events.retain(|id, _| id.0 != k);
                m.profiles.retain(|id, _| id.0 != k);
                m.flags.retain(|id, _| id.0 != k);
            }
            Op::Flush => store.flush().unwrap(),
            Op::Reopen => {
                drop(store);
                store = clocked.reopen();
            }
            Op::Check(rows) => {
                for &(t, req) in &rows {
                    for known in [None, Some(now - 3)] {
                        for (view, _) in VIEWS {
                            check_lookup(&store, &m, &[&format!("{view}:*")], (t, known), req);
                        }
                        check_lookup(&store, &m, &["r3:*", "r1:*", "r2:*"], (t, known), req);
                    }
                }
                for view in 0..VIEWS.len() {
                    for known in [KnownAt::Unbounded, KnownAt::At(now - 3), KnownAt::EventTime] {
                        check_export(&store, &m, view, &rows, known);
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn request_values_reach_every_level_of_a_chain(ops in prop::collection::vec(op(), 1..30)) {
        run(ops);
    }
}

/// One event and one profile for key 1, for the direct tests below.
fn small_store(dir: &std::path::Path) -> Store {
    let store = common::stores::store_with(dir, DEFINITIONS);
    let row = |t, v| RowWrite {
        key: vec![KeyValue::Int64(1)],
        event_ts: t,
        created_ts: None,
        values: vec![Value::Float64(v)],
    };
    store.write("events", &[row(10, 4.0)]).unwrap();
    store.write("profile", &[row(10, 2.5)]).unwrap();
    store
}

#[test]
fn a_lookup_of_the_outer_view_passes_its_request_values_down() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    let mut req = user_lookup(&["r3:score", "r3:lvl"], &[1], Some(20), None);
    req.request = request_columns((Some(6.0), Some(3)), 1);
    let resp = store.lookup(&req).unwrap();
    // over = 6 - 2.5 = 3.5, pushed = 3.5 * 3, share = 6 / 4; bump = 3.
    assert_eq!(resp.features[0].values[0], Value::Float64(3.5 * 3.0 + 1.5));
    assert_eq!(resp.features[1].values[0], Value::Int64(6));
    // Not sent: null, as a view's own request input not sent.
    req.request.clear();
    let resp = store.lookup(&req).unwrap();
    assert_eq!(resp.features[0].values[0], Value::Float64(-1.0));
    assert_eq!(resp.features[1].values[0], Value::Null);
    // A value that is not of the type the declaring view gives it.
    req.request = request_columns((Some(6.0), Some(3)), 1);
    req.request[1].values[0] = Some("1.5".into());
    let e = store.lookup(&req).unwrap_err().to_string();
    assert!(
        e.contains("boost") && e.contains("1.5") && e.contains("int64"),
        "{e}"
    );
}

#[test]
fn an_export_without_a_request_column_of_the_chain_names_the_view_declaring_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    let txn: ArrayRef = Arc::new(Float64Array::from_iter_values([6.0]));
    let table = user_table_with([(1, 20)], vec![("txn", txn)]);
    let req = ExportRequest::new("r3:*").unwrap();
    let e = strata::offline::export::Plan::new(&store, &req, &table.schema())
        .and_then(|plan| {
            strata::offline::export::export(&store, &plan, std::iter::once(Ok(table)))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap_err()
        .to_string();
    for needle in ["boost", "int64", "r3", "r2"] {
        assert!(e.contains(needle), "{needle} missing in: {e}");
    }
}

#[test]
fn one_request_name_with_two_types_along_a_chain_is_refused() {
    let text = DEFINITIONS.replace(
        "request = [{ name = \"txn\", type = \"float64\" }, { name = \"boost\"",
        "request = [{ name = \"txn\", type = \"int64\" }, { name = \"boost\"",
    );
    assert_ne!(text, DEFINITIONS);
    let e = strata::catalog::defs::parse(&text).unwrap_err().to_string();
    for needle in ["\"txn\"", "\"r1\"", "\"r2\"", "int64", "float64"] {
        assert!(e.contains(needle), "{needle} missing in: {e}");
    }
}

/// A later apply that declares only an inner view of a chain, retyping its
/// request input in place, is refused for the outer view it leaves
/// inconsistent (kept, not declared again), instead of leaving that view
/// unresolvable.
#[test]
fn retyping_a_request_input_under_a_kept_view_is_refused() {
    const FIRST: &str = r#"
[[entities]]
name = "user"
join_keys = [{ name = "user_id", type = "int64" }]

[[feature_views]]
name = "base"
entities = ["user"]
features = [{ name = "x", type = "float64" }]

[[feature_views]]
name = "inner"
inputs = ["base"]
request = [{ name = "k", type = "float64" }]
derived = [{ name = "y", expr = "x + k" }]

[[feature_views]]
name = "outer"
inputs = ["inner"]
request = [{ name = "k", type = "float64" }]
derived = [{ name = "z", expr = "y * k" }]
"#;
    let dir = tempfile::tempdir().unwrap();
    let store = common::stores::store_with(dir.path(), FIRST);
    let second = FIRST[..FIRST.find("[[feature_views]]\nname = \"outer\"").unwrap()].replace(
        "{ name = \"k\", type = \"float64\" }",
        "{ name = \"k\", type = \"int64\" }",
    );
    let parsed = strata::catalog::defs::parse(&second).unwrap();
    let e = strata::catalog::defs::apply(&store.catalog(), &parsed)
        .unwrap_err()
        .to_string();
    for needle in ["outer", "\"k\"", "int64", "float64"] {
        assert!(e.contains(needle), "{needle} missing in: {e}");
    }
}
