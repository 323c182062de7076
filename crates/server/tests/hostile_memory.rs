//! Red-team rows 1 and 8 of issue 15, in-process against the request
//! handler, each in its own process with a bound on its peak memory
//! (docs/PROTOCOL.md, "Limits"):
//!
//! - row 1: a lookup whose answer would be huge (10,000 copies of a key
//!   with a 60 KB value; or more cells than the answer limit holds) is
//!   refused `LIMIT_EXCEEDED` while it is built, never after;
//! - row 8: pushes of megabytes of nulls from a token that may not write
//!   are refused before their rows are decoded.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

mod common;
mod scenario;

use common::lookup;
use scenario::{Scenario, assert_peak_within, in_own_process, refused_eight_at_once, reset_peak};
use strata_format::protocol::{self as p, ErrorCode, Kind};
use strata_format::schema::{KeyValue, Value};
use strata_server::Limits;

const DEFS: &str = include_str!("fixtures/hostile-memory.toml");

/// The answer limit of these scenarios.
const FRAME: u32 = 4 << 20;

fn limits() -> Limits {
    Limits {
        max_frame_bytes: FRAME,
        ..Limits::default()
    }
}

/// A store whose user 1 has a 60 KB `bio`; a reader and an admin.
fn wide_value() -> Scenario {
    let s = Scenario::new(
        DEFS,
        &[("reader", &["read:view:profile"]), ("admin", &["admin:*"])],
        &limits(),
    );
    let mut values = vec![Value::String("x".repeat(60_000))];
    values.extend((1..16).map(|_| Value::Null));
    s.write_one("profile", 1, values);
    s
}

fn copies_of_key_1(features: &[&str], n: usize) -> p::LookupRequest {
    p::LookupRequest {
        features: features.iter().map(|f| f.to_string()).collect(),
        entities: vec![common::int_keys("user_id", &vec![1; n])],
        ..Default::default()
    }
}

/// Row 1: 10,000 copies of one key with a 60 KB value would be a 600 MB
/// answer; it is refused once the rows read hold the answer limit.
#[test]
fn row1_lookup_of_wide_values_is_bounded_while_built() {
    in_own_process("row1_lookup_of_wide_values_is_bounded_while_built", || {
        let s = wide_value();
        let c = s.session("reader");
        // Under the limit, the same lookup is answered.
        let small = lookup(&c, &copies_of_key_1(&["profile:bio"], 10)).unwrap();
        assert_eq!(small.features[0].values.len(), 10);
        let base = reset_peak();
        for _ in 0..4 {
            let e = lookup(&c, &copies_of_key_1(&["profile:bio"], 10_000)).unwrap_err();
            assert_eq!(e.code, ErrorCode::LimitExceeded, "{e}");
            assert!(e.message.contains("fewer keys or features"), "{e}");
        }
        // The rows held (at most the limit), the answer's columns (as
        // much again) and the frame: 3 × the limit, and slack.
        assert_peak_within(
            "row 1, wide values",
            base,
            3 * u64::from(FRAME) + (16 << 20),
        );
    });
}

/// Row 1: more cells than the answer limit can hold are refused from the
/// request alone, before anything is read.
#[test]
fn row1_lookup_of_many_cells_is_refused_before_reading() {
    in_own_process(
        "row1_lookup_of_many_cells_is_refused_before_reading",
        || {
            let s = wide_value();
            let c = s.session("reader");
            let base = reset_peak();
            for _ in 0..4 {
                // 10,000 rows × 16 features × 33 bytes > 4 MiB.
                let e = lookup(&c, &copies_of_key_1(&["profile:*"], 10_000)).unwrap_err();
                assert_eq!(e.code, ErrorCode::LimitExceeded, "{e}");
                assert!(e.message.contains("10000 rows × 16 features"), "{e}");
            }
            assert_peak_within("row 1, many cells", base, 16 << 20);
        },
    );
}

/// Row 8: 32 pushes (8 at once) of 3.2 MB of nulls from a token that may
/// read the view but not write it: refused before the 3.2 M values are
/// decoded (about 100 MB each).
#[test]
fn row8_push_from_a_reader_is_refused_before_decoding() {
    in_own_process("row8_push_from_a_reader_is_refused_before_decoding", || {
        let rows: Vec<p::RowWrite> = (0..50_000)
            .map(|i| p::RowWrite {
                key: vec![KeyValue::Int64(i)],
                event_ts: 1,
                created_ts: None,
                values: vec![Value::Null; 64],
            })
            .collect();
        let mut body = Vec::new();
        p::encode_push(&mut body, "profile", &rows);
        drop(rows);
        assert!(body.len() > 3_000_000);
        refused_eight_at_once(
            DEFS,
            ("reader", "read:view:profile"),
            (Kind::Push, body),
            ErrorCode::PermissionDenied,
            "row 8, pushes of nulls",
        );
    });
}

/// Row 1, for histories: 1,000 versions of 60 KB (60 MB, in four
/// segments) under a 4 MiB answer limit: the scan
/// stops at the limit's bytes (it held the 60 MB before), and the answer
/// is cut there and says it was truncated.
#[test]
fn row1_history_of_wide_versions_is_bounded_while_built() {
    in_own_process(
        "row1_history_of_wide_versions_is_bounded_while_built",
        || {
            let s = wide_value();
            let rows = |ts: std::ops::Range<i64>| -> Vec<p::RowWrite> {
                ts.map(|t| {
                    let mut values = vec![Value::String("y".repeat(60_000))];
                    values.extend((1..16).map(|_| Value::Null));
                    p::RowWrite {
                        key: vec![KeyValue::Int64(1)],
                        event_ts: t,
                        created_ts: None,
                        values,
                    }
                })
                .collect()
            };
            // Written ten at a time and flushed every 250 (four segments),
            // so that the writes leave no heap behind to hide the peak.
            let store = s.handler.store();
            for t in (2..1002).step_by(10) {
                store.write("profile", &rows(t..t + 10)).unwrap();
                if t % 250 == 242 {
                    store.engine().flush().unwrap();
                }
            }
            let c = s.session("reader");
            let req = common::full_history("profile", 1);
            let base = reset_peak();
            for _ in 0..4 {
                let h = common::history(&c, &req).unwrap();
                assert!(h.truncated);
                assert!(
                    !h.versions.is_empty() && h.versions.len() < 70,
                    "{}",
                    h.versions.len()
                );
                // The newest first.
                assert_eq!(h.versions[0].event_ts, 1001);
            }
            assert_peak_within(
                "row 1, wide history",
                base,
                3 * u64::from(FRAME) + (16 << 20),
            );
        },
    );
}
