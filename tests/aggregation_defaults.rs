//! An aggregation over a feature added to its source later: an event
//! written before the feature (or without its column) counts with the
//! feature's declared default, the value a lookup of that event reads.
//! Checked against a brute-force model, through the backfill of a new
//! aggregation view, the incremental tile writes, a rewrite that recomputes
//! a tile from the stored events, and raw reads at the window's edges.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use strata::format::schema::{KeyValue, Value};
use strata::store::{ReadOptions, RowWrite, Status};

const H: i64 = 3_600_000_000;

const V1: &str = r#"
[[entities]]
name = "user"
join_keys = [{ name = "user_id", type = "int64" }]

[[feature_views]]
name = "txn"
entities = ["user"]
features = [{ name = "amount", type = "int64" }]
"#;

/// `level` is added with a default, and an aggregation over it.
fn v2() -> String {
    let v2 = V1.replace(
        r#"features = [{ name = "amount", type = "int64" }]"#,
        r#"features = [{ name = "amount", type = "int64" }, { name = "level", type = "int64", default = 3 }]"#,
    );
    assert_ne!(v2, V1);
    format!(
        "{v2}\n[[feature_views]]\nname = \"lv\"\nsource = \"txn\"\nallowed_lateness = \"30d\"\naggregations = [\n  {{ function = \"sum\", column = \"level\", window = \"2h\", name = \"s\" }},\n  {{ function = \"count\", column = \"level\", window = \"2h\", name = \"n\" }},\n  {{ function = \"last\", column = \"level\", window = \"2h\", name = \"l\" }},\n]\n"
    )
}

/// `values` of length 1 leave `level` out (the event predates it).
fn ev(t: i64, values: Vec<Value>) -> RowWrite {
    RowWrite {
        key: vec![KeyValue::Int64(7)],
        event_ts: t,
        created_ts: Some(1),
        values,
    }
}

#[test]
fn an_aggregation_reads_the_default_of_a_feature_its_events_predate() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::stores::store_with(dir.path(), V1);
    // The model: event time → the level a lookup of the event reads.
    let mut model: std::collections::BTreeMap<i64, Option<i64>> = Default::default();
    let a = |x| Value::Int64(x);
    // Before `level` exists (the new view's backfill reads these).
    store
        .write(
            "txn",
            &[
                ev(H, vec![a(1)]),
                ev(3 * H / 2, vec![a(2)]),
                ev(3 * H, vec![a(3)]),
            ],
        )
        .unwrap();
    for t in [H, 3 * H / 2, 3 * H] {
        model.insert(t, Some(3));
    }
    common::stores::apply(&store, &v2());
    // After: stored values, a stored null, and a writer that predates it
    // (the incremental tile writes).
    let rows = [
        (7 * H / 2, vec![a(4), a(10)], Some(10)),
        (4 * H, vec![a(5), Value::Null], None),
        (9 * H / 2, vec![a(6)], Some(3)),
        (5 * H / 2, vec![a(7)], Some(3)), // late, within the lateness
    ];
    for (t, values, level) in rows {
        store.write("txn", &[ev(t, values)]).unwrap();
        model.insert(t, level);
    }
    // A rewrite of a version (same times): its tile is recomputed from the
    // stored events, the older ones among them.
    store
        .write("txn", &[ev(3 * H / 2, vec![a(8), a(20)])])
        .unwrap();
    model.insert(3 * H / 2, Some(20));

    for half in 2..14 {
        let t = half * H / 2 + (half % 3) * 7; // off the tile edges too
        let window: Vec<Option<i64>> = model.range(t - 2 * H + 1..=t).map(|(_, v)| *v).collect();
        let xs: Vec<i64> = window.iter().flatten().copied().collect();
        let want = vec![
            if xs.is_empty() {
                Value::Null
            } else {
                Value::Float64(xs.iter().sum::<i64>() as f64)
            },
            Value::Int64(xs.len() as i64),
            window
                .last()
                .copied()
                .flatten()
                .map_or(Value::Null, Value::Int64),
        ];
        for known_at in [None, Some(i64::MAX - 1)] {
            let got = store
                .get(
                    "lv",
                    &[KeyValue::Int64(7)],
                    ReadOptions {
                        as_of: Some(t),
                        known_at,
                    },
                )
                .unwrap();
            assert_eq!(got.values, want, "at {t}, known_at {known_at:?}");
        }
    }
    // The events themselves read the default (what the tiles counted).
    let old = store
        .get(
            "txn",
            &[KeyValue::Int64(7)],
            ReadOptions {
                as_of: Some(3 * H),
                known_at: None,
            },
        )
        .unwrap();
    assert_eq!(old.values[1], Value::Int64(3));
    assert_eq!(old.statuses[1], Status::Defaulted);
}
