//! The server answers a lookup with `Store::run_lookup_encoded`, which
//! encodes the `LookupResult` body straight from the rows the engine read:
//! the same bytes as `Store::lookup(..).encode(..)`, with fewer
//! allocations (no `LookupResponse`: per feature its name, statuses, times
//! and values). Counted with a global allocator, warm, into a reused
//! answer buffer as the server's stream keeps one.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use strata::format::protocol as p;
use strata::format::schema::{KeyValue, Value};
use strata::store::{Error, RowWrite};

use counting_alloc::allocations;

const DEFS: &str = include_str!("fixtures/answer-allocations.toml");

#[test]
fn an_encoded_lookup_answers_the_same_bytes_with_fewer_allocations() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::stores::store_with(dir.path(), DEFS);
    let rows: Vec<RowWrite> = (0..500i64)
        .map(|k| RowWrite {
            key: vec![KeyValue::Int64(k)],
            event_ts: 1_000_000 + k,
            created_ts: Some(2_000_000 + k),
            values: vec![
                Value::Float64(k as f64),
                Value::Float64(0.5),
                Value::Null,
                Value::Int64(k),
                Value::String(format!("t{k}")),
            ],
        })
        .collect();
    store.write("bench", &rows).unwrap();
    store.flush().unwrap();
    let mut out = Vec::with_capacity(1 << 16);
    for keys in [1usize, 100] {
        for with_created_ts in [false, true] {
            let req = p::LookupRequest {
                features: vec!["bench:*".into()],
                entities: vec![p::KeyColumn {
                    name: "user_id".into(),
                    // Every other key is absent (NOT_FOUND, with the default).
                    values: p::KeyColumnValues::Int64((0..keys as i64).map(|k| k * 7).collect()),
                }],
                as_of: None,
                known_at: None,
                with_created_ts,
                request: Vec::new(),
            };
            let old = |out: &mut Vec<u8>| store.lookup(&req).unwrap().encode(out).unwrap();
            let new = |out: &mut Vec<u8>| {
                let plan = store.plan_lookup(&req, |_, _| Ok::<(), Error>(())).unwrap();
                store
                    .run_lookup_encoded(&req, &plan, usize::MAX, out)
                    .unwrap();
            };
            let mut want = Vec::new();
            old(&mut want);
            out.clear();
            new(&mut out);
            assert_eq!(out, want, "{keys} keys, created {with_created_ts}");
            // Warm, then counted.
            let count = |f: &dyn Fn(&mut Vec<u8>), out: &mut Vec<u8>| {
                out.clear();
                f(out);
                out.clear();
                let before = allocations();
                f(out);
                allocations() - before
            };
            let (a_old, a_new) = (count(&old, &mut out), count(&new, &mut out));
            let plan_only =
                |_: &mut Vec<u8>| drop(store.plan_lookup(&req, |_, _| Ok::<(), Error>(())));
            let a_plan = count(&plan_only, &mut out);
            println!(
                "{keys} key(s), created_ts {with_created_ts}: {a_old} allocations (lookup + encode), {a_new} (encoded), of which {a_plan} planning"
            );
            // At least the response's columns: per feature its name,
            // statuses, event times and values (and created times).
            // Planning a request shape seen before comes from the store's
            // plan cache: only the per-view join key columns are built (was
            // 51 allocations before the cache: references parsed twice,
            // view definitions copied, output names built).
            assert!(a_plan <= 2, "{a_plan} allocations planning, at most 2");
            if keys == 1 {
                // Was 59 before the plan cache.
                assert!(a_new <= 10, "{a_new} allocations for 1 key, at most 10");
            }
            let saved = 5 * if with_created_ts { 5 } else { 4 };
            assert!(
                a_new + saved <= a_old,
                "{a_new} allocations encoded, {a_old} through the response"
            );
        }
    }
}

/// The encoded answer is refused for its size exactly where the response
/// is: the same bytes counted per row read, against every limit from
/// nothing to what the whole answer holds.
#[test]
fn an_encoded_lookup_is_refused_at_the_same_answer_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::stores::store_with(dir.path(), DEFS);
    let rows: Vec<RowWrite> = (0..50i64)
        .map(|k| RowWrite {
            key: vec![KeyValue::Int64(k)],
            event_ts: 1_000_000 + k,
            created_ts: None,
            values: vec![
                Value::Float64(k as f64),
                Value::Float64(0.5),
                Value::Null,
                Value::Int64(k),
                Value::String("t".repeat(k as usize)),
            ],
        })
        .collect();
    store.write("bench", &rows).unwrap();
    let req = p::LookupRequest {
        features: vec!["bench:*".into()],
        entities: vec![p::KeyColumn {
            name: "user_id".into(),
            // Keys never written (the defaults) among written ones.
            values: p::KeyColumnValues::Int64((0..40).map(|k| k * 3 - 20).collect()),
        }],
        ..Default::default()
    };
    let plan = store.plan_lookup(&req, |_, _| Ok::<(), Error>(())).unwrap();
    let (mut refused, mut accepted) = (0, 0);
    for limit in (0..20_000).step_by(97) {
        let within = store.run_lookup_within(&req, &plan, limit);
        let mut out = Vec::new();
        let encoded = store.run_lookup_encoded(&req, &plan, limit, &mut out);
        assert_eq!(
            within.is_err(),
            encoded.is_err(),
            "limit {limit}: {within:?} / {encoded:?}"
        );
        match (&within, &encoded) {
            (Err(a), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string());
                refused += 1;
            }
            _ => accepted += 1,
        }
    }
    assert!(
        refused > 10 && accepted > 10,
        "the limits tried refuse {refused} answers and accept {accepted}"
    );
}

