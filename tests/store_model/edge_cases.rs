//! Deterministic edge cases of the read semantics, checked against the
//! same model as the property test.

use super::*;

fn stats_row(n: i64) -> Vec<Value> {
    vec![
        Value::Int64(n),
        Value::Float64(n as f64 / 2.0),
        Value::String(format!("s{n}")),
        Value::Bool(n % 2 == 0),
        Value::ListFloat32(vec![n as f32, -0.0]),
        Value::Timestamp(n * SEC),
        Value::Bytes(vec![n as u8, 0]),
    ]
}

fn pair_row(n: i64) -> Vec<Value> {
    vec![Value::Int64(n), Value::Null, Value::Timestamp(n)]
}

fn risk_row(n: i64) -> Vec<Value> {
    vec![
        Value::Float32(n as f32),
        Value::Null,
        Value::String(format!("r{n}")),
        Value::ListString(vec![format!("t{n}"), String::new()]),
        Value::ListInt64(vec![n, -n]),
        Value::ListFloat64(vec![]),
        Value::MapStringInt64(vec![(format!("k{n}"), n), ("a".into(), 1)]),
    ]
}

fn latest() -> ReadOptions {
    ReadOptions::default()
}

fn as_of(t: i64) -> ReadOptions {
    ReadOptions {
        as_of: Some(t),
        known_at: None,
    }
}

/// Checks every key of every view against the model, panicking on a
/// difference (for the deterministic tests).
fn assert_matches(store: &Store, model: &Model) {
    if let Err(e) = check(store, model) {
        panic!("{e}");
    }
}

/// Writes (one `put` each) the version `(e, c)` with row `n` of every user
/// in `user_stats` and of every user-merchant pair in `user_merchant`.
fn put_users_and_pairs(s: &Store, model: &mut Model, (e, c): (i64, i64), n: i64) {
    for u in 0..USERS.len() {
        put(
            s,
            model,
            View::UserStats,
            (Key::User(u), e, c, stats_row(n)),
        );
        for m in 0..MERCHANTS.len() {
            let row = (Key::Pair(u, m), e, c, pair_row(n));
            put(s, model, View::UserMerchant, row);
        }
    }
}

/// A store in a new directory (an `Option`, for [`reopen`]), its catalog,
/// and the model of nothing written yet.
fn reopenable() -> (tempfile::TempDir, Option<Store>, Catalog, Model) {
    let dir = tempfile::tempdir().unwrap();
    let (store, cat) = create(dir.path(), false);
    (dir, Some(store), cat, Model::default())
}

/// Reopens `store`, which must still match `model`.
fn reopen_and_match(store: &mut Option<Store>, dir: &Path, cat: &Catalog, model: &Model) {
    reopen(store, dir, cat, false);
    assert_matches(store.as_ref().unwrap(), model);
}

/// Compacts `store`, then reopens it: after each it must still match
/// `model`.
fn compact_and_reopen(store: &mut Option<Store>, dir: &Path, cat: &Catalog, model: &Model) {
    store.as_ref().unwrap().engine().compact().unwrap();
    assert_matches(store.as_ref().unwrap(), model);
    reopen_and_match(store, dir, cat, model);
}

#[test]
fn a_late_write_with_an_older_event_never_hides_the_newer_one() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = create(dir.path(), false);
    let mut model = Model::default();
    let k = Key::User(1);
    for (e, c, n) in [(10 * SEC, SEC, 1), (5 * SEC, 3 * SEC, 2)] {
        write(&store, View::UserStats, &[(k, e, c, stats_row(n))]);
        model.put(View::UserStats, k, e, c, stats_row(n));
    }
    let kv = k.values();
    let got = store.get("user_stats", &kv, latest()).unwrap();
    assert_eq!((got.event_ts, got.created_ts), (Some(10 * SEC), Some(SEC)));
    assert_eq!(got.values, stats_row(1));
    assert_eq!(got.statuses, vec![Status::Present; 7]);
    let got = store.get("user_stats", &kv, as_of(7 * SEC)).unwrap();
    assert_eq!(got.values, stats_row(2));
    assert_matches(&store, &model);
    // The same from segments, and with the late write in a newer segment
    // than the version it must not hide.
    store.flush().unwrap();
    write(
        &store,
        View::UserStats,
        &[(k, 2 * SEC, 4 * SEC, stats_row(3))],
    );
    model.put(View::UserStats, k, 2 * SEC, 4 * SEC, stats_row(3));
    store.flush().unwrap();
    assert_eq!(
        store.get("user_stats", &kv, latest()).unwrap().values,
        stats_row(1)
    );
    assert_matches(&store, &model);
    store.engine().compact().unwrap();
    assert_matches(&store, &model);
}

