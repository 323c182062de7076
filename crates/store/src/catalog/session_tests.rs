//! Tests of session views: parsing, types, errors, evolution.

use super::*;
use crate::catalog::defs;
use crate::catalog::test_support::{WithView, feature_list, refusals};
use strata_format::schema::Value;

const BASE: &str = include_str!("../testdata/session-base.toml");
const SESSIONS: WithView = WithView::new(BASE, "sessions", "clicks");

#[test]
fn a_session_view_gets_typed_features_named_after_their_function() {
    let declared = include_str!("../testdata/session-every-function.toml");
    let d = SESSIONS.with(declared).unwrap();
    let v = &d.views[1];
    assert!(v.is_aggregation() && v.is_session());
    assert_eq!(v.entities, vec!["user".to_string()]);
    assert_eq!(
        feature_list(v),
        "count int64, unique_pages int64, landing_page string, page_last string, dwell_sum float64, session_start timestamp, session_end timestamp, duration int64, is_open bool, carts int64"
    );
    let s = super::super::aggregation::spec(v, &d.views[0]).unwrap();
    assert!(s.aggregations.is_empty());
    assert_eq!(s.allowed_lateness, 3_600_000_000);
    let session = s.session.unwrap();
    assert_eq!(session.gap, 1_800_000_000);
    assert_eq!(session.features[1].function, Function::CountDistinct);
    assert_eq!(session.features[1].column, Some(0));
    let carts = session.features[9].filter.as_ref().unwrap();
    let ev = |page: &str, dwell: f64| [Value::String(page.into()), Value::Float64(dwell)];
    assert!(carts.matches(&ev("cart", 2.0)));
    assert!(!carts.matches(&ev("cart", 0.5)) && !carts.matches(&ev("home", 2.0)));
    assert!(
        !carts.matches(&[Value::Null, Value::Float64(2.0)]),
        "null is not true"
    );
}

#[test]
fn bad_session_views_are_refused_with_the_reason() {
    for (body, want) in refusals(include_str!("../testdata/session-refused.txt")) {
        let e = SESSIONS.with(&body).unwrap_err().to_string();
        assert!(e.contains(want), "{body}: {e}");
        assert!(e.contains("sessions"), "the error names the view: {e}");
    }
}

#[test]
fn the_gap_cannot_change_in_place_but_lateness_can() {
    let body = "session_gap = \"30m\"\naggregations = [{ function = \"count\" }]";
    let cat = defs::apply(&Default::default(), &SESSIONS.with(body).unwrap()).unwrap();
    let relaxed = SESSIONS
        .with(&format!("{body}\nallowed_lateness = \"1h\""))
        .unwrap();
    assert!(defs::apply(&cat, &relaxed).is_ok());
    let wider = SESSIONS
        .with("session_gap = \"1h\"\naggregations = [{ function = \"count\" }]")
        .unwrap();
    let e = defs::apply(&cat, &wider).unwrap_err().to_string();
    assert!(e.contains("declare it as version = 2"), "{e}");
    let windowed = SESSIONS
        .with("aggregations = [{ function = \"count\", window = \"1h\" }]")
        .unwrap();
    assert!(defs::apply(&cat, &windowed).is_err());
}

#[test]
fn a_session_view_survives_the_catalog_file() {
    let d = SESSIONS
        .with("session_gap = \"45m\"\naggregations = [{ function = \"is_open\" }]")
        .unwrap();
    let cat = defs::apply(&Default::default(), &d).unwrap();
    let v = cat.view("sessions").unwrap();
    let table = v.metadata.to_table();
    assert_eq!(
        table.get("session_gap").and_then(|g| g.as_str()),
        Some("45m")
    );
}
