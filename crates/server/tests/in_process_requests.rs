//! Every request kind, answered correctly by `strata_server::respond`
//! in-process (no network). Requests that need a connection (many in
//! flight on one connection, exports) are in the root package's
//! `tests/server/requests.rs`.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

mod common;

use common::*;
use strata_format::protocol::{self as p, HitKind, Status};
use strata_format::schema::{FeatureType, KeyValue, Value};
use strata_server::Limits;

const T0: i64 = 1_714_521_600_000_000; // 2024-05-01T00:00:00Z

#[test]
fn push_lookup_history_registry_stats_health() {
    let f = Fixture::new(&Limits::default());
    let c = f.session(&f.admin);
    // Push: acknowledged with the row count.
    let rows: Vec<_> = (0..100)
        .map(|i| user_row(i, T0 + i, i as f64 / 2.0, i))
        .collect();
    assert_eq!(push(&c, "user_stats", &rows).unwrap().written, 100);
    let older = user_row(7, T0 - 10, 99.0, 99);
    assert_eq!(push(&c, "user_stats", &[older]).unwrap().written, 1);
    let risk = p::RowWrite {
        key: vec![KeyValue::String("shop".into())],
        event_ts: strata_store::now_micros() - 1_000,
        created_ts: Some(5),
        values: vec![Value::Float32(0.25)],
    };
    push(&c, "merchant_risk", &[risk]).unwrap();

    // Lookup: 100 keys + one missing, two views, column-major answer.
    let mut keys: Vec<i64> = (0..100).collect();
    keys.push(1000);
    let n = keys.len();
    let resp = lookup(
        &c,
        &p::LookupRequest {
            features: vec!["user_stats:*".into(), "merchant_risk:score".into()],
            entities: vec![
                int_keys("user_id", &keys),
                p::KeyColumn {
                    name: "merchant".into(),
                    values: p::KeyColumnValues::String(vec!["shop".into(); n]),
                },
            ],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(resp.rows, n);
    let names: Vec<&str> = resp.features.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "user_stats:amount_avg",
            "user_stats:txn_count",
            "user_stats:segment",
            "merchant_risk:score"
        ]
    );
    let count = &resp.features[1];
    assert_eq!(count.ty, FeatureType::Int64);
    assert_eq!(
        count.values[7],
        Value::Int64(7),
        "a late, older write does not hide the newer"
    );
    assert_eq!(count.event_ts[7], Some(T0 + 7));
    assert_eq!(count.statuses[100], Status::NotFound);
    assert_eq!(count.event_ts[100], None);
    assert_eq!(resp.features[2].values[3], Value::String("seg3".into()));
    assert!(
        resp.features[3]
            .statuses
            .iter()
            .all(|s| *s == Status::Present)
    );
    assert!(count.created_ts.is_empty(), "created_ts only when asked");

    // as_of: before the first version of key 7 there is nothing; at
    // T0 - 10 the older version; merchant_risk's ttl makes old reads
    // OUTSIDE_MAX_AGE.
    let at = |t: i64| p::LookupRequest {
        features: vec!["user_stats:txn_count".into()],
        entities: vec![int_keys("user_id", &[7])],
        as_of: Some(t),
        with_created_ts: true,
        ..Default::default()
    };
    let r = lookup(&c, &at(T0 - 11)).unwrap();
    assert_eq!(r.features[0].statuses, [Status::NotFound]);
    let r = lookup(&c, &at(T0 - 10)).unwrap();
    assert_eq!(r.features[0].values, [Value::Int64(99)]);
    assert!(r.features[0].created_ts[0].is_some());
    // known_at before the writes: nothing was known.
    let mut k = at(T0 + 100);
    k.known_at = Some(1);
    let r = lookup(&c, &k).unwrap();
    assert_eq!(r.features[0].statuses, [Status::NotFound]);
    let r = lookup(
        &c,
        &p::LookupRequest {
            features: vec!["merchant_risk:*".into()],
            entities: vec![string_keys("merchant", &["shop"])],
            as_of: Some(strata_store::now_micros() + 3 * 86_400_000_000),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.features[0].statuses, [Status::OutsideMaxAge]);
    assert!(r.features[0].event_ts[0].is_some());

    // History: newest first, limit and truncation.
    let all = full_history("user_stats", 7);
    let h = history(&c, &all).unwrap();
    assert_eq!(h.versions.len(), 2);
    assert!(!h.truncated);
    assert_eq!(h.versions[0].event_ts, T0 + 7);
    assert_eq!(h.versions[1].values[1], Value::Int64(99));
    assert_eq!(h.features[2], ("segment".to_string(), FeatureType::String));
    let h1 = history(&c, &p::HistoryRequest { limit: 1, ..all }).unwrap();
    assert_eq!((h1.versions.len(), h1.truncated), (1, true));

    // Registry.
    let list = registry_list(&c).unwrap();
    assert_eq!(list.entities.len(), 2);
    let us = list.views.iter().find(|v| v.name == "user_stats").unwrap();
    assert_eq!((us.features, us.team.as_str()), (3, "fraud"));
    assert_eq!(us.tags, ["spend", "daily"]);
    let d = describe(&c, "user_stats").unwrap();
    assert_eq!(
        d.join_keys,
        [("user_id".to_string(), strata_format::schema::KeyType::Int64)]
    );
    assert_eq!(d.features[0].description, "average amount");
    assert!(
        d.metadata
            .iter()
            .any(|(k, v)| k == "team" && v == "\"fraud\""),
        "{:?}",
        d.metadata
    );
    let hits = search(&c, "PII", 0).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(
        (
            hits[0].kind,
            hits[0].name.as_str(),
            hits[0].matched.as_str()
        ),
        (HitKind::Feature, "segment", "tags")
    );
    let hits = search(&c, "spend", 0).unwrap();
    assert!(
        hits.iter()
            .any(|h| h.kind == HitKind::View && h.name == "user_stats")
    );
    let hits = search(&c, "merch", 1).unwrap();
    assert_eq!(hits.len(), 1, "the limit applies");

    // Stats and health.
    let stats = stats(&c).unwrap();
    let get = |n: &str| stats.iter().find(|(k, _)| k == n).unwrap().1;
    assert_eq!(get("rows_pushed"), 102);
    assert!(get("lookups") >= 5);
    assert!(get("keys_looked_up") >= 2 * n as u64);
    let health = health(&c).unwrap();
    assert!(health.serving);
    assert_eq!(health.views, 2);
}

/// A feature added with a default: a push written before it (its rows
/// without the feature's value) is accepted and its versions answer
/// `DEFAULTED` with the default; leaving out a feature without a default
/// is `INVALID_ARGUMENT` naming it.
#[test]
fn pushes_may_leave_out_features_added_with_defaults() {
    let f = Fixture::new(&Limits::default());
    let store = f.handler.store();
    let evolved = DEFS.replace(
        "  { name = \"segment\", type = \"string\", tags = [\"pii\"] },\n]",
        "  { name = \"segment\", type = \"string\", tags = [\"pii\"] },\n  { name = \"level\", type = \"int64\", default = 2 },\n]",
    );
    assert_ne!(evolved, DEFS, "the fixture changed: nothing evolved");
    let plan = strata_store::catalog::defs::plan(
        &store.catalog(),
        &strata_store::catalog::defs::parse(&evolved).unwrap(),
    )
    .unwrap();
    store.set_catalog(plan.catalog).unwrap();
    let c = f.session(&f.admin);
    // Written as a client that predates `level` writes it: three values.
    let old = user_row(1, T0, 1.5, 3);
    assert_eq!(old.values.len(), 3);
    assert_eq!(push(&c, "user_stats", &[old]).unwrap().written, 1);
    let resp = lookup(
        &c,
        &p::LookupRequest {
            features: vec!["user_stats:level".into()],
            entities: vec![int_keys("user_id", &[1, 2])],
            ..Default::default()
        },
    )
    .unwrap();
    let level = &resp.features[0];
    assert_eq!(level.statuses, [Status::Defaulted, Status::NotFound]);
    assert_eq!(level.values, [Value::Int64(2), Value::Int64(2)]);
    assert_eq!(level.event_ts, [Some(T0), None]);
    // Two values: `segment` has no default.
    let mut short = user_row(3, T0, 1.5, 3);
    short.values.truncate(2);
    let e = push(&c, "user_stats", &[short]).unwrap_err();
    assert_eq!(e.code, p::ErrorCode::InvalidArgument, "{e}");
    assert!(e.message.contains("segment declare(s) none"), "{e}");
}
