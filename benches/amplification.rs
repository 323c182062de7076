//! Write and space amplification of ingesting 10 M versions (1 M keys × 10
//! versions, 10 % of them late backfills with older event times) with
//! background compaction, and `latest` latency while a writer ingests at
//! full speed versus on an idle store.
//!
//! `cargo bench --bench amplification` (`STRATA_BENCH_VERSIONS` to resize).

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark may unwrap: a failure aborts the run"
)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use common::*;
use strata::engine::{Engine, WriteBatch};
use strata::format::key::encode_int_key;

fn lookups(engine: &Engine, keys: u64, n: usize, rng: &mut Rng) -> Vec<u32> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(timed_latest(engine, (rng.next() % keys) as i64));
    }
    out
}

fn main() {
    let Some(versions) = bench_versions() else {
        return;
    };
    let keys = versions / 10;
    let dir = bench_dir("amplification");
    let engine = Engine::open(&dir, options()).unwrap();
    let mut batch = Batched::new(&engine);
    let mut buf = Vec::new();
    let mut user_bytes = 0u64;
    let t = Instant::now();
    for j in 0..10i64 {
        for k in 0..keys as i64 {
            // Every 10th version arrives late, with an event time 5 hours back.
            let late = (k + j) % 10 == 0;
            let event = if late {
                T0 + (j - 5) * HOUR + 7
            } else {
                T0 + j * HOUR
            };
            row(k, j, &mut buf);
            user_bytes += (4 + 8 + 16 + buf.len()) as u64;
            batch.put(k, event, T0 + j * HOUR + 1, &buf);
        }
    }
    batch.finish();
    engine.flush().unwrap();
    engine.compact_as_needed().unwrap();
    let ingest_s = t.elapsed().as_secs_f64();
    let st = engine.stats();
    println!(
        "ingested {versions} versions ({:.0} MB of keys and rows) in {ingest_s:.1} s: {:.2} M versions/s",
        user_bytes as f64 / 1e6,
        versions as f64 / ingest_s / 1e6
    );
    println!(
        "segments written: flushes {:.0} MB, compactions {:.0} MB ({} merges); live: {} segment(s), {:.0} MB",
        st.flushed_bytes as f64 / 1e6,
        st.compacted_bytes as f64 / 1e6,
        st.compactions,
        st.segments,
        st.segment_bytes as f64 / 1e6
    );
    let live = st.segment_bytes;
    let wa_segments = (st.flushed_bytes + st.compacted_bytes) as f64 / st.flushed_bytes as f64;
    // The WAL writes every byte once more (plus framing).
    let wa_total = (user_bytes + st.flushed_bytes + st.compacted_bytes) as f64 / user_bytes as f64;
    engine.compact().unwrap();
    let minimal = engine.stats().segment_bytes;
    println!(
        "write amplification: {wa_segments:.2} (segment bytes written / bytes flushed), {wa_total:.2} (all bytes written incl. WAL / user bytes)"
    );
    println!(
        "space amplification: {:.3} (live segment bytes {:.0} MB / fully compacted {:.0} MB)",
        live as f64 / minimal as f64,
        live as f64 / 1e6,
        minimal as f64 / 1e6
    );

    let mut rng = Rng(0xfeed_beef_1234_5678);
    lookups(&engine, keys, 1_000_000, &mut rng);
    let idle = lookups(&engine, keys, 1_000_000, &mut rng);
    println!(
        "latest, idle store:                  {}",
        percentiles(idle, 7)
    );
    let stop = AtomicBool::new(false);
    let written = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut b = WriteBatch::default();
            let mut buf = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..1000 {
                    let k = (n % keys) as i64;
                    row(k, 99, &mut buf);
                    b.put(
                        VIEW,
                        &encode_int_key(k),
                        T0 + 20 * HOUR + n as i64,
                        T0 + 20 * HOUR,
                        &buf,
                    )
                    .unwrap();
                    n += 1;
                }
                engine.write(&b).unwrap();
                b.clear();
            }
            n
        });
        let t = Instant::now();
        let busy = lookups(&engine, keys, 1_000_000, &mut rng);
        stop.store(true, Ordering::Relaxed);
        let n = writer.join().unwrap();
        println!(
            "latest, writer ingesting at full speed: {}",
            percentiles(busy, 7)
        );
        (n, t.elapsed().as_secs_f64())
    });
    println!(
        "  (the writer wrote {} versions meanwhile: {:.2} M/s)",
        written.0,
        written.0 as f64 / written.1 / 1e6
    );
}
