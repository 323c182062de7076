//! Derived views over derived views checked against brute force: `d3`
//! reads `d2` and `d1`, `d2` reads `d1` and an aggregation view, `d1` an
//! aggregation view and a plain view. Read by `get` (`latest`, `as_of`,
//! `known_at`), by one lookup of all three views, and by exports
//! (`--as-known-at`, `--no-future-writes`), after random writes with
//! out-of-order events, deletes, flushes and reopens. The model computes
//! every level by hand, independent of the expression language. Cycles
//! are refused at apply; derived inputs with request inputs are not
//! (tests/derived_request_chain.rs).

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use common::agg_checks::{Read, check_export, check_lookup, close, close_any};
use common::agg_model::Clocked;
use common::tables::user_lookup;

use std::collections::BTreeMap;

use proptest::prelude::*;
use strata::format::schema::{KeyValue, Value};
use strata::offline::read::convert::convert;
use strata::store::{RowWrite, Store};

const DEFINITIONS: &str = include_str!("fixtures/derived-chain.toml");

/// The derived views and their features, in schema order.
const VIEWS: [(&str, &[&str]); 3] = [
    ("d1", &["spend", "headroom"]),
    ("d2", &["alert", "double"]),
    ("d3", &["score"]),
];

#[derive(Debug, Clone)]
enum Op {
    Event(i64, i64, Option<i64>, Option<f64>),
    Profile(i64, i64, Option<i64>, Option<f64>),
    Delete(i64),
    Flush,
    Reopen,
    Check(Vec<i64>),
}

fn op() -> impl Strategy<Value = Op> {
    let created = prop::option::weighted(0.3, 100i64..104);
    let amount = prop::option::weighted(0.85, (-20i32..40).prop_map(|a| f64::from(a) * 0.5));
    let limit = prop::option::weighted(0.8, (-5i32..50).prop_map(f64::from));
    prop_oneof![
        5 => (0i64..3, 0i64..300, created.clone(), amount).prop_map(|(k, t, c, a)| Op::Event(k, t, c, a)),
        3 => (0i64..3, 0i64..300, created, limit).prop_map(|(k, t, c, l)| Op::Profile(k, t, c, l)),
        1 => (0i64..3).prop_map(Op::Delete),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        2 => prop::collection::vec(-10i64..350, 1..4).prop_map(Op::Check),
    ]
}

/// `(key, event_ts, created_ts)` → value.
#[derive(Default)]
struct Model {
    events: BTreeMap<(i64, i64, i64), Option<f64>>,
    profiles: BTreeMap<(i64, i64, i64), Option<f64>>,
}

/// Every derived view's features at `t` by hand (SQL null rules), in
/// [`VIEWS`] order; `None` when neither `stats` nor `profile` has a
/// version (every level is then NOT_FOUND). A `latest` read (`t` = now)
/// reads the plain view's newest version, whatever its time.
fn expected(
    m: &Model,
    key: i64,
    t: i64,
    known: Option<i64>,
    latest: bool,
) -> Option<[Vec<Value>; 3]> {
    let vis = |k: &(i64, i64, i64)| k.0 == key && k.1 <= t && known.is_none_or(|kn| k.2 <= kn);
    let any_event = m.events.keys().any(vis);
    let profile = m
        .profiles
        .iter()
        .filter(|(k, _)| vis(k) || (latest && k.0 == key && known.is_none_or(|kn| k.2 <= kn)))
        .max_by_key(|(k, _)| (k.1, k.2));
    if !any_event && profile.is_none() {
        return None;
    }
    let window = |w: i64| m.events.iter().filter(move |(k, _)| vis(k) && k.1 > t - w);
    let amounts: Vec<f64> = window(100).filter_map(|(_, a)| *a).collect();
    let sum = (!amounts.is_empty()).then(|| amounts.iter().sum::<f64>());
    let count = any_event.then(|| window(35).count() as i64);
    let limit = profile.and_then(|(_, l)| *l);
    let spend = count.map(|c| sum.unwrap_or(0.0) + c as f64);
    let headroom = limit.map(|l| l - sum.unwrap_or(0.0));
    let alert = count.map(|c| i64::from(headroom.is_some_and(|h| h < 0.0)) + c);
    let double = spend.map(|s| s * 2.0);
    let score = double.map(|d| d + headroom.unwrap_or(0.0));
    let f = |x: Option<f64>| x.map_or(Value::Null, Value::Float64);
    Some([
        vec![f(spend), f(headroom)],
        vec![alert.map_or(Value::Null, Value::Int64), f(double)],
        vec![f(score)],
    ])
}

/// The features of view number `view` (of [`VIEWS`]) for `key` at `t`;
/// `None` where every level is NOT_FOUND.
fn want(
    m: &Model,
    key: i64,
    t: i64,
    known: Option<i64>,
    view: usize,
    latest: bool,
) -> Option<Vec<Value>> {
    expected(m, key, t, known, latest).map(|w| w[view].clone())
}