#[test]
fn an_exact_rewrite_replaces_the_version_across_flush_and_compaction() {
    let (dir, mut store, cat, mut model) = reopenable();
    let k = Key::Merchant(2);
    for n in 1..4 {
        let s = store.as_ref().unwrap();
        write(s, View::MerchantRisk, &[(k, 3 * SEC, SEC, risk_row(n))]);
        model.put(View::MerchantRisk, k, 3 * SEC, SEC, risk_row(n));
        let got = s.get("merchant_risk", &k.values(), as_of(4 * SEC)).unwrap();
        assert_eq!(got.values, risk_row(n));
        assert_eq!(
            got.statuses,
            [
                Status::Present,
                Status::NullValue,
                Status::Present,
                Status::Present,
                Status::Present,
                Status::Present,
                Status::Present
            ]
        );
        assert_eq!(
            s.history("merchant_risk", &k.values(), i64::MIN, i64::MAX, None)
                .unwrap()
                .len(),
            1
        );
        assert_matches(s, &model);
        s.flush().unwrap();
    }
    compact_and_reopen(&mut store, dir.path(), &cat, &model);
}

#[test]
fn ttl_boundary_and_latest_of_an_old_version_are_outside_max_age() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = create(dir.path(), false);
    let k = Key::Merchant(0);
    write(&store, View::MerchantRisk, &[(k, 5 * SEC, 0, risk_row(1))]);
    let kv = k.values();
    // event_ts == t - ttl is still served; one µs later it is not.
    let on = store
        .get("merchant_risk", &kv, as_of(5 * SEC + TTL))
        .unwrap();
    assert_eq!(on.values, risk_row(1));
    let past = store
        .get("merchant_risk", &kv, as_of(5 * SEC + TTL + 1))
        .unwrap();
    assert_eq!(past.statuses, vec![Status::OutsideMaxAge; 7]);
    assert_eq!(past.values, vec![Value::Null; 7]);
    assert_eq!((past.event_ts, past.created_ts), (Some(5 * SEC), Some(0)));
    // `latest` ages against the wall clock: 1970 is long past.
    let l = store.get("merchant_risk", &kv, latest()).unwrap();
    assert_eq!(l.statuses, vec![Status::OutsideMaxAge; 7]);
    assert_eq!(l.event_ts, Some(5 * SEC));
    // ... and a recent version is served.
    let now = now_micros();
    write(&store, View::MerchantRisk, &[(k, now, now, risk_row(2))]);
    let l = store.get("merchant_risk", &kv, latest()).unwrap();
    assert_eq!(l.values, risk_row(2));
    // Before every event: nothing.
    let before = store.get("merchant_risk", &kv, as_of(4 * SEC)).unwrap();
    assert_eq!(before.statuses, vec![Status::NotFound; 7]);
    assert_eq!((before.event_ts, before.created_ts), (None, None));
}

