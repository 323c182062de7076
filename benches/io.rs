//! The I/O backends side by side, in one run: group-commit writes/s with
//! fsync `always`, and compaction MB/s (the merge as `Engine::compact` runs
//! it, and the sequential reads of compaction input alone, from page cache
//! and cold).
//!
//! The backends take turns, round after round, and medians are reported:
//! on a shared VM, fsync latency and CPU contention drift by 10x within a
//! minute, and only side-by-side figures compare.
//!
//! `cargo bench --bench io`; `STRATA_IO_BENCH_SECS` (default 1) is the
//! length of one write round, `STRATA_IO_BENCH_ROUNDS` (default 7) the
//! rounds (half as many for compaction), `STRATA_IO_BENCH_MB` (default 128)
//! the size of the compacted store.

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark may unwrap: a failure aborts the run"
)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::store::env;
use common::*;
use strata::engine::{CompactionOptions, Engine, IoMode, Options, SyncPolicy, WriteBatch};
use strata::format::key::encode_int_key;

fn modes() -> Vec<(&'static str, IoMode)> {
    let mut m = vec![("syscalls", IoMode::Syscalls)];
    let probe = bench_dir("io-probe");
    let e = Engine::open(
        &probe,
        Options {
            io: IoMode::IoUring,
            ..Options::default()
        },
    )
    .unwrap();
    match e.io_fallback_reason() {
        None => {
            m.push(("io_uring", IoMode::IoUring));
            // Syscalls for the WAL, io_uring for segments.
            m.push(("auto", IoMode::Auto));
        }
        Some(why) => println!("io_uring unavailable, measuring syscalls only: {why}"),
    }
    m
}

fn options(io: IoMode, sync: SyncPolicy, memtable_bytes: usize) -> Options {
    Options {
        sync,
        memtable_bytes,
        compaction: CompactionOptions {
            background: false,
            ..CompactionOptions::default()
        },
        io,
        ..Options::default()
    }
}

