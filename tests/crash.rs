//! Crash test: a child process writes acknowledged batches with fsync
//! `always` and is killed with SIGKILL at random moments, again and again, on
//! the same store. After each kill the store is reopened and must hold every
//! acknowledged batch and nothing that was never written; the one batch in
//! flight at the kill is either wholly there or wholly absent.
//!
//! The test runs itself as the child: with `STRATA_CRASH_CHILD` set, the
//! test function is the writer instead.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use strata::engine::{Engine, Options, SyncPolicy, WriteBatch};
use strata::format::key::encode_int_key;
use strata::format::segment::SegmentOptions;

const KEYS: u64 = 40;
/// What the child prints when a batch is acknowledged, before its number.
const ACK: &str = "strata-crash-ack ";
const ROUNDS: usize = 24;

fn options() -> Options {
    // Small memtables so that kills also land during seals and flushes.
    Options {
        sync: SyncPolicy::Always,
        memtable_bytes: 16 << 10,
        segment: SegmentOptions::default(),
        ..Options::default()
    }
}

/// One op of a batch: a key and the version to put, or `None` to delete it.
type CrashOp = (u64, Option<(i64, i64, Vec<u8>)>);

/// What batch `i` writes: deterministic, so the parent can rebuild it.
fn batch_ops(i: u64) -> Vec<CrashOp> {
    let key = i % KEYS;
    if i % 53 == 52 {
        return vec![(key, None)]; // delete
    }
    // Mostly in event-time order, every 7th a late write with an older event time.
    let event = if i % 7 == 3 { i as i64 - 500 } else { i as i64 };
    let row = format!("batch {i} of key {key}").into_bytes();
    let mut ops = vec![(key, Some((event, i as i64, row.clone())))];
    ops.push(((key + 1) % KEYS, Some((event, i as i64, row))));
    ops
}

fn apply(model: &mut BTreeMap<u64, BTreeMap<(i64, i64), Vec<u8>>>, i: u64) {
    for (key, op) in batch_ops(i) {
        match op {
            Some((e, c, row)) => {
                model.entry(key).or_default().insert((e, c), row);
            }
            None => {
                model.remove(&key);
            }
        }
    }
}

fn child(dir: &Path, start: u64) {
    let engine = Engine::open(dir, options()).expect("child open");
    let mut out = std::io::stdout();
    for i in start.. {
        let mut b = WriteBatch::default();
        for (key, op) in batch_ops(i) {
            match op {
                Some((e, c, row)) => b.put(1, &encode_int_key(key as i64), e, c, &row).unwrap(),
                None => b.delete(1, &encode_int_key(key as i64)).unwrap(),
            }
        }
        engine.write(&b).expect("child write");
        use std::io::Write;
        writeln!(out, "{ACK}{i}").unwrap();
        out.flush().unwrap();
    }
}

fn snapshot(engine: &Engine) -> BTreeMap<u64, BTreeMap<(i64, i64), Vec<u8>>> {
    let mut out = BTreeMap::new();
    for key in 0..KEYS {
        let versions = engine
            .history(1, &encode_int_key(key as i64), i64::MIN, i64::MAX - 1, None)
            .unwrap();
        if !versions.is_empty() {
            out.insert(
                key,
                versions
                    .into_iter()
                    .map(|v| ((v.event_ts, v.created_ts), v.row))
                    .collect(),
            );
        }
    }
    out
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    if let Ok(spec) = std::env::var("STRATA_CRASH_CHILD") {
        let (dir, start) = spec.split_once('|').unwrap();
        child(Path::new(dir), start.parse().unwrap());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut model = BTreeMap::new();
    let mut next = 0u64;
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut torn = 0;
    for round in 0..ROUNDS {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let run_for = Duration::from_millis(20 + rng % 150);
        let mut child = common::cli::rerun_test(
            "acknowledged_writes_survive_sigkill",
            (
                "STRATA_CRASH_CHILD",
                format!("{}|{next}", dir.path().display()),
            ),
            Stdio::piped(),
        );
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acked = None;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Not a prefix: with one test thread, the harness prints
                // "test NAME ... " without a newline before the test runs,
                // so the first ack shares its line.
                if let Some((_, n)) = line.split_once(ACK) {
                    acked = Some(n.trim().parse::<u64>().unwrap());
                }
            }
            acked
        });
        let started = Instant::now();
        while started.elapsed() < run_for {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let last_acked = reader.join().unwrap();

        let engine = Engine::open(dir.path(), options()).unwrap();
        torn += engine.recovery().torn_tails.len();
        let got = snapshot(&engine);
        if let Some(last) = last_acked {
            for i in next..=last {
                apply(&mut model, i);
            }
            next = last + 1;
        }
        // The batch in flight at the kill: wholly applied, or not at all.
        let mut with_next = model.clone();
        apply(&mut with_next, next);
        if got == with_next {
            model = with_next;
            next += 1;
        } else {
            assert_eq!(
                got, model,
                "round {round}: the store differs from every acknowledged write ({next} batches)"
            );
        }
        drop(engine);
    }
    assert!(
        next > ROUNDS as u64,
        "the children wrote only {next} batches"
    );
    eprintln!("{ROUNDS} kills, {next} batches, {torn} torn WAL tails repaired");
}
