//! Shared set-up of the engine benchmarks: a store of `versions` versions
//! over `versions / 10` int64 keys, 5 numeric features a row, event times
//! hourly with every 10th version arriving late (older event time), flushed
//! and compacted, so reads hit mmap'd segments in page cache.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use strata::engine::{Engine, Options, SyncPolicy, WriteBatch};
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

pub fn bench_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

pub fn options() -> Options {
    Options {
        sync: SyncPolicy::Never,
        ..Options::default()
    }
}

/// Builds the store; returns the engine and the number of keys.
pub fn build(dir: &Path, versions: u64) -> (Engine, u64) {
    let engine = Engine::open(dir, options()).unwrap();
    let keys = versions / 10;
    let mut batch = WriteBatch::default();
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
            batch
                .put(
                    VIEW,
                    &encode_int_key(k),
                    event,
                    T0 + j * HOUR + 60_000_000,
                    &buf,
                )
                .unwrap();
            if batch.len() == 10_000 {
                engine.write(&batch).unwrap();
                batch.clear();
            }
        }
    }
    engine.write(&batch).unwrap();
    engine.flush().unwrap();
    engine.compact().unwrap();
    (engine, keys)
}
