//! The store caches a lookup's resolved features per feature list
//! (`Store::plan_lookup`): a repeated request shape is planned from the
//! cache, a catalog change is never answered from it, and the caller's
//! grant check still runs on every request.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use strata::format::protocol as p;
use strata::format::schema::Value;
use strata::store::{Error, Store};

const DEFS: &str = include_str!("fixtures/plan-cache.toml");

/// `v` with its default changed and a feature added.
const CHANGED: &str = include_str!("fixtures/plan-cache-changed.toml");

fn request(feature: &str) -> p::LookupRequest {
    common::tables::user_lookup(&[feature], &[7], None, None)
}

/// (name, value of the one row) per output column, read through the plan
/// path and checked against the encoded path's bytes.
fn read(store: &Store, req: &p::LookupRequest) -> Vec<(String, Value)> {
    let resp = store.lookup(req).unwrap();
    let plan = store.plan_lookup(req, |_, _| Ok::<(), Error>(())).unwrap();
    let mut encoded = Vec::new();
    store
        .run_lookup_encoded(req, &plan, usize::MAX, &mut encoded)
        .unwrap();
    let mut want = Vec::new();
    resp.encode(&mut want).unwrap();
    assert_eq!(encoded, want);
    resp.features
        .into_iter()
        .map(|c| (c.name, c.values[0].clone()))
        .collect()
}

#[test]
fn a_catalog_change_is_never_planned_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::stores::store_with(dir.path(), DEFS);
    let req = request("v:*");
    let before = read(&store, &req);
    assert_eq!(before, vec![("v:a".to_string(), Value::Int64(1))]);
    let hits = store.lookup_plan_cache_hits();
    assert_eq!(read(&store, &req), before);
    assert!(
        store.lookup_plan_cache_hits() > hits,
        "a repeated request is planned from the cache"
    );
    common::stores::apply(&store, CHANGED);
    assert_eq!(
        read(&store, &req),
        vec![
            ("v:a".to_string(), Value::Int64(2)),
            ("v:b".to_string(), Value::String("x".into())),
        ],
        "the new definitions, not the cached plan"
    );
    // Again from the cache, of the new catalog.
    let hits = store.lookup_plan_cache_hits();
    assert_eq!(read(&store, &req)[0].1, Value::Int64(2));
    assert!(store.lookup_plan_cache_hits() > hits);
    // A feature the catalog does not have yet is refused, then found once
    // it is added.
    let c = request("v:c");
    assert!(store.lookup(&c).is_err(), "no v:c yet");
    let with_c = CHANGED.replace(
        r#"default = "x" },"#,
        r#"default = "x" },
  { name = "c", type = "int64", default = 5 },"#,
    );
    common::stores::apply(&store, &with_c);
    assert_eq!(read(&store, &c), vec![("v:c".to_string(), Value::Int64(5))]);
    assert_eq!(read(&store, &req).len(), 3, "v:* has c too");
}

#[test]
fn the_grant_check_runs_on_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::stores::store_with(dir.path(), DEFS);
    let req = request("v:a");
    store.plan_lookup(&req, |_, _| Ok::<(), Error>(())).unwrap();
    store.plan_lookup(&req, |_, _| Ok::<(), Error>(())).unwrap();
    let hits = store.lookup_plan_cache_hits();
    let mut asked = Vec::new();
    let refused = store.plan_lookup(&req, |_, v| {
        asked.push(v.name.clone());
        Err(Error::BadRequest("no".into()))
    });
    assert!(refused.is_err(), "a cached plan is still authorized");
    assert_eq!(asked, vec!["v".to_string()]);
    assert!(store.lookup_plan_cache_hits() > hits);
}

/// A resolution is cached only once the caller's check accepted every
/// view it reads: a caller refused on a feature list never fills the
/// cache (nor evicts others' entries), and the first accepted request of
/// that list is planned afresh.
#[test]
fn a_refused_feature_list_is_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::stores::store_with(dir.path(), DEFS);
    let req = request("v:a");
    for _ in 0..3 {
        let refused = store.plan_lookup(&req, |_, _| Err(Error::BadRequest("no".into())));
        assert!(refused.is_err());
    }
    let hits = store.lookup_plan_cache_hits();
    store.plan_lookup(&req, |_, _| Ok::<(), Error>(())).unwrap();
    assert_eq!(
        store.lookup_plan_cache_hits(),
        hits,
        "planned from a cache the refused requests filled"
    );
    store.plan_lookup(&req, |_, _| Ok::<(), Error>(())).unwrap();
    assert_eq!(store.lookup_plan_cache_hits(), hits + 1);
}
