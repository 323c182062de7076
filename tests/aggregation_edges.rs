//! The same event falls in the same window online (`latest`, `as_of`), over
//! the server's read path (the store API it uses) and in a training export,
//! at the window's edges: `t − w` is excluded, `t` included. Also for a
//! hopping window, whose edges are multiples of the slide.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use common::tables::{cells, column, export_one, user_table};

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arrow_array::Int64Array;
use strata::engine::{Clock, Options};
use strata::format::schema::{KeyValue, Value};
use strata::offline::export::ExportRequest;
use strata::store::{ReadOptions, RowWrite, Store, StoreOptions};

const H: i64 = 3_600_000_000;

const DEFS: &str = include_str!("fixtures/aggregation-edges.toml");

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    clock: Arc<AtomicI64>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(100 * H));
    let c = clock.clone();
    let engine = Options {
        clock: Clock::new(move || c.load(Ordering::SeqCst)),
        ..Options::default()
    };
    let store = common::stores::store_with_options(dir.path(), StoreOptions { engine }, DEFS);
    // One event at exactly 10 h (amount 1) and one at 11 h (amount 10).
    let ev = |t: i64, amount: i64| RowWrite {
        key: vec![KeyValue::Int64(7)],
        event_ts: t,
        created_ts: None,
        values: vec![Value::Int64(amount)],
    };
    store
        .write("txn", &[ev(10 * H, 1), ev(11 * H, 10)])
        .unwrap();
    Fixture {
        _dir: dir,
        store,
        clock,
    }
}

/// (count over 1 h, hopping sum) online: `as_of(t)` and `latest` with the
/// clock at `t`.
fn online(f: &Fixture, t: i64) -> [(Value, Value); 2] {
    let read = |opts: ReadOptions| {
        let r = f
            .store
            .get("txn_stats", &[KeyValue::Int64(7)], opts)
            .unwrap();
        (r.values[0].clone(), r.values[1].clone())
    };
    let as_of = read(ReadOptions {
        as_of: Some(t),
        known_at: None,
    });
    f.clock.store(t, Ordering::SeqCst);
    let latest = read(ReadOptions::default());
    [as_of, latest]
}

/// (count over 1 h, hopping sum) in an export, one row per time in `ts`.
fn exported(f: &Fixture, ts: &[i64]) -> Vec<(Option<i64>, Option<f64>)> {
    let table = user_table(ts.iter().map(|&t| (7, t)));
    let out = export_one(&f.store, &ExportRequest::new("txn_stats:*").unwrap(), table);
    let count = cells(&column::<Int64Array>(&out[0], "count_1h"));
    let sum = cells(&column::<arrow_array::Float64Array>(
        &out[0],
        "amount_sum_hop",
    ));
    count.into_iter().zip(sum).collect()
}

#[test]
fn window_edges_agree_online_and_in_exports() {
    let f = fixture();
    // (read time, count over (t − 1 h, t], hopping sum over (e − 1 h, e]
    // with e = t rounded down to 30 min).
    let cases: [(i64, Option<i64>, Option<f64>); 7] = [
        // The event at 10 h is at t: included.
        (10 * H, Some(1), Some(1.0)),
        // One µs before: no event yet (NOT_FOUND: no value at all).
        (10 * H - 1, None, None),
        // At 11 h the event at 10 h is at t − w: excluded; the one at 11 h is in.
        (11 * H, Some(1), Some(10.0)),
        // One µs earlier the 10 h event is inside, the 11 h one not yet.
        (11 * H - 1, Some(1), Some(1.0)),
        // Hopping: at 11 h 29 m the window still ends at 11 h.
        (11 * H + 29 * 60_000_000, Some(1), Some(10.0)),
        // At 11 h 30 m it ends there: (10 h 30, 11 h 30] holds the 11 h event.
        (11 * H + H / 2, Some(1), Some(10.0)),
        // At 12 h: (11 h, 12 h] — the 11 h event is at the excluded edge.
        (12 * H, Some(0), None),
    ];
    let times: Vec<i64> = cases.iter().map(|c| c.0).collect();
    let exp = exported(&f, &times);
    for (i, &(t, count, sum)) in cases.iter().enumerate() {
        let want = (
            count.map_or(Value::Null, Value::Int64),
            sum.map_or(Value::Null, Value::Float64),
        );
        for (how, got) in ["as_of", "latest"].iter().zip(online(&f, t)) {
            assert_eq!(got, want, "{how} at {t}");
        }
        assert_eq!(exp[i], (count, sum), "export at {t}");
    }
}
