//! A feature's declared `default` is what an online lookup returns when
//! there is no value; the status still says why.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

mod common;

use common::tables::{cells, column, export_one, user_lookup, user_table};

use strata::format::schema::{KeyValue, Value};
use strata::store::{HistoryBounds, ReadOptions, RowWrite, Status, Store};

const DEFS: &str = include_str!("fixtures/online-defaults.toml");

#[test]
fn defaults_fill_not_found_and_outside_max_age_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::stores::store_with(dir.path(), DEFS);
    let hour = 3_600_000_000;
    store
        .write(
            "stats",
            &[RowWrite {
                key: vec![KeyValue::Int64(1)],
                event_ts: 10 * hour,
                created_ts: Some(1),
                values: vec![Value::Null, Value::String("a".into())],
            }],
        )
        .unwrap();
    let get = |k: i64, t: i64| {
        store
            .get(
                "stats",
                &[KeyValue::Int64(k)],
                ReadOptions {
                    as_of: Some(t),
                    known_at: None,
                },
            )
            .unwrap()
    };

    let missing = get(2, 10 * hour);
    assert_eq!(missing.statuses, vec![Status::NotFound, Status::NotFound]);
    assert_eq!(missing.values, vec![Value::Float64(0.5), Value::Null]);

    let expired = get(1, 12 * hour);
    assert_eq!(
        expired.statuses,
        vec![Status::OutsideMaxAge, Status::OutsideMaxAge]
    );
    assert_eq!(expired.values, vec![Value::Float64(0.5), Value::Null]);

    // A stored null is a value: NULL_VALUE, not the default.
    let found = get(1, 10 * hour);
    assert_eq!(found.statuses, vec![Status::NullValue, Status::Present]);
    assert_eq!(found.values, vec![Value::Null, Value::String("a".into())]);
}

#[test]
fn exports_fill_defaults_only_when_asked() {
    use arrow_array::Float64Array;

    use strata::offline::export::ExportRequest;

    let dir = tempfile::tempdir().unwrap();
    let store = common::stores::store_with(dir.path(), DEFS);
    let hour = 3_600_000_000;
    let row = |k: i64, score: f64| RowWrite {
        key: vec![KeyValue::Int64(k)],
        event_ts: 10 * hour,
        created_ts: Some(1),
        values: vec![Value::Float64(score), Value::Null],
    };
    store.write("stats", &[row(1, 9.0)]).unwrap();
    // Found, unknown key, outside the 1 h ttl.
    let table = user_table([(1, 10 * hour), (2, 10 * hour), (1, 12 * hour)]);
    let scores = |fill: bool| {
        let mut req = ExportRequest::new("stats:score").unwrap();
        req.fill_defaults = fill;
        let out = export_one(&store, &req, table.clone());
        cells(&column::<Float64Array>(&out[0], "score"))
    };
    assert_eq!(scores(false), vec![Some(9.0), None, None]);
    assert_eq!(scores(true), vec![Some(9.0), Some(0.5), Some(0.5)]);
}

#[test]
fn export_only_views_refuse_latest_reads_but_answer_as_of() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let text = DEFS.replace("ttl = \"1h\"", "ttl = \"1h\"\nonline = false");
    common::stores::apply(&store, &text);
    let e = store
        .get("stats", &[KeyValue::Int64(1)], ReadOptions::default())
        .unwrap_err();
    assert!(
        e.to_string().contains("export-only (online = false)"),
        "{e}"
    );
    let as_of = ReadOptions {
        as_of: Some(0),
        known_at: None,
    };
    let row = store.get("stats", &[KeyValue::Int64(1)], as_of).unwrap();
    assert_eq!(row.statuses, vec![Status::NotFound, Status::NotFound]);
}

const EVOLVE_V1: &str = include_str!("fixtures/online-defaults-evolve-v1.toml");

/// Each view gains features: one with a default, then one without.
fn evolve_v2() -> String {
    EVOLVE_V1
        .replace(
            r#"features = [{ name = "score", type = "float64" }]"#,
            r#"features = [{ name = "score", type = "float64" }, { name = "level", type = "int64", default = 7 }, { name = "rank", type = "int64" }]"#,
        )
        .replace(
            r#"features = [{ name = "name", type = "string" }]"#,
            r#"features = [{ name = "name", type = "string" }, { name = "tier", type = "string", default = "bronze" }]"#,
        )
}

