//! Latency distribution of `latest` on segments in page cache, beside a
//! control measured in the same run: a 1-byte random read in a 1 GiB buffer
//! (what one cache-missing memory access costs on this machine).
//!
//! `cargo bench --bench latency` (`STRATA_BENCH_VERSIONS`, default 10 M;
//! `STRATA_BENCH_SEGMENT_FORMAT=1` stores the segments in format 1, whose
//! lookups go through the block's restart array, to compare layouts).

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark may unwrap: a failure aborts the run"
)]

mod common;

use std::hint::black_box;
use std::time::Instant;

use common::*;
use strata::format::key::encode_int_key;

const SAMPLES: usize = 2_000_000;

fn main() {
    let Some(versions) = bench_versions() else {
        return;
    };
    let dir = bench_dir("latency");
    let t = Instant::now();
    let (engine, keys) = build(&dir, versions);
    let st = engine.stats();
    eprintln!(
        "built {versions} versions of {keys} keys in {:.1} s: {} segment(s) of format {}, {} MB",
        t.elapsed().as_secs_f64(),
        st.segments,
        options().segment.format_version,
        st.segment_bytes >> 20
    );

    let buf = vec![1u8; 1 << 30];
    let mut rng = Rng(0x1234_5678_9abc_def1);
    // Warm the page cache and the control buffer.
    for _ in 0..SAMPLES {
        let k = (rng.next() % keys) as i64;
        engine
            .as_of_with(VIEW, &encode_int_key(k), i64::MAX - 1, None, |v| {
                black_box(v.is_some())
            })
            .unwrap();
    }
    // The segment's hash slots are copied into memory advised to use huge
    // pages (crates/engine/src/segment.rs, `resident_slots`): say whether
    // the kernel gave them (the control buffer is not advised).
    if let Ok(m) = std::fs::read_to_string("/proc/self/smaps_rollup") {
        for l in m.lines().filter(|l| l.starts_with("AnonHugePages")) {
            eprintln!("{l}");
        }
    }
    for _ in 0..3 {
        let mut control = Vec::with_capacity(SAMPLES);
        let mut lookups = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let i = (rng.next() as usize) & ((1 << 30) - 1);
            let s = Instant::now();
            black_box(unsafe_free_read(&buf, i));
            control.push(s.elapsed().as_nanos() as u32);
            lookups.push(timed_latest(&engine, (rng.next() % keys) as i64));
        }
        let ratio = f64::from(p50(&mut lookups)) / f64::from(p50(&mut control));
        println!("latest (segment hit): {}", percentiles(lookups, 6));
        println!(
            "control (1 B random read in 1 GiB): {}",
            percentiles(control, 6)
        );
        println!("latest p50 / control p50: {ratio:.2}");
        batches(&engine, keys, &mut rng);
    }
}

/// 100 random keys read one by one beside 100 other random keys read as
/// one batch (`Engine::as_of_many`), alternating, in the same run.
fn batches(engine: &strata::engine::Engine, keys: u64, rng: &mut Rng) {
    const BATCH: usize = 100;
    const ROUNDS: usize = 20_000;
    let mut batch = strata::engine::KeyBatch::new();
    let (mut single, mut batched) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
    for _ in 0..ROUNDS {
        batch.clear();
        for _ in 0..BATCH {
            batch.push(&encode_int_key((rng.next() % keys) as i64));
        }
        let s = Instant::now();
        for i in 0..BATCH {
            engine
                .as_of_with(VIEW, batch.get(i), i64::MAX - 1, None, |v| {
                    black_box(v.map(|x| x.0))
                })
                .unwrap();
        }
        single.push(s.elapsed().as_nanos() as u32);
        // Other keys for the batch, so neither side reads lines the other
        // just brought in.
        batch.clear();
        for _ in 0..BATCH {
            batch.push(&encode_int_key((rng.next() % keys) as i64));
        }
        let s = Instant::now();
        engine
            .as_of_many(VIEW, &batch, i64::MAX - 1, None, |_, v| {
                black_box(v.map(|x| x.0));
            })
            .unwrap();
        batched.push(s.elapsed().as_nanos() as u32);
    }
    let (a, b) = (p50(&mut single), p50(&mut batched));
    let (a99, b99) = (p99(&single), p99(&batched));
    println!(
        "100 keys: one by one p50 {a} ns ({} ns/key, p99 {a99} ns), as one batch p50 {b} ns ({} ns/key, p99 {b99} ns): batch / one by one {:.2}",
        a / BATCH as u32,
        b / BATCH as u32,
        f64::from(b) / f64::from(a)
    );
}

/// The 99th percentile of sorted `v`.
fn p99(v: &[u32]) -> u32 {
    v[v.len() * 99 / 100]
}

fn p50(v: &mut [u32]) -> u32 {
    v.sort_unstable();
    v[v.len() / 2]
}

#[inline(never)]
fn unsafe_free_read(buf: &[u8], i: usize) -> u8 {
    buf[i]
}
