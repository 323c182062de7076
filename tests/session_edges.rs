//! Session edges, read the same online (`as_of`, `latest`), bitemporally
//! (`known_at`) and in training exports (also `--as-known-at` and
//! `--no-future-writes`): a gap of exactly `session_gap` continues a
//! session and one µs more ends it; an event at exactly `t` is in the
//! session and one at `t + 1` never is; `is_open` holds while
//! `t − session_end ≤ session_gap`; a late event that fills a gap merges
//! two sessions (from the time it was written on), one refused as too late
//! does not.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use common::tables::{export_one, user_table};

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arrow_array::{Array, BooleanArray, Int64Array, TimestampMicrosecondArray};
use strata::format::schema::{KeyValue, Value};
use strata::offline::export::{ExportRequest, KnownAt};
use strata::store::{ReadOptions, RowWrite, Status, Store, StoreOptions};

const M: i64 = 60_000_000;
/// The gap: 30 min.
const GAP: i64 = 30 * M;

/// Sessions of clicks (30 min gap, 2 h allowed lateness) whose late
/// events are rejected.
const DEFS: &str = include_str!("fixtures/session-edges.toml");

/// [`DEFS`] with the late events `policy` (`reject`, `correct`).
fn definitions(policy: &str) -> String {
    DEFS.replace(
        "late_events = \"reject\"",
        &format!("late_events = \"{policy}\""),
    )
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    clock: Arc<AtomicI64>,
}

fn fixture(policy: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(1000 * M));
    let engine = common::stores::clocked(&clock);
    let store = common::stores::store_with_options(
        dir.path(),
        StoreOptions { engine },
        &definitions(policy),
    );
    Fixture {
        _dir: dir,
        store,
        clock,
    }
}

fn write(f: &Fixture, ts: &[i64], created: i64) -> u64 {
    let rows: Vec<RowWrite> = ts
        .iter()
        .map(|&t| RowWrite {
            key: vec![KeyValue::Int64(1)],
            event_ts: t,
            created_ts: Some(created),
            values: vec![Value::String(format!("p{t}"))],
        })
        .collect();
    f.store.write("clicks", &rows).unwrap().rejected_late
}

/// (count, session_start, is_open) of user 1, `None` when NOT_FOUND.
type Session = Option<(i64, i64, bool)>;

fn from_values(statuses: &[Status], values: &[Value]) -> Session {
    if statuses.iter().all(|s| *s == Status::NotFound) {
        return None;
    }
    match values {
        [Value::Int64(n), Value::Timestamp(s), Value::Bool(o)] => Some((*n, *s, *o)),
        other => panic!("unexpected values {other:?}"),
    }
}

/// The session at `t` read with `as_of`, with `latest` (clock at `t`) when
/// `known` is `None`, and in exports; all must agree.
fn read(f: &Fixture, t: i64, known: Option<i64>) -> Session {
    let get = |as_of: Option<i64>| {
        let opts = ReadOptions {
            as_of,
            known_at: known,
        };
        let r = f
            .store
            .get("sessions", &[KeyValue::Int64(1)], opts)
            .unwrap();
        from_values(&r.statuses, &r.values)
    };
    let as_of = get(Some(t));
    if known.is_none() {
        let before = f.clock.swap(t, Ordering::SeqCst);
        assert_eq!(get(None), as_of, "latest at {t}");
        f.clock.store(before, Ordering::SeqCst);
    }
    let mut req = ExportRequest::new("sessions:*").unwrap();
    req.known_at = known.map_or(KnownAt::Unbounded, KnownAt::At);
    let out = export_one(&f.store, &req, user_table([(1, t)]));
    let b = &out[0];
    let exported = (!b.column(2).is_null(0)).then(|| {
        let n = b.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
        let s = b
            .column(3)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        let o = b.column(4).as_any().downcast_ref::<BooleanArray>().unwrap();
        (n.value(0), s.value(0), o.value(0))
    });
    assert_eq!(exported, as_of, "export at {t} known {known:?}");
    as_of
}

