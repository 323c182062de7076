//! Stress: writer threads, reader threads, explicit flushes and background
//! compaction (tiny memtables, so seals, flushes and merges happen all the
//! time) for a bounded time. Every read is checked against what the writers
//! had acknowledged before and after it; at the end every acknowledged
//! version is present, also after a reopen.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use strata::engine::{Engine, Options, SyncPolicy, WriteBatch};
use strata::format::key::encode_int_key;

const WRITERS: i64 = 3;
const READERS: usize = 3;
const KEYS_PER_WRITER: i64 = 64;
const RUN_FOR: Duration = Duration::from_secs(3);
const VIEW: u32 = 1;

fn options() -> Options {
    Options {
        sync: SyncPolicy::Never,
        memtable_bytes: 32 << 10,
        compaction: common::stores::merging(2, 4, 8),
        ..Options::default()
    }
}

/// The row of version `event` of `key`: readers check it.
fn row(key: i64, event: i64) -> Vec<u8> {
    format!("{key}@{event}").into_bytes()
}

/// Late versions carry negative event times: never the latest.
fn late_event(event: i64) -> i64 {
    -event
}

#[test]
fn concurrent_writers_readers_flushes_and_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), options()).unwrap();
    let keys = (WRITERS * KEYS_PER_WRITER) as usize;
    // The greatest event time acknowledged per key (0 = none yet), and the
    // greatest one a writer has started to write.
    let acked: Vec<AtomicI64> = (0..keys).map(|_| AtomicI64::new(0)).collect();
    let started: Vec<AtomicI64> = (0..keys).map(|_| AtomicI64::new(0)).collect();
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let (written, reads) = std::thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (engine, acked, started, stop) = (&engine, &acked, &started, &stop);
                s.spawn(move || {
                    let mut n = 0u64;
                    let mut event = 0i64;
                    while !stop.load(Ordering::Relaxed) {
                        event += 1;
                        let mut b = WriteBatch::default();
                        for i in 0..KEYS_PER_WRITER / 4 {
                            let k = w * KEYS_PER_WRITER + (event + i * 4) % KEYS_PER_WRITER;
                            b.put(VIEW, &encode_int_key(k), event, event, &row(k, event))
                                .unwrap();
                            b.put(
                                VIEW,
                                &encode_int_key(k),
                                late_event(event),
                                event,
                                &row(k, late_event(event)),
                            )
                            .unwrap();
                            started[k as usize].fetch_max(event, Ordering::SeqCst);
                        }
                        engine.write(&b).unwrap();
                        for i in 0..KEYS_PER_WRITER / 4 {
                            let k = w * KEYS_PER_WRITER + (event + i * 4) % KEYS_PER_WRITER;
                            acked[k as usize].fetch_max(event, Ordering::SeqCst);
                        }
                        n += b.len() as u64;
                    }
                    n
                })
            })
            .collect();
        let readers: Vec<_> = (0..READERS)
            .map(|r| {
                let (engine, acked, started, stop) = (&engine, &acked, &started, &stop);
                s.spawn(move || {
                    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (r as u64 + 1);
                    let mut reads = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        let k = (rng % keys as u64) as i64;
                        let before = acked[k as usize].load(Ordering::SeqCst);
                        let got = engine.latest(VIEW, &encode_int_key(k), None).unwrap();
                        let after = started[k as usize].load(Ordering::SeqCst);
                        match got {
                            None => assert_eq!(
                                before, 0,
                                "key {k}: acknowledged version {before} not visible"
                            ),
                            Some(v) => {
                                // Not older than what was acknowledged before the read,
                                // not newer than what had been started after it.
                                assert!(
                                    v.event_ts >= before && v.event_ts <= after,
                                    "key {k}: read {} outside [{before}, {after}]",
                                    v.event_ts
                                );
                                assert!(v.event_ts > 0, "key {k}: a late version hid a newer one");
                                assert_eq!(v.row, row(k, v.event_ts), "key {k}: wrong row");
                            }
                        }
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        let flusher = {
            let (engine, stop) = (&engine, &stop);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    engine.flush().unwrap();
                }
            })
        };
        std::thread::sleep(RUN_FOR);
        stop.store(true, Ordering::Relaxed);
        flusher.join().unwrap();
        let written: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
        let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
        (written, reads)
    });
    let st = engine.stats();
    eprintln!(
        "{:.1} s: {written} versions written, {reads} reads checked, {} compactions, {} segments",
        start.elapsed().as_secs_f64(),
        st.compactions,
        st.segments
    );
    assert!(
        written > 1000 && reads > 1000,
        "the run did too little to mean anything"
    );

    let verify = |engine: &Engine| {
        for k in 0..keys as i64 {
            let last = acked[k as usize].load(Ordering::SeqCst);
            let history = engine
                .history(VIEW, &encode_int_key(k), 1, i64::MAX, None)
                .unwrap();
            if last == 0 {
                assert!(history.is_empty());
                continue;
            }
            assert_eq!(
                history.first().map(|v| v.event_ts),
                Some(last),
                "key {k}: newest acknowledged version"
            );
            for v in &history {
                assert_eq!(v.row, row(k, v.event_ts));
            }
        }
    };
    verify(&engine);
    drop(engine);
    verify(&Engine::open(dir.path(), options()).unwrap());
}
