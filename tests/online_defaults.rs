//! A feature's declared `default` is what an online lookup returns when
//! there is no value; the status still says why.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

mod common;

use common::tables::{cells, column, export_one, user_table};

use strata::format::schema::{KeyValue, Value};
use strata::store::{ReadOptions, RowWrite, Status, Store};

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
