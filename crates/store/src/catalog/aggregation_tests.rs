//! Tests of aggregation views: parsing, errors, evolution.

use super::*;
use crate::catalog::defs;
use crate::catalog::test_support::{WithView, feature_list, refusals};
use strata_format::schema::Value;

const BASE: &str = include_str!("testdata/aggregation-base.toml");
const STATS: WithView = WithView::new(BASE, "stats", "txn");

#[test]
fn an_aggregation_view_gets_its_features_entities_and_source() {
    let d = STATS
        .with(
            r#"aggregations = [
  { function = "count", windows = ["1h", "1d"] },
  { function = "sum", column = "amount", window = "1d" },
  { function = "last", column = "merchant", window = "30d" },
  { function = "p95", column = "amount", window = "1d", slide = "1h", name = "amount_p95_hourly" },
]"#,
        )
        .unwrap();
    let v = &d.views[1];
    assert_eq!(v.entities, vec!["user".to_string()]);
    assert_eq!(
        feature_list(v),
        "count_1h int64, count_1d int64, amount_sum_1d float64, merchant_last_30d string, amount_p95_hourly float64"
    );
    assert_eq!(v.metadata.source.as_deref(), Some("txn@1"));
    let s = spec(v, &d.views[0]).unwrap();
    assert_eq!(
        s.tile, 300_000_000,
        "gcd of 1h, 1d, 30d, the slide and 1h / 12"
    );
    assert_eq!(s.late, LatePolicy::Reject);
    assert_eq!(s.allowed_lateness, 0);
    let hop = &s.aggregations[4];
    assert_eq!(
        hop.window_at(5_400_000_000),
        (3_600_000_000 - 86_400_000_000, 3_600_000_000)
    );
}

#[test]
fn bad_aggregations_are_refused_with_the_reason() {
    for (agg, want) in refusals(include_str!("testdata/aggregation-refused.txt")) {
        let e = STATS.with(&agg).unwrap_err().to_string();
        assert!(e.contains(want), "{agg}: {e}");
    }
    let e = defs::parse(&format!(
        "{BASE}\n[[feature_views]]\nname = \"stats\"\nsource = \"other\"\naggregations = [{{ function = \"count\", window = \"1h\" }}]"
    ))
    .unwrap_err().to_string();
    assert!(e.contains("not declared in this file"), "{e}");
    let e = defs::parse(&format!(
        "{}\nretention = \"30d\"\n[[feature_views]]\nname = \"stats\"\nsource = \"txn\"\naggregations = [{{ function = \"count\", window = \"1h\" }}]",
        BASE.trim_end()
    ))
    .unwrap_err().to_string();
    assert!(e.contains("declares retention"), "{e}");
    let e = defs::parse(&format!("{}\ntile = \"5m\"", BASE.trim_end()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("applies only to aggregation views"), "{e}");
}

#[test]
fn only_lateness_may_change_in_place() {
    let agg = r#"aggregations = [{ function = "count", window = "1h" }]"#;
    let cat = defs::apply(&Default::default(), &STATS.with(agg).unwrap()).unwrap();
    let relaxed = STATS
        .with(&format!(
            "{agg}\nallowed_lateness = \"1h\"\nlate_events = \"correct\""
        ))
        .unwrap();
    assert!(defs::apply(&cat, &relaxed).is_ok());
    let wider = STATS
        .with(r#"aggregations = [{ function = "count", window = "2h" }]"#)
        .unwrap();
    let e = defs::apply(&cat, &wider).unwrap_err().to_string();
    assert!(e.contains("declare it as version = 2"), "{e}");
    let retiled = STATS.with(&format!("{agg}\ntile = \"1m\"")).unwrap();
    let e = defs::apply(&cat, &retiled).unwrap_err().to_string();
    assert!(e.contains("its tile changes"), "{e}");
}

#[test]
fn a_where_filter_is_checked_and_needs_a_name() {
    let d = STATS.with(
        r#"aggregations = [
  { function = "count", window = "1d", where = "merchant in ('a', 'b') and amount > 0", name = "ab_1d" },
  { function = "count", window = "1d" },
]"#,
    )
    .unwrap();
    let s = spec(&d.views[1], &d.views[0]).unwrap();
    let f = s.aggregations[0].filter.as_ref().unwrap();
    assert_eq!(f.columns, vec![1, 0], "merchant, then amount");
    let row = |m: &str, a: f64| [Value::Float64(a), Value::String(m.into())];
    assert!(f.matches(&row("a", 1.0)));
    assert!(!f.matches(&row("c", 1.0)));
    assert!(
        !f.matches(&[Value::Null, Value::String("a".into())]),
        "null is not true"
    );
    assert!(s.aggregations[1].filter.is_none());

    let cases = [
        (r#"where = "merchant = 'a'""#, "needs a name"),
        (r#"where = "merchant = 1", name = "m""#, "feature \"m\""),
        (r#"where = "merchant = 1", name = "m""#, "at column 10"),
        (r#"where = "amount + 1", name = "m""#, "condition"),
        (r#"where = 3, name = "m""#, "must be a string"),
    ];
    for (field, msg) in cases {
        let e = STATS
            .with(&format!(
                "aggregations = [{{ function = \"count\", window = \"1d\", {field} }}]"
            ))
            .unwrap_err()
            .to_string();
        assert!(e.contains(msg), "{field}: {e}");
        assert!(e.contains("\"stats\""), "{field}: {e}");
    }
}

#[test]
fn parameterised_functions_name_their_features_and_check_their_parameters() {
    let d = STATS.with(
        r#"aggregations = [
  { function = "percentile", column = "amount", quantiles = [0.5, 0.999], window = "1d" },
  { function = "collect_set", column = "merchant", limit = 20, window = "30d" },
  { function = "last_k", column = "amount", k = 5, window = "1d" },
  { function = "histogram", column = "merchant", k = 3, window = "1d" },
  { function = "first", column = "merchant", window = "1d" },
  { function = "variance", column = "amount", window = "1d" },
  { function = "count_distinct_exact", column = "merchant", limit = 100, window = "1d", name = "merchants" },
]"#,
    )
    .unwrap();
    assert_eq!(
        feature_list(&d.views[1]),
        "amount_p50_1d float64, amount_p99_9_1d float64, merchant_collect_set_30d list<string>, amount_last5_1d list<float64>, merchant_histogram_1d map<string,int64>, merchant_first_1d string, amount_variance_1d float64, merchants int64"
    );
    let s = spec(&d.views[1], &d.views[0]).unwrap();
    assert_eq!(s.aggregations[1].function, Function::Quantile(9990));
    assert_eq!(
        s.aggregations[4].function,
        Function::Histogram { k: 3, limit: 1000 }
    );
    for (agg, want) in refusals(include_str!("testdata/aggregation-refused-alone.txt")) {
        let e = STATS
            .with(&format!("aggregations = [{agg}]"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{agg}: {e}");
        assert!(e.contains("stats"), "the error names the view: {e}");
    }
}