#[test]
fn a_gap_of_exactly_session_gap_continues_the_session_one_more_ends_it() {
    let f = fixture("reject");
    // 0 → 30 min: exactly the gap. 30 min → 60 min + 1 µs: one µs more.
    write(&f, &[0, GAP, 2 * GAP + 1], 1);
    assert_eq!(read(&f, GAP, None), Some((2, 0, true)));
    assert_eq!(
        read(&f, 2 * GAP, None),
        Some((2, 0, true)),
        "t − end = gap: open"
    );
    assert_eq!(read(&f, 2 * GAP + 1, None), Some((1, 2 * GAP + 1, true)));
    assert_eq!(read(&f, 3 * GAP + 1, None), Some((1, 2 * GAP + 1, true)));
    assert_eq!(read(&f, 3 * GAP + 2, None), Some((1, 2 * GAP + 1, false)));
}

#[test]
fn an_event_at_t_is_in_the_session_and_one_after_t_never_is() {
    let f = fixture("reject");
    write(&f, &[10 * M, 20 * M, 20 * M + 1], 1);
    assert_eq!(read(&f, 10 * M - 1, None), None, "no event at or before t");
    assert_eq!(read(&f, 10 * M, None), Some((1, 10 * M, true)));
    assert_eq!(read(&f, 20 * M, None), Some((2, 10 * M, true)));
    assert_eq!(read(&f, 20 * M + 1, None), Some((3, 10 * M, true)));
}

#[test]
fn a_late_event_filling_the_gap_merges_two_sessions_from_when_it_was_written() {
    let f = fixture("correct");
    // Two sessions: [0, 10 min] and [50 min, 60 min] (a 40 min gap).
    write(&f, &[0, 10 * M, 50 * M, 60 * M], 100);
    assert_eq!(read(&f, 60 * M, None), Some((2, 50 * M, true)));
    // 30 min arrives late (created at 200): 10 → 30 → 50 min, gaps of 20.
    assert_eq!(write(&f, &[30 * M], 200), 0);
    assert_eq!(read(&f, 60 * M, None), Some((5, 0, true)));
    // Known at 150, before it was written, the sessions were split.
    assert_eq!(read(&f, 60 * M, Some(150)), Some((2, 50 * M, true)));
    assert_eq!(read(&f, 60 * M, Some(200)), Some((5, 0, true)));
    // And at 30 min itself the new event closes no gap yet on the right.
    assert_eq!(read(&f, 30 * M, None), Some((3, 0, true)));

    // --no-future-writes: each row sees the events created by its time.
    let table = user_table([(1, 150), (1, 60 * M)]);
    let mut req = ExportRequest::new("sessions:count").unwrap();
    req.known_at = KnownAt::EventTime;
    let out = export_one(&f.store, &req, table);
    let counts = out[0]
        .column(2)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    // At 150 µs: the event at 0 (created 100) only.
    assert_eq!(counts.value(0), 1);
    // At 60 min: everything was created by then.
    assert_eq!(counts.value(1), 5);
}

#[test]
fn a_late_event_refused_does_not_merge_sessions() {
    let f = fixture("reject");
    write(&f, &[0, 10 * M, 50 * M, 200 * M], 100);
    // Watermark 200 min, lateness 2 h: 30 min is too late and refused.
    assert_eq!(write(&f, &[30 * M], 200), 1);
    assert_eq!(read(&f, 60 * M, None), Some((1, 50 * M, true)));
}

#[test]
fn deleting_the_entity_forgets_its_sessions() {
    let f = fixture("reject");
    write(&f, &[0, 10 * M], 1);
    f.store.delete("user", &[KeyValue::Int64(1)]).unwrap();
    assert_eq!(read(&f, 10 * M, None), None);
    write(&f, &[20 * M], 2);
    assert_eq!(read(&f, 20 * M, None), Some((1, 20 * M, true)));
}
