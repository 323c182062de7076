//! End-to-end tests of the `strata` binary on temporary stores.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
#[path = "../common/mod.rs"]
mod common;

mod aggregation;
mod apply;
mod export;
mod freshness;
mod ingest;
mod process;
mod read;
mod registry;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float64Array, Int64Array, ListArray, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
pub use common::cli::{argv, assert_contains, fails, fails_with, json, ok, strata, write};

const DEFS: &str = include_str!("../fixtures/cli.toml");

/// A temp dir with `defs.toml` applied to the store `data`.
fn setup() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("defs.toml"), DEFS).unwrap();
    ok(t.path(), &argv("apply --data data defs.toml"));
    t
}

/// `strata ingest --data data --view VIEW FILE` in `t`, which must
/// succeed: its stdout.
fn ingest(t: &Path, view: &str, file: &str) -> String {
    ok(t, &["ingest", "--data", "data", "--view", view, file])
}

const CSV: &str = "user_id,event_timestamp,amount_avg,txn_count,segment,embedding\n\
    1,2024-05-03T00:00:00Z,2.5,7,vip,[1.0; 2.0]\n\
    1,2024-05-01T00:00:00Z,1.5,3,new,\n\
    2,2024-05-02T00:00:00Z,,9,regular,0.5;0.25\n";

fn write_parquet(path: &Path, n: usize, bad_row: Option<usize>) {
    let ids: Vec<i64> = (0..n as i64).map(|i| i % 100).collect();
    let ts: Vec<i64> = (0..n as i64)
        .map(|i| 1_714_521_600_000 + i * 1_000)
        .collect();
    let amounts: Vec<Option<f64>> = (0..n).map(|i| Some(i as f64 / 2.0)).collect();
    let counts: Vec<Option<i64>> = (0..n as i64).map(Some).collect();
    let mut segments: Vec<Option<String>> = (0..n).map(|i| Some(format!("s{i}"))).collect();
    let emb = ListArray::from_iter_primitive::<arrow_array::types::Float32Type, _, _>(
        (0..n).map(|i| Some(vec![Some(i as f32)])),
    );
    let mut id_col: Vec<Option<i64>> = ids.into_iter().map(Some).collect();
    if let Some(b) = bad_row {
        id_col[b] = None;
        segments[b] = None;
    }
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("user_id", Arc::new(Int64Array::from(id_col))),
        (
            "event_timestamp",
            Arc::new(TimestampMillisecondArray::from(ts).with_timezone_utc()),
        ),
        ("amount_avg", Arc::new(Float64Array::from(amounts))),
        ("txn_count", Arc::new(Int64Array::from(counts))),
        ("segment", Arc::new(StringArray::from(segments))),
        ("embedding", Arc::new(emb)),
        ("label", Arc::new(Int64Array::from(vec![0; n]))),
    ];
    common::tables::write_parquet(path, &[common::tables::columns(cols)]);
}