/// Two views, the second keyed by strings: the encoded answer checks every
/// view's keys before reading any, as the response does, so an over-long
/// key of the second view is refused as a bad key even where the first
/// view's rows alone exceed the answer's limit.
#[test]
fn an_encoded_lookup_refuses_a_bad_key_before_reading_any_view() {
    const TWO_VIEWS: &str = r#"
[[entities]]
name = "user"
join_keys = [{ name = "user_id", type = "int64" }]

[[entities]]
name = "shop"
join_keys = [{ name = "shop_id", type = "string" }]

[[feature_views]]
name = "notes"
entities = ["user"]
features = [{ name = "text", type = "string" }]

[[feature_views]]
name = "shops"
entities = ["shop"]
features = [{ name = "n", type = "int64" }]
"#;
    let dir = tempfile::tempdir().unwrap();
    let store = common::stores::store_with(dir.path(), TWO_VIEWS);
    let rows: Vec<RowWrite> = (0..3i64)
        .map(|k| RowWrite {
            key: vec![KeyValue::Int64(k)],
            event_ts: 1_000_000,
            created_ts: None,
            values: vec![Value::String("t".repeat(1_000))],
        })
        .collect();
    store.write("notes", &rows).unwrap();
    let mut shops = vec!["a".to_string(); 3];
    shops[2] = "s".repeat(strata::format::key::MAX_ENTITY_KEY_LEN + 1);
    let req = p::LookupRequest {
        features: vec!["notes:text".into(), "shops:n".into()],
        entities: vec![
            p::KeyColumn {
                name: "user_id".into(),
                values: p::KeyColumnValues::Int64(vec![0, 1, 2]),
            },
            p::KeyColumn {
                name: "shop_id".into(),
                values: p::KeyColumnValues::String(shops),
            },
        ],
        ..Default::default()
    };
    let plan = store.plan_lookup(&req, |_, _| Ok::<(), Error>(())).unwrap();
    for limit in [100, 1 << 20] {
        let within = store.run_lookup_within(&req, &plan, limit).unwrap_err();
        let mut out = Vec::new();
        let encoded = store
            .run_lookup_encoded(&req, &plan, limit, &mut out)
            .unwrap_err();
        assert!(matches!(within, Error::BadKey { .. }), "{within}");
        assert_eq!(within.to_string(), encoded.to_string(), "limit {limit}");
    }
}

/// A derived view's inputs that the request does not ask for are read to
/// evaluate it, and count against the answer's limit as the rows answered
/// do: a few small derived values over large stored rows are refused for
/// their size (both answers), and accepted under a limit that holds them.
#[test]
fn the_inputs_a_derived_view_reads_count_against_the_answer_limit() {
    const DERIVED: &str = r#"
[[entities]]
name = "user"
join_keys = [{ name = "user_id", type = "int64" }]

[[feature_views]]
name = "notes"
entities = ["user"]
features = [{ name = "text", type = "string" }, { name = "n", type = "int64" }]

[[feature_views]]
name = "twice"
inputs = ["notes"]
derived = [{ name = "n2", expr = "n * 2" }]
"#;
    let dir = tempfile::tempdir().unwrap();
    let store = common::stores::store_with(dir.path(), DERIVED);
    let rows: Vec<RowWrite> = (0..20i64)
        .map(|k| RowWrite {
            key: vec![KeyValue::Int64(k)],
            event_ts: 1_000_000,
            created_ts: None,
            values: vec![Value::String("t".repeat(10_000)), Value::Int64(k)],
        })
        .collect();
    store.write("notes", &rows).unwrap();
    let req = p::LookupRequest {
        features: vec!["twice:n2".into()],
        entities: vec![p::KeyColumn {
            name: "user_id".into(),
            values: p::KeyColumnValues::Int64((0..20).collect()),
        }],
        ..Default::default()
    };
    let plan = store.plan_lookup(&req, |_, _| Ok::<(), Error>(())).unwrap();
    // 20 derived rows of one int64 hold far less than 20 kB; the 20 rows
    // of `notes` read for them, 200 kB.
    let limit = 20_000;
    let within = store.run_lookup_within(&req, &plan, limit).unwrap_err();
    assert!(matches!(within, Error::TooLarge(_)), "{within}");
    let mut out = Vec::new();
    let encoded = store
        .run_lookup_encoded(&req, &plan, limit, &mut out)
        .unwrap_err();
    assert_eq!(within.to_string(), encoded.to_string());
    let r = store.run_lookup_within(&req, &plan, 1 << 20).unwrap();
    assert_eq!(r.features[0].values[7], Value::Int64(14));
}
