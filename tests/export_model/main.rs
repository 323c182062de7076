//! Point-in-time export against a brute-force join, on random data.
//!
//! Three views with different entities and join keys: `u` (one int64 key,
//! ttl 0, which grows a feature part way: older versions read it as null),
//! `m` (two string keys, ttl 10 s) and `um` (an int64 and two string keys,
//! ttl 5 s). Versions come in random batches with flushes between them, on
//! few event and created times so that equal event times with different
//! created times, exact rewrites, and the ttl and known-at boundaries are
//! all hit; values are often null.
//!
//! Entity rows use keys of the pools, unknown keys and null key columns, at
//! times before any version, on and beside the boundaries, and after
//! everything; the three bitemporal modes are drawn at random.
//!
//! The model: for each row and view, a null key column gives nulls; else
//! the greatest `(event_ts, created_ts)` with `event_ts <= t` (and
//! `created_ts <= known_at`, the fixed time or the row's own time); none,
//! or one with `ttl > 0` and `event_ts < t - ttl`, gives nulls.
//!
//! Each case is exported twice: through [`export`] from in-memory batches
//! (the smallest runs, so several runs of several batches, and 1 to 3
//! threads: runs split by key range between threads, a key's rows read by
//! `history` or one by one), where the pass-through columns must come out
//! identical; and through [`export_to_file`] from a Parquet, Arrow IPC or
//! CSV file into a Parquet or Arrow file, read back (one run).
//!
//! [`case`] draws the cases, [`model`] is the brute-force join and its
//! check, [`files`] writes the entity tables and reads the exports back.
//!
//! `PROPTEST_CASES` overrides the default of 24 cases.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

#[path = "../common/mod.rs"]
mod common;

mod case;
mod files;
mod model;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, DictionaryArray, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray, TimestampNanosecondArray,
};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use proptest::prelude::*;
use strata::engine::{Options, SyncPolicy};
use strata::format::schema::{FeatureType, KeyValue, Value};
use strata::format::segment::SegmentOptions;
use strata::offline::export::{
    self, ExportFiles, ExportRequest, InputFormat, KnownAt, OutputFormat, Plan,
};
use strata::offline::read::convert::convert;
use strata::offline::timestamp;
use strata::store::{RowWrite, Store, StoreOptions};

use case::*;
use files::*;
use model::*;

const SEC: i64 = 1_000_000;

const DEFS: &str = include_str!("../fixtures/export-model.toml");

/// `u` with a feature appended.
fn grown_defs() -> String {
    DEFS.replace(
        r#"{ name = "b", type = "string" }]"#,
        r#"{ name = "b", type = "string" }, { name = "c", type = "list<float32>" }, { name = "d", type = "list<string>" }, { name = "h", type = "map<string,int64>" }]"#,
    )
}

const USERS: [i64; 4] = [i64::MIN, -1, 42, 7];
const MERCHANTS: [(&str, &str); 4] = [("a", "US"), ("a", "DE"), ("a\0", "US"), ("", "")];
const VIEWS: [&str; 3] = ["u", "m", "um"];
const TTLS: [i64; 3] = [0, 10 * SEC, 5 * SEC];

fn run(case: Case) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path().join("store"), options()).unwrap();
    let model = load(&store, &case);

    let mut req = ExportRequest::new("u:*, m:*, um:*").unwrap();
    req.full_feature_names = case.full_names;
    req.known_at = case.known_at();
    req.threads = case.threads;
    req.memory_budget = 1; // the smallest runs
    let batches = entity_batches(&case);
    let input_schema = entity_batch(&case, &[], 0).schema();
    let plan = Plan::new(&store, &req, &input_schema).unwrap();
    // The smallest runs (64 rows) in batches of at most 16.
    prop_assert_eq!(plan.run_rows(), 64);
    prop_assert_eq!(plan.batch_rows(), 16);
    let mut it = export::export(&store, &plan, batches.clone().into_iter().map(Ok));
    let out: Vec<RecordBatch> = (&mut it).map(Result::unwrap).collect();
    for b in &out {
        prop_assert!(b.num_rows() <= 16);
    }
    let stats = it.stats().clone();
    let out = concat(&out, &plan.schema());
    check_features(&case, &model, &out, false)?;
    // The entity columns pass through untouched.
    let input = concat(&batches, &input_schema);
    for (i, c) in input.columns().iter().enumerate() {
        prop_assert_eq!(c.as_ref(), out.column(i).as_ref());
    }
    prop_assert_eq!(stats.rows, case.rows.len() as u64);
    let a = out
        .column_by_name(if case.full_names { "u__a" } else { "a" })
        .unwrap();
    let b = out
        .column_by_name(if case.full_names { "u__b" } else { "b" })
        .unwrap();
    // Rows that matched `u` have a non-null a or b unless both were null:
    // at least the count of non-null a's.
    prop_assert!(
        stats.matched[0] >= (a.len() - a.null_count()).max(b.len() - b.null_count()) as u64
    );

    let (entities, in_format) = write_input(&case, dir.path(), &batches);
    let out_format = [OutputFormat::Parquet, OutputFormat::Arrow][case.out_format as usize];
    let out_path = dir.path().join(format!("out.{}", out_format.name()));
    req.memory_budget = 64 << 20;
    let report = export::export_to_file(
        &store,
        &req,
        &ExportFiles {
            entities,
            entities_format: Some(in_format),
            out: out_path.clone(),
            out_format: None,
        },
        &|_| {},
    )
    .unwrap();
    prop_assert_eq!(report.rows, case.rows.len() as u64);
    let back = read_output(&out_path, out_format);
    let schema = back
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| plan.schema());
    let back = concat(&back, &schema);
    check_features(&case, &model, &back, in_format == InputFormat::Csv)?;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24),
        ..ProptestConfig::default()
    })]

    #[test]
    fn export_matches_brute_force(case in case()) {
        run(case)?;
    }
}

/// A fixed case that hits every rule at least once, kept readable.
#[test]
fn fixed_case() {
    let w = |view, key, e: i64, c: i64, seed| WriteSpec {
        view,
        key,
        e: e * SEC,
        c: c * SEC,
        seed,
        nulls: 0,
    };
    let r = |user, merchant, t: i64| RowSpec {
        user,
        merchant,
        null_part: 0,
        t: t * SEC,
    };
    let case = Case {
        ops: vec![
            (
                vec![w(0, 2, 10, 10, 1), w(0, 2, 10, 20, 2), w(1, 0, 10, 10, 3)],
                true,
            ),
            (
                vec![w(0, 2, 20, 30, 4), w(2, 11, 10, 10, 5), w(1, 0, 10, 10, 6)],
                false,
            ),
        ],
        grow_at: 1,
        rows: vec![
            r(2, 0, 5),  // before everything
            r(2, 0, 10), // ties on event 10: created 20 wins; m at its event time
            r(2, 0, 19), // still event 10 for u; m 9 s old
            r(2, 0, 20), // u grown version; m exactly at the ttl edge
            r(2, 0, 21), // m beyond its ttl
            r(2, 3, 12), // um (user 42, merchant ("", "")): 2 s old
            r(2, 3, 16), // um 6 s old: beyond 5 s
            r(4, 4, 30), // unknown keys
            r(5, 5, 30), // null keys
        ],
        known: (0, 0),
        full_names: false,
        threads: 2,
        nanos: false,
        cuts: vec![4],
        in_format: 2,
        out_format: 0,
    };
    for known in [(0, 0), (1, 3), (2, 0)] {
        let mut c = case.clone();
        c.known = known;
        run(c).unwrap();
    }
}