#[test]
fn a_feature_added_with_a_default_reads_it_on_older_versions_in_reads_and_exports() {
    use arrow_array::{Int64Array, StringArray};

    use strata::offline::export::ExportRequest;

    let dir = tempfile::tempdir().unwrap();
    let store = common::stores::store_with(dir.path(), EVOLVE_V1);
    let hour = 3_600_000_000;
    let write = |view: &str, k: i64, values: Vec<Value>| {
        store
            .write(
                view,
                &[RowWrite {
                    key: vec![KeyValue::Int64(k)],
                    event_ts: 10 * hour,
                    created_ts: Some(1),
                    values,
                }],
            )
            .unwrap();
    };
    write("acct", 1, vec![Value::Float64(1.0)]);
    write("tags", 1, vec![Value::String("a".into())]);
    common::stores::apply(&store, &evolve_v2());
    write(
        "acct",
        2,
        vec![Value::Float64(2.0), Value::Int64(9), Value::Null],
    );
    // A writer that predates `level` (and `rank`) may leave them out only
    // if each declares a default: `rank` does not.
    let e = store
        .write(
            "acct",
            &[RowWrite {
                key: vec![KeyValue::Int64(3)],
                event_ts: 10 * hour,
                created_ts: Some(1),
                values: vec![Value::Float64(3.0)],
            }],
        )
        .unwrap_err();
    assert!(e.to_string().contains("rank declare(s) none"), "{e}");
    // `tags` may: its added feature has a default.
    write("tags", 3, vec![Value::String("c".into())]);

    let get = |view: &str, k: i64, as_of: Option<i64>| {
        let opts = ReadOptions {
            as_of,
            known_at: None,
        };
        store.get(view, &[KeyValue::Int64(k)], opts).unwrap()
    };
    for as_of in [None, Some(11 * hour)] {
        let old = get("acct", 1, as_of);
        assert_eq!(
            old.statuses,
            vec![Status::Present, Status::Defaulted, Status::NullValue]
        );
        assert_eq!(
            old.values,
            vec![Value::Float64(1.0), Value::Int64(7), Value::Null]
        );
        let new = get("acct", 2, as_of);
        assert_eq!(
            new.statuses,
            vec![Status::Present, Status::Present, Status::NullValue]
        );
        assert_eq!(new.values[1], Value::Int64(9));
        let missing = get("acct", 5, as_of);
        assert_eq!(missing.statuses, vec![Status::NotFound; 3]);
        assert_eq!(missing.values[1], Value::Int64(7));
        for k in [1, 3] {
            let t = get("tags", k, as_of);
            assert_eq!(t.statuses, vec![Status::Present, Status::Defaulted]);
            assert_eq!(t.values[1], Value::String("bronze".into()));
        }
    }
    // History (local, and what the server sends) serves the default too.
    let h = store
        .history("acct", &[KeyValue::Int64(1)], i64::MIN, i64::MAX - 1, None)
        .unwrap();
    assert_eq!(
        h[0].values,
        vec![Value::Float64(1.0), Value::Int64(7), Value::Null]
    );
    let h = store
        .history_newest(
            "tags",
            &[KeyValue::Int64(3)],
            &HistoryBounds {
                from: 0,
                to: 20 * hour,
                known_at: None,
                limit: 10,
                max_bytes: 1 << 20,
            },
        )
        .unwrap();
    assert_eq!(h.0[0].values[1], Value::String("bronze".into()));
    // The lookup the server answers says the same, and carries the default.
    let resp = store
        .lookup(&user_lookup(&["acct:level"], &[1, 2, 5], None, None))
        .unwrap();
    let col = &resp.features[0];
    assert_eq!(
        col.statuses,
        vec![Status::Defaulted, Status::Present, Status::NotFound]
    );
    assert_eq!(
        col.values,
        vec![Value::Int64(7), Value::Int64(9), Value::Int64(7)]
    );

    // Exports: a version that predates the feature reads its default with
    // or without --fill-defaults (the version exists); a row without a
    // version gets it only when asked. `acct` is all fixed-width (the
    // export's fast decoder), `tags` is not.
    let table = user_table([
        (1, 10 * hour),
        (2, 10 * hour),
        (5, 10 * hour),
        (3, 10 * hour),
    ]);
    for fill in [false, true] {
        let mut req = ExportRequest::new("acct:level,tags:tier").unwrap();
        req.fill_defaults = fill;
        let out = export_one(&store, &req, table.clone());
        let levels = cells(&column::<Int64Array>(&out[0], "level"));
        let missing = fill.then_some(7);
        assert_eq!(
            levels,
            vec![Some(7), Some(9), missing, missing],
            "fill {fill}"
        );
        let tiers = column::<StringArray>(&out[0], "tier");
        let tiers: Vec<Option<&str>> = tiers.iter().collect();
        let missing = fill.then_some("bronze");
        assert_eq!(
            tiers,
            vec![Some("bronze"), missing, missing, Some("bronze")],
            "fill {fill}"
        );
    }
}
