//! The read policy (docs/PROTOCOL.md, "Policy"), red-team row 9 of issue
//! 15: a computed view (an aggregation over a source, a derived view over
//! its inputs) is readable only with read on every view it reads from,
//! transitively; a view a token may not read answers exactly as an
//! unknown view, on every request that names one; listings, searches and
//! freshness leave it out.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

mod common;
mod scenario;

use common::{code, describe, lookup, registry_list, search, string_keys};
use scenario::Scenario;
use strata_format::protocol::{self as p, ErrorCode};
use strata_format::schema::{KeyValue, Value};
use strata_server::Limits;

const DEFS: &str = include_str!("fixtures/policy.toml");

fn scenario() -> Scenario {
    let s = Scenario::new(
        DEFS,
        &[
            ("growth", &["read:team:growth"]),
            ("both", &["read:team:growth", "read:team:fraud"]),
        ],
        &Limits::default(),
    );
    let row = |view: &str| {
        s.handler
            .store()
            .write(
                view,
                &[p::RowWrite {
                    key: vec![KeyValue::String("m1".into())],
                    event_ts: 1_000_000,
                    created_ts: None,
                    values: vec![Value::String("SECRET-MERCHANT-1".into())],
                }],
            )
            .unwrap();
    };
    row("txn");
    row("txn_copy");
    row("growth_own");
    s
}

fn read(view_feature: &str) -> p::LookupRequest {
    p::LookupRequest {
        features: vec![view_feature.into()],
        entities: vec![string_keys("merchant", &["m1"])],
        as_of: Some(2_000_000),
        ..Default::default()
    }
}

#[test]
fn computed_views_need_read_on_what_they_read() {
    let s = scenario();
    let g = s.session("growth");
    let both = s.session("both");
    // The team's own plain view: readable; and the aggregation whose
    // definition publishes it (expose_sources = true).
    lookup(&g, &read("growth_own:note")).unwrap();
    let published = lookup(&g, &read("txn_published:*")).unwrap();
    assert_eq!(published.features[0].values, [Value::Int64(1)]);
    // The aggregation over fraud's txn and the view derived from it: not
    // without read on txn, and they answer as unknown views do.
    for v in ["txn_stats:*", "txn_copy:note", "txn:note"] {
        let e = lookup(&g, &read(v)).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound, "{v}: {e}");
        assert!(!e.message.contains("SECRET"), "{e}");
        let name = v.split(':').next().unwrap();
        let unknown = lookup(&g, &read(&v.replacen(name, "no_such_view", 1))).unwrap_err();
        assert_eq!(
            unknown.message.replace("no_such_view", name),
            e.message,
            "{v}"
        );
        assert_eq!(code(describe(&g, name)), ErrorCode::NotFound);
    }
    // With read on the source too, both are readable.
    let agg = lookup(&both, &read("txn_stats:*")).unwrap();
    assert_eq!(
        agg.features[0].values,
        [Value::String("SECRET-MERCHANT-1".into())]
    );
    lookup(&both, &read("txn_copy:note")).unwrap();
    // Listings and searches show only what the token may read.
    let names =
        |l: p::RegistryList| -> Vec<String> { l.views.into_iter().map(|v| v.name).collect() };
    assert_eq!(
        names(registry_list(&g).unwrap()),
        ["txn_published", "growth_own"]
    );
    assert_eq!(
        names(registry_list(&both).unwrap()).len(),
        5,
        "every view for a reader of both teams"
    );
    assert!(
        search(&g, "note", 0)
            .unwrap()
            .iter()
            .all(|h| !format!("{h:?}").contains("\"txn")
                || format!("{h:?}").contains("txn_published")),
        "search hides unreadable views"
    );
}