#[test]
fn delete_then_write_again_across_a_flush() {
    let (dir, mut store, cat, mut model) = reopenable();
    {
        let s = store.as_ref().unwrap();
        put_users_and_pairs(s, &mut model, (10 * SEC, SEC), 1);
        for m in 0..MERCHANTS.len() {
            let row = (Key::Merchant(m), 10 * SEC, SEC, risk_row(1));
            put(s, &mut model, View::MerchantRisk, row);
        }
        s.flush().unwrap();
        // Some of the doomed versions are still in the memtable.
        let row = (Key::Pair(1, 2), 12 * SEC, SEC, pair_row(2));
        put(s, &mut model, View::UserMerchant, row);
    }
    let s = store.as_ref().unwrap();
    delete_user(s, 1);
    model.delete_user(1);
    delete_merchant(s, 2);
    model.delete_merchant(2);
    assert_matches(s, &model);
    for view in VIEWS {
        for key in view.keys() {
            let gone = match key {
                Key::User(u) => u == 1,
                Key::Merchant(m) => m == 2,
                Key::Pair(u, m) => u == 1 || m == 2,
            };
            let h = s
                .history(view.name(), &key.values(), i64::MIN, i64::MAX, None)
                .unwrap();
            assert_eq!(h.is_empty(), gone, "{view:?} {key:?}");
        }
    }
    s.flush().unwrap();
    assert_matches(s, &model);
    // Write again, with an older event time than the deleted versions.
    let again = [
        (View::UserStats, Key::User(1)),
        (View::UserMerchant, Key::Pair(1, 0)),
        (View::UserMerchant, Key::Pair(0, 2)),
        (View::MerchantRisk, Key::Merchant(2)),
    ];
    for (view, k) in again {
        let v = match view {
            View::UserStats => stats_row(7),
            View::MerchantRisk => risk_row(7),
            View::UserMerchant => pair_row(7),
        };
        put(s, &mut model, view, (k, 3 * SEC, 0, v));
    }
    assert_matches(s, &model);
    let got = s
        .get("user_merchant", &Key::Pair(1, 0).values(), latest())
        .unwrap();
    assert_eq!((got.event_ts, got.values), (Some(3 * SEC), pair_row(7)));
    s.flush().unwrap();
    assert_matches(s, &model);
    compact_and_reopen(&mut store, dir.path(), &cat, &model);
}

#[test]
fn reopen_keeps_everything() {
    let (dir, mut store, cat, mut model) = reopenable();
    let s = store.as_ref().unwrap();
    for round in 0..3i64 {
        put_users_and_pairs(s, &mut model, ((20 - round) * SEC, round * SEC), round);
        for m in 0..MERCHANTS.len() {
            let k = Key::Merchant(m);
            let rows: Vec<_> = (0..3)
                .map(|i| (k, (round + i) * SEC, round * SEC, risk_row(round + i)))
                .collect();
            write(s, View::MerchantRisk, &rows);
            for (k, e, c, v) in rows {
                model.put(View::MerchantRisk, k, e, c, v);
            }
        }
        // The first two rounds go to segments, the last stays in the WAL.
        if round < 2 {
            s.flush().unwrap();
        }
    }
    assert_matches(s, &model);
    reopen_and_match(&mut store, dir.path(), &cat, &model);
    reopen_and_match(&mut store, dir.path(), &cat, &model);
}

/// A store whose only view keeps one version per key (`max_versions = 1`).
const CAPPED: &str = include_str!("../fixtures/store-model-capped.toml");

/// Writes three versions of one key to `capped`, flushes, optionally
/// reopens, compacts fully, and returns the event times `history` lists.
fn capped_history_after_compaction(reopen_first: bool) -> Vec<i64> {
    let dir = tempfile::tempdir().unwrap();
    let mut store = common::stores::store_with_options(dir.path(), options(false), CAPPED);
    let key = [KeyValue::Int64(1)];
    let rows: Vec<_> = (1..=3)
        .map(|i| RowWrite {
            key: key.to_vec(),
            event_ts: i * SEC,
            created_ts: Some(0),
            values: vec![Value::Int64(i)],
        })
        .collect();
    store.write("capped", &rows).unwrap();
    store.flush().unwrap();
    if reopen_first {
        drop(store);
        store = Store::open_with(dir.path(), options(false)).unwrap();
    }
    store.engine().compact().unwrap();
    store
        .history("capped", &key, i64::MIN, i64::MAX, None)
        .unwrap()
        .iter()
        .map(|r| r.event_ts)
        .collect()
}

#[test]
fn max_versions_prunes_at_compaction() {
    assert_eq!(capped_history_after_compaction(false), vec![3 * SEC]);
}

/// Regression: `Store::open_with` once loaded the catalog without handing
/// the views' pruning policies to the engine, so compaction after a reopen
/// kept every version.
#[test]
fn max_versions_prunes_at_compaction_after_a_reopen() {
    assert_eq!(capped_history_after_compaction(true), vec![3 * SEC]);
}
