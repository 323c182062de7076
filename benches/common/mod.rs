//! Shared set-up of the engine benchmarks: a store of `versions` versions
//! over `versions / 10` int64 keys, 5 numeric features a row, event times
//! hourly with every 10th version arriving late (older event time), flushed
//! and compacted, so reads hit mmap'd segments in page cache.

#![allow(dead_code)]

pub mod store;

use std::path::{Path, PathBuf};

use strata::engine::{Engine, Options, WriteBatch};
use strata::format::key::encode_int_key;
use strata::format::row::encode_row;
use strata::format::schema::{FeatureType, Value};

pub const VIEW: u32 = 1;
pub const HOUR: i64 = 3_600_000_000;
pub const T0: i64 = 1_700_000_000_000_000;

pub fn schema() -> [FeatureType; 5] {
    [
        FeatureType::Float64,
        FeatureType::Float64,
        FeatureType::Float64,
        FeatureType::Int64,
        FeatureType::Int64,
    ]
}

pub fn row(k: i64, j: i64, out: &mut Vec<u8>) {
    let v = [
        Value::Float64(k as f64 * 0.5),
        Value::Float64(j as f64),
        Value::Float64(1.0),
        Value::Int64(k),
        Value::Int64(j),
    ];
    encode_row(&schema(), &v, out).unwrap();
}

/// The 50th, 99th and 99.9th percentiles of latencies in nanoseconds, the
/// last two right-aligned in `width` columns.
pub fn percentiles(mut ns: Vec<u32>, width: usize) -> String {
    ns.sort_unstable();
    let p = |q: f64| ns[((ns.len() as f64 * q) as usize).min(ns.len() - 1)];
    format!(
        "p50 {:>6} ns  p99 {:>width$} ns  p99.9 {:>width$} ns",
        p(0.5),
        p(0.99),
        p(0.999)
    )
}

/// Cheap deterministic random numbers.
pub struct Rng(pub u64);
impl Rng {
    #[inline]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// How many versions a harness-less bench builds: `STRATA_BENCH_VERSIONS`,
/// or 10 M; `None` when cargo only lists the benches (`--list`).
pub fn bench_versions() -> Option<u64> {
    if std::env::args().any(|a| a == "--list") {
        return None;
    }
    Some(
        std::env::var("STRATA_BENCH_VERSIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000_000),
    )
}

pub fn bench_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Engine options of the benches: no syncs, and the segment format
/// version `STRATA_BENCH_SEGMENT_FORMAT` (default: the current one), so a
/// run can measure an older layout beside the current one.
pub fn options() -> Options {
    let mut o = Options::unsynced();
    if let Some(v) = std::env::var("STRATA_BENCH_SEGMENT_FORMAT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        o.segment.format_version = v;
    }
    o
}

/// Puts versions of int64 keys of [`VIEW`] into a batch, written whenever
/// it holds 10 000 of them and by [`Batched::finish`].
pub struct Batched<'a> {
    engine: &'a Engine,
    batch: WriteBatch,
}

impl<'a> Batched<'a> {
    pub fn new(engine: &'a Engine) -> Batched<'a> {
        Batched {
            engine,
            batch: WriteBatch::default(),
        }
    }

    pub fn put(&mut self, k: i64, event_ts: i64, created_ts: i64, row: &[u8]) {
        self.batch
            .put(VIEW, &encode_int_key(k), event_ts, created_ts, row)
            .unwrap();
        if self.batch.len() == 10_000 {
            self.engine.write(&self.batch).unwrap();
            self.batch.clear();
        }
    }

    pub fn finish(self) {
        self.engine.write(&self.batch).unwrap();
    }
}

/// The time one `latest` read of key `k` takes, in nanoseconds.
pub fn timed_latest(engine: &Engine, k: i64) -> u32 {
    let s = std::time::Instant::now();
    engine
        .as_of_with(VIEW, &encode_int_key(k), i64::MAX - 1, None, |v| {
            std::hint::black_box(v.map(|x| x.0))
        })
        .unwrap();
    s.elapsed().as_nanos() as u32
}

/// Builds the store; returns the engine and the number of keys.
pub fn build(dir: &Path, versions: u64) -> (Engine, u64) {
    let engine = Engine::open(dir, options()).unwrap();
    let keys = versions / 10;
    let mut batch = Batched::new(&engine);
    let mut buf = Vec::new();
    // Round j writes version j of every key: versions of one key reach
    // several memtables, as in a store fed hourly.
    for j in 0..10i64 {
        for k in 0..keys as i64 {
            let event = if j % 10 == 9 && k % 10 == 0 {
                T0 + (j - 5) * HOUR + 1
            } else {
                T0 + j * HOUR
            };
            row(k, j, &mut buf);
            batch.put(k, event, T0 + j * HOUR + 60_000_000, &buf);
        }
    }
    batch.finish();
    engine.flush().unwrap();
    engine.compact().unwrap();
    (engine, keys)
}