/// Writes/s of `threads` writers into `e` for `secs`, each writing one
/// 5-feature version per batch; `round` keeps keys apart between calls.
fn group_commit(e: &Engine, threads: u64, secs: f64, round: i64) -> f64 {
    let done = AtomicU64::new(0);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    std::thread::scope(|s| {
        for t in 0..threads {
            let done = &done;
            s.spawn(move || {
                let mut b = WriteBatch::default();
                let mut buf = Vec::new();
                let mut i = 0i64;
                while Instant::now() < deadline {
                    b.clear();
                    row(i, t as i64, &mut buf);
                    let k = encode_int_key(round << 50 | (t as i64) << 40 | i);
                    b.put(VIEW, &k, T0 + i, T0, &buf).unwrap();
                    e.write(&b).unwrap();
                    i += 1;
                }
                done.fetch_add(i as u64, Ordering::Relaxed);
            });
        }
    });
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// The median, minimum and maximum of `v`.
fn spread(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// A store of about `mb` MiB in several flushed segments, written through `mode`.
fn build_store(dir: &Path, mode: &IoMode, mb: u64) -> Engine {
    let e = Engine::open(dir, options(mode.clone(), SyncPolicy::Never, 32 << 20)).unwrap();
    let mut b = WriteBatch::default();
    let mut buf = Vec::new();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let keys = 200_000u64;
    let mut written = 0u64;
    let mut i = 0i64;
    while written < mb << 20 {
        b.clear();
        for _ in 0..1000 {
            let k = (rng.next() % keys) as i64;
            row(k, i, &mut buf);
            b.put(VIEW, &encode_int_key(k), T0 + i * HOUR, T0 + i, &buf)
                .unwrap();
            written += buf.len() as u64 + 24;
            i += 1;
        }
        e.write(&b).unwrap();
    }
    e.flush().unwrap();
    e
}

/// Drops the store's segment files from the page cache.
#[cfg(target_os = "linux")]
fn evict(dir: &Path) {
    use std::os::fd::AsRawFd;
    for f in std::fs::read_dir(dir.join("segments")).unwrap() {
        let f = std::fs::File::open(f.unwrap().path()).unwrap();
        // SAFETY: fadvise takes no pointers; `f` is an open descriptor.
        #[expect(unsafe_code, reason = "UNSAFE.md §9: posix_fadvise")]
        unsafe {
            libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED)
        };
    }
}

#[cfg(not(target_os = "linux"))]
fn evict(_: &Path) {}

struct Compaction {
    input_mb: f64,
    merge_mbps: f64,
    read_warm_mbps: f64,
    read_cold_mbps: f64,
    mmap_warm_mbps: f64,
    mmap_cold_mbps: f64,
}

fn compaction(mode: &IoMode, mb: u64) -> Compaction {
    let dir = bench_dir("io-compact");
    let e = build_store(&dir, mode, mb);
    let input = e.stats().segment_bytes as f64 / (1 << 20) as f64;
    let scan = |through_io: bool, cold: bool| {
        if cold {
            evict(&dir);
        }
        let t = Instant::now();
        e.scan_segments(through_io).unwrap();
        input / t.elapsed().as_secs_f64()
    };
    // Warm the cache once, then measure.
    scan(true, false);
    let read_warm_mbps = scan(true, false);
    let mmap_warm_mbps = scan(false, false);
    let read_cold_mbps = scan(true, true);
    let mmap_cold_mbps = scan(false, true);
    let t = Instant::now();
    e.compact().unwrap();
    let merge_mbps = input / t.elapsed().as_secs_f64();
    assert_eq!(e.stats().segments, 1);
    Compaction {
        input_mb: input,
        merge_mbps,
        read_warm_mbps,
        read_cold_mbps,
        mmap_warm_mbps,
        mmap_cold_mbps,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let secs = env("STRATA_IO_BENCH_SECS", 1u64) as f64;
    let rounds = env("STRATA_IO_BENCH_ROUNDS", 7u64) as usize;
    let mb = env("STRATA_IO_BENCH_MB", 128u64);
    let modes = modes();
    println!(
        "group commit, fsync always, one 5-feature version per batch; {rounds} rounds of {secs} s \
         per backend, alternating; writes/s median [min..max]:"
    );
    for threads in [1, 4, 16] {
        let engines: Vec<Engine> = modes
            .iter()
            .map(|(name, mode)| {
                let dir = bench_dir(&format!("io-commit-{name}"));
                Engine::open(&dir, options(mode.clone(), SyncPolicy::Always, 64 << 20)).unwrap()
            })
            .collect();
        let mut figures = vec![Vec::new(); modes.len()];
        for round in 0..rounds {
            for j in 0..modes.len() {
                let m = if round % 2 == 0 {
                    j
                } else {
                    modes.len() - 1 - j
                };
                figures[m].push(group_commit(&engines[m], threads, secs, round as i64));
            }
        }
        for ((name, _), f) in modes.iter().zip(&mut figures) {
            let (med, lo, hi) = spread(f);
            println!("  {name:>8}  {threads:>2} writers  {med:>8.0} writes/s  [{lo:.0}..{hi:.0}]");
        }
    }
    println!(
        "compaction of a ~{mb} MiB store (several segments into one), MiB of input per s, \
         median of {} rounds:",
        rounds.div_ceil(2)
    );
    let mut runs: Vec<Vec<Compaction>> = modes.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds.div_ceil(2) {
        for j in 0..modes.len() {
            let m = if round % 2 == 0 {
                j
            } else {
                modes.len() - 1 - j
            };
            runs[m].push(compaction(&modes[m].1, mb));
        }
    }
    for ((name, _), runs) in modes.iter().zip(&runs) {
        let med = |f: fn(&Compaction) -> f64| spread(&mut runs.iter().map(f).collect::<Vec<_>>()).0;
        println!(
            "  {name:>8}  input {:.0} MiB  merge (Engine::compact) {:>5.0}  \
             sequential read: warm {:>5.0}, cold {:>5.0}  (mmap cursor: warm {:>5.0}, cold {:>5.0})",
            med(|c| c.input_mb),
            med(|c| c.merge_mbps),
            med(|c| c.read_warm_mbps),
            med(|c| c.read_cold_mbps),
            med(|c| c.mmap_warm_mbps),
            med(|c| c.mmap_cold_mbps)
        );
    }
}