/// Checks `read` of every derived view (keys 0 to 3), a lookup also as
/// one lookup of all three views.
fn check(store: &Store, m: &Model, read: Read) {
    for (v, (view, names)) in VIEWS.iter().enumerate() {
        match read {
            Read::Lookup { at, known, latest } => check_lookup(
                store,
                view,
                names,
                0..4,
                (at, known, latest),
                |key| want(m, key, at, known, v, latest),
                close_any,
            ),
            Read::Export { ts, known_at } => {
                let types = store.catalog().view(view).unwrap().schema();
                check_export(
                    store,
                    view,
                    names,
                    0..4,
                    (ts, known_at, 2),
                    |name, col| {
                        let i = names.iter().position(|n| n == name).unwrap();
                        convert(col, types[i]).unwrap()
                    },
                    |key, t, known| want(m, key, t, known, v, false),
                    close_any,
                );
            }
        }
    }
    if let Read::Lookup { at, known, latest } = read {
        check_one_lookup(store, m, (!latest).then_some(at), known, at);
    }
}

/// One lookup of all three views (d3 first: its inputs are read for it).
fn check_one_lookup(store: &Store, m: &Model, as_of: Option<i64>, known: Option<i64>, now: i64) {
    let keys: Vec<i64> = (0..4).collect();
    let req = user_lookup(&["d3:*", "d1:*", "d2:*"], &keys, as_of, known);
    let resp = store.lookup(&req).unwrap();
    let t = as_of.unwrap_or(now);
    for (row, &key) in keys.iter().enumerate() {
        for f in &resp.features {
            let (view, name) = f.name.split_once(':').unwrap();
            let v = VIEWS.iter().position(|x| x.0 == view).unwrap();
            let i = VIEWS[v].1.iter().position(|n| *n == name).unwrap();
            let want = want(m, key, t, known, v, as_of.is_none());
            let w = want.as_ref().map_or(&Value::Null, |w| &w[i]);
            let got = &f.values[row];
            assert!(
                close(got, w),
                "lookup {} key {key} at {t} known {known:?}: got {got:?}, want {w:?}",
                f.name
            );
        }
    }
}

fn run(ops: Vec<Op>) {
    let (clocked, mut store) = Clocked::new(DEFINITIONS);
    let mut m = Model::default();
    for op in ops {
        let now = clocked.tick();
        let write = |store: &Store, view, k, t, c: Option<i64>, v: Option<f64>| {
            let w = RowWrite {
                key: vec![KeyValue::Int64(k)],
                event_ts: t,
                created_ts: c,
                values: vec![v.map_or(Value::Null, Value::Float64)],
            };
            store.write(view, &[w]).unwrap();
            (k, t, c.unwrap_or(now))
        };
        match op {
            Op::Event(k, t, c, a) => {
                let id = write(&store, "events", k, t, c, a);
                m.events.insert(id, a);
            }
            Op::Profile(k, t, c, l) => {
                let id = write(&store, "profile", k, t, c, l);
                m.profiles.insert(id, l);
            }
            Op::Delete(k) => {
                store.delete("user", &[KeyValue::Int64(k)]).unwrap();
                m.events.retain(|id, _| id.0 != k);
                m.profiles.retain(|id, _| id.0 != k);
            }
            Op::Flush => store.flush().unwrap(),
            Op::Reopen => {
                drop(store);
                store = clocked.reopen();
            }
            Op::Check(ts) => {
                for read in Read::each(&ts, now) {
                    check(&store, &m, read);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn derived_over_derived_matches_brute_force(ops in prop::collection::vec(op(), 1..30)) {
        run(ops);
    }
}

#[test]
fn cycles_are_refused_and_derived_inputs_may_have_request_values() {
    let parse = |text: &str| strata::catalog::defs::parse(text).unwrap_err().to_string();
    let cycle = DEFINITIONS.replace(
        "inputs = [\"stats\", \"profile\"]",
        "inputs = [\"stats\", \"profile\", \"d3\"]",
    );
    let e = parse(&cycle);
    assert!(e.contains("cycle"), "{e}");
    for needle in ["d1", "d2", "d3", "->", "inputs"] {
        assert!(e.contains(needle), "{needle} missing in: {e}");
    }
    let itself = DEFINITIONS.replace("inputs = [\"d2\", \"d1\"]", "inputs = [\"d2\", \"d3\"]");
    let e = parse(&itself);
    assert!(e.contains("(d3 -> d3)"), "{e}");
    let request = DEFINITIONS.replace(
        "inputs = [\"stats\", \"profile\"]",
        "inputs = [\"stats\", \"profile\"]\nrequest = [{ name = \"txn\", type = \"float64\" }]",
    );
    // A derived input may have request inputs now: its readers supply
    // them (tests/derived_request_chain.rs checks the values).
    strata::catalog::defs::parse(&request).unwrap();
}
