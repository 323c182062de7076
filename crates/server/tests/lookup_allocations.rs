//! What a served `Lookup` allocates before it reads: a warm plan (the
//! store's plan cache hit) and the token's read grant on a view that reads
//! no other allocate nothing; the whole in-process answer of a warm one-key
//! lookup frame stays under a counted bound. Counted with a global
//! allocator (the root package's `tests/common/counting_alloc.rs`).

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

mod common;

#[path = "../../../tests/common/counting_alloc.rs"]
mod counting_alloc;

use common::{Fixture, int_keys, user_row};
use counting_alloc::allocations;
use strata_format::protocol::Status;
use strata_format::protocol::{self as p, FrameHeader, HEADER_LEN, Kind};
use strata_format::schema::Value;
use strata_server::{Limits, Session, respond};
use strata_store::catalog::lineage;

/// Allocations of the second of two calls of `f` (the first warms it).
fn warm_allocations(mut f: impl FnMut()) -> u64 {
    f();
    let before = allocations();
    f();
    allocations() - before
}

#[test]
fn a_warm_plan_and_a_plain_views_grant_check_allocate_nothing() {
    let f = Fixture::new(&Limits::default());
    let store = f.handler.store();
    let features = ["user_stats:*"];
    let plan = warm_allocations(|| {
        let r = store
            .resolve_lookup_features(&features, |_, _| Ok::<(), strata_store::Error>(()))
            .unwrap();
        assert_eq!(r.views.len(), 1);
    });
    assert_eq!(plan, 0, "{plan} allocations planning a cached feature list");
    let cat = store.catalog();
    let view = cat.view("user_stats").unwrap();
    let grants = warm_allocations(|| assert!(lineage::upstream(&cat, view).is_empty()));
    assert_eq!(
        grants, 0,
        "{grants} allocations walking the lineage of a view that reads no other"
    );
}

/// Allocations of answering a warm lookup frame of `keys` in-process
/// (its answer checked first, outside the count).
fn answer_allocations(s: &Session, keys: &[i64]) -> u64 {
    let mut body = Vec::new();
    p::LookupRequest {
        features: vec!["user_stats:*".into()],
        entities: vec![int_keys("user_id", keys)],
        ..Default::default()
    }
    .encode(&mut body);
    let h = FrameHeader::new(Kind::Lookup, 1, body.len() as u32);
    let out = respond(s, h, &body);
    let hdr: [u8; HEADER_LEN] = out[..HEADER_LEN].try_into().unwrap();
    assert_eq!(FrameHeader::parse(&hdr).kind(), Some(Kind::LookupResult));
    let resp = p::LookupResponse::decode(&out[HEADER_LEN..]).unwrap();
    assert_eq!(resp.rows, keys.len());
    assert!(
        resp.features[0]
            .statuses
            .iter()
            .all(|s| *s == Status::Present)
    );
    warm_allocations(|| drop(respond(s, h, &body)))
}

#[test]
fn a_served_lookup_allocates_nothing_per_key() {
    let f = Fixture::new(&Limits::default());
    // Rows without a string value (a string is one allocation per row).
    let rows: Vec<p::RowWrite> = (0..200)
        .map(|k| {
            let mut r = user_row(k, 1_000 + k, k as f64, k);
            r.values[2] = Value::Null;
            r
        })
        .collect();
    f.handler.store().write("user_stats", &rows).unwrap();
    let s = f.session(&f.reader);
    let one = answer_allocations(&s, &[7]);
    let hundred = answer_allocations(&s, &(0..100).collect::<Vec<i64>>());
    println!("warm lookup frame: {one} allocations for 1 key, {hundred} for 100 keys");
    // 18 when written, then one more: every view's keys are checked before
    // any view is read (so that a bad key is refused as the local lookup
    // refuses it, before a view's rows exceed the answer's limit).
    assert!(
        one <= 19,
        "{one} allocations for a one-key lookup frame, at most 19"
    );
    // 100 keys grow the buffers (the request's, the key batch, the
    // answer) a few more times (16 when written), and allocate nothing per
    // key (a row per key would be 200 more).
    assert!(
        hundred <= one + 20,
        "{hundred} allocations for 100 keys, {one} for 1: allocations per key"
    );
}
