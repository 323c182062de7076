//! A bulk ingest into a source of aggregations locks that source only:
//! while one is paused inside its write (a test hook, holding its locks,
//! its segment not yet written), a push into a plain view, a push into
//! another source and lookups complete; a push into the same source waits
//! for it. After both, the tiles count every event once (nothing lost to
//! a race) and the ingest is all or nothing.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata::format::schema::{KeyValue, Value};
use strata::store::{ReadOptions, RowWrite, Status, Store};

const DEFS: &str = include_str!("fixtures/source-ingest-lock.toml");
const HOUR: i64 = 3_600_000_000;
/// How long a step may take before the test calls it stuck (a failure
/// report, not a measurement: every step takes milliseconds).
const STUCK: Duration = Duration::from_secs(60);

fn row(k: i64, t: i64, v: Value) -> RowWrite {
    RowWrite {
        key: vec![KeyValue::Int64(k)],
        event_ts: t,
        created_ts: Some(t),
        values: vec![v],
    }
}

fn read(store: &Store, view: &str, k: i64, at: i64) -> (Vec<Value>, Vec<Status>) {
    let opts = ReadOptions {
        as_of: Some(at),
        known_at: None,
    };
    let r = store.get(view, &[KeyValue::Int64(k)], opts).unwrap();
    (r.values, r.statuses)
}

#[test]
fn a_paused_source_ingest_lets_writes_into_other_views_through() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(common::stores::store_with(dir.path().join("data"), DEFS));
    // The file: 50 events of key 1, n = 1 each, a minute apart.
    let mut csv = String::from("user_id,event_timestamp,n\n");
    for i in 0..50 {
        csv.push_str(&format!("1,{},1\n", 10 * HOUR + i * 60_000_000));
    }
    let file = dir.path().join("events.csv");
    std::fs::write(&file, csv).unwrap();

    // The hook says the ingest is paused, and waits to be let go.
    let (paused_tx, paused_rx): (Sender<()>, Receiver<()>) = channel();
    let (go_tx, go_rx): (Sender<()>, Receiver<()>) = channel();
    let (paused_tx, go_rx) = (Mutex::new(paused_tx), Mutex::new(go_rx));
    store.set_ingest_hook(Some(Arc::new(move || {
        paused_tx.lock().unwrap().send(()).unwrap();
        go_rx.lock().unwrap().recv_timeout(STUCK).unwrap();
    })));
    let ingest = {
        let (store, file) = (store.clone(), file.clone());
        std::thread::spawn(move || strata::offline::ingest_file(&store, "events", &file, false))
    };
    paused_rx
        .recv_timeout(STUCK)
        .expect("the ingest never reached its write");

    // Other views: a plain push, a push into another source, lookups.
    let (done_tx, done_rx) = channel();
    {
        let store = store.clone();
        std::thread::spawn(move || {
            let t = 11 * HOUR;
            store
                .write("profile", &[row(1, t, Value::String("gold".into()))])
                .unwrap();
            store
                .write("clicks", &[row(1, t, Value::Int64(1))])
                .unwrap();
            let clicks = read(&store, "click_stats", 1, t).0;
            // The paused ingest is not visible: all or nothing.
            let events = read(&store, "events", 1, 20 * HOUR).1;
            done_tx.send((clicks, events)).unwrap();
        });
    }
    let (clicks, events) = done_rx
        .recv_timeout(STUCK)
        .expect("writes into other views waited for the ingest of `events`");
    assert_eq!(clicks, vec![Value::Int64(1)]);
    assert_eq!(events, vec![Status::NotFound]);

    // A push into the same source waits for the ingest, then is counted.
    let same = {
        let store = store.clone();
        std::thread::spawn(move || {
            store
                .write("events", &[row(1, 12 * HOUR, Value::Int64(100))])
                .unwrap()
        })
    };
    go_tx.send(()).unwrap();
    let report = ingest.join().unwrap().unwrap();
    assert_eq!(report.summary.written, 50);
    assert_eq!(same.join().unwrap().written, 1);
    store.set_ingest_hook(None);

    let (stats, _) = read(&store, "stats", 1, 12 * HOUR);
    assert_eq!(stats, vec![Value::Int64(51), Value::Float64(150.0)]);
    let (profile, _) = read(&store, "profile", 1, 12 * HOUR);
    assert_eq!(profile, vec![Value::String("gold".into())]);
}
