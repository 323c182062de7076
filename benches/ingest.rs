//! Bulk ingest from Parquet, end to end: read + validate + encode + sort +
//! write one segment + fsync, into a new store each time (the fast path of
//! `strata ingest`), for a view of 5 numeric features (3 float64, 2 int64)
//! keyed by an int64 over `rows / 10` keys, event times in µs.
//!
//! `cargo bench --bench ingest` (`STRATA_BENCH_INGEST_SIZES=1000000,10000000`
//! is the default; the file is generated once per size under the target
//! directory). Criterion reports time per ingest and rows/s ("elements").

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark may unwrap: a failure aborts the run"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Float64Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use parquet::arrow::ArrowWriter;
use strata::catalog::defs;
use strata::offline::ingest_file;
use strata::store::Store;

const DEFS: &str = include_str!("fixtures/ingest.toml");

fn sizes() -> Vec<usize> {
    std::env::var("STRATA_BENCH_INGEST_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000_000, 10_000_000])
}

/// Writes (once) a Parquet file of `rows` rows with random keys.
fn parquet_file(rows: usize) -> PathBuf {
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ingest-{rows}.parquet"));
    if p.exists() {
        return p;
    }
    let utc_micros = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new("event_timestamp", utc_micros, false),
        Field::new("a", DataType::Float64, true),
        Field::new("b", DataType::Float64, true),
        Field::new("c", DataType::Float64, true),
        Field::new("d", DataType::Int64, true),
        Field::new("e", DataType::Int64, true),
    ]));
    let tmp = p.with_extension("tmp");
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(&tmp).unwrap(), schema.clone(), None).unwrap();
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let keys = (rows / 10).max(1) as u64;
    let chunk = 100_000;
    for start in (0..rows).step_by(chunk) {
        let n = chunk.min(rows - start);
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let ids: Vec<i64> = (0..n).map(|_| (next() % keys) as i64).collect();
        let ts: Vec<i64> = (0..n)
            .map(|i| 1_700_000_000_000_000 + (start + i) as i64 * 1_000)
            .collect();
        let f = |m: f64| Float64Array::from_iter_values(ids.iter().map(|k| *k as f64 * m));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
                Arc::new(f(0.5)),
                Arc::new(f(1.5)),
                Arc::new(f(-2.0)),
                Arc::new(Int64Array::from_iter_values(
                    (0..n).map(|i| (start + i) as i64),
                )),
                Arc::new(Int64Array::from_iter_values(ids.iter().map(|k| k % 7))),
            ],
        )
        .unwrap();
        w.write(&batch).unwrap();
    }
    w.close().unwrap();
    std::fs::rename(&tmp, &p).unwrap();
    p
}

fn ingest(c: &mut Criterion) {
    let defs = defs::parse(DEFS).unwrap();
    for rows in sizes() {
        let file = parquet_file(rows);
        let mut g = c.benchmark_group("ingest_parquet");
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(if rows >= 5_000_000 { 60 } else { 15 }));
        g.throughput(Throughput::Elements(rows as u64));
        g.bench_function(format!("{rows}_rows_5_numeric"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
                    let store = Store::open(dir.path()).unwrap();
                    store
                        .set_catalog(defs::apply(&store.catalog(), &defs).unwrap())
                        .unwrap();
                    let t = Instant::now();
                    let r = ingest_file(&store, "user_stats", &file, false).unwrap();
                    total += t.elapsed();
                    assert_eq!(r.rows, rows);
                    if std::env::var_os("STRATA_BENCH_PHASES").is_some() {
                        eprintln!("{:?}", r.phases);
                    }
                }
                total
            })
        });
        g.finish();
    }
}

criterion_group!(benches, ingest);
criterion_main!(benches);
