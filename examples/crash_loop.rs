//! The kill -9 loop: rounds of writers killed at random moments, each
//! followed by a recovery that must find every acknowledged row.
//!
//! ```text
//! cargo build --release --bin strata --example crash_loop
//! target/release/examples/crash_loop --rounds 1000 --seconds 3000
//! ```
//! (`scripts/crash-loop.sh` runs exactly that, at low priority.)
//!
//! Modes, taken in turn, all on one store directory (so every round also
//! recovers from the crashes of the rounds before):
//!
//! - `server`: `strata serve` with three pushing clients; the server is
//!   killed with SIGKILL;
//! - `wal`: a child process writing batches from two threads (group
//!   commit), killed;
//! - `bulk`: a child alternating bulk ingests (`Engine::ingest_sorted`, one
//!   segment each) and WAL writes, killed;
//! - `compact`: a child writing, flushing and compacting, killed.
//!
//! Every batch is three rows (three keys, `event_ts` = the batch number).
//! A writer reports a batch before it writes it and again once it is
//! acknowledged. After each kill the store is reopened: every acknowledged
//! batch must be present, and every other batch wholly present or absent.
//! Exits 1 on any violation.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
#[allow(dead_code, reason = "the test support module also serves the tests")]
#[path = "../tests/common/serve.rs"]
mod serve;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use strata::catalog::defs;
use strata::client::{ClientConfig, Trust, blocking::Client};
use strata::format::key::internal_key;
use strata::format::schema::{KeyValue, Value};
use strata::format::segment::EntryKind;
use strata::store::{RowWrite, Store};

const DEFS: &str = include_str!("../tests/fixtures/crash-loop.toml");

const KEYS: i64 = 40;
const ROWS: usize = 3;

fn keys(b: u64) -> Vec<i64> {
    (0..ROWS as i64)
        .map(|i| (b as i64 * 3 + i) % KEYS)
        .collect()
}

fn rows(b: u64) -> Vec<RowWrite> {
    keys(b)
        .into_iter()
        .map(|k| RowWrite {
            key: vec![KeyValue::Int64(k)],
            event_ts: b as i64,
            created_ts: Some(1),
            values: vec![Value::Int64(b as i64)],
        })
        .collect()
}

/// splitmix64.
fn rand(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Batches reported by a writer: submitted, and acknowledged.
#[derive(Default)]
struct Log {
    submitted: Vec<u64>,
    acked: Vec<u64>,
}

type Shared = Arc<Mutex<Log>>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let base: u64 = args[4].parse().expect("base");
        return child(&args[2], Path::new(&args[3]), base);
    }
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let rounds: u64 = flag("--rounds").map_or(100, |v| v.parse().expect("--rounds N"));
    let seconds: u64 = flag("--seconds").map_or(600, |v| v.parse().expect("--seconds S"));
    let modes: Vec<String> = flag("--modes")
        .unwrap_or_else(|| "server,wal,bulk,compact".into())
        .split(',')
        .map(str::to_string)
        .collect();
    let exe = std::env::current_exe().unwrap();
    let strata = flag("--strata")
        .map(PathBuf::from)
        .unwrap_or_else(|| exe.parent().unwrap().parent().unwrap().join("strata"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = flag("--dir").map_or_else(|| tmp.path().join("store"), PathBuf::from);
    let token = setup(&dir);

    let start = Instant::now();
    let mut totals: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    let mut everything: Vec<u64> = Vec::new();
    let mut failed = false;
    let mut round = 0;
    while round < rounds && start.elapsed() < Duration::from_secs(seconds) {
        let mode = &modes[round as usize % modes.len()];
        let base = (round + 1) << 24;
        let mut seed = round ^ 0x5eed;
        let delay = Duration::from_millis(30 + rand(&mut seed) % 400);
        let log = match mode.as_str() {
            "server" => server_round(&strata, &dir, &token, base, delay),
            m => child_round(&exe, m, &dir, base, delay),
        };
        let log = log.lock();
        let bad = verify(&dir, &log.submitted, &log.acked);
        for b in &bad {
            eprintln!("round {round} ({mode}): {b}");
        }
        failed |= !bad.is_empty();
        let t = totals.entry(mode.clone()).or_default();
        t.0 += 1;
        t.1 += log.acked.len() as u64;
        t.2 += bad.len() as u64;
        everything.extend(&log.acked);
        round += 1;
    }
    // Everything acknowledged in any round is still there at the end.
    let lost_at_end = verify(&dir, &everything, &everything);
    for b in &lost_at_end {
        eprintln!("final check: {b}");
    }
    failed |= !lost_at_end.is_empty();
    let mut all = (0, 0);
    for (mode, (r, acked, bad)) in &totals {
        println!(
            "{mode:8} rounds {r:5}  acknowledged batches {acked:7} ({} rows)  violations {bad}",
            acked * ROWS as u64
        );
        all = (all.0 + r, all.1 + acked);
    }
    println!(
        "total    rounds {:5}  acknowledged rows {}  lost {}  in {:.0} s",
        all.0,
        all.1 * ROWS as u64,
        lost_at_end.len(),
        start.elapsed().as_secs_f64()
    );
    if failed {
        std::process::exit(1);
    }
}

/// Creates the store's view and an admin token; returns the token.
fn setup(dir: &Path) -> String {
    let store = Store::open(dir).unwrap();
    let d = defs::parse(DEFS).unwrap();
    let next = defs::apply(&store.catalog(), &d).unwrap();
    store.set_catalog(next).unwrap();
    drop(store);
    let grants = [strata::server::auth::Grant::parse("admin:*").unwrap()];
    strata::server::auth::create(dir, "crash-loop", &grants)
        .unwrap()
        .1
}

/// Runs one child writer and kills it after `delay`.
fn child_round(exe: &Path, mode: &str, dir: &Path, base: u64, delay: Duration) -> Shared {
    let mut child = Command::new(exe)
        .args(["child", mode])
        .arg(dir)
        .arg(base.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the child writer");
    let log = Shared::default();
    let reader = read_log(&mut child, log.clone());
    std::thread::sleep(delay);
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert!(!status.success(), "the child exited by itself: {status}");
    log
}

/// Collects the child's `sub N` / `ack N` lines.
fn read_log(child: &mut Child, log: Shared) -> std::thread::JoinHandle<()> {
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let mut l = log.lock();
            match line.split_once(' ') {
                Some(("sub", n)) => l.submitted.push(n.parse().unwrap()),
                Some(("ack", n)) => l.acked.push(n.parse().unwrap()),
                _ => eprintln!("child: {line}"),
            }
        }
    })
}

/// Starts `strata serve`, pushes from three clients, kills the server.
fn server_round(strata: &Path, dir: &Path, token: &str, base: u64, delay: Duration) -> Shared {
    let serving = serve::start(strata, dir, &[], Stdio::null());
    let addr = serving.addr();
    let mut server = serving.child;
    let trust = Trust::pin_file(&dir.join("tls/cert.pem")).unwrap();
    let log = Shared::default();
    let stop = Arc::new(AtomicBool::new(false));
    let pushers: Vec<_> = (0..3u64)
        .map(|t| {
            let mut cfg = ClientConfig::new(addr, token, trust.clone());
            cfg.request_timeout = Some(Duration::from_secs(5));
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::spawn(move || {
                let Ok(client) = Client::connect(cfg) else {
                    return;
                };
                let mut b = base + t;
                while !stop.load(Ordering::Relaxed) {
                    let rows: Vec<RowWrite> = rows(b)
                        .into_iter()
                        .map(|r| RowWrite {
                            key: r.key,
                            event_ts: r.event_ts,
                            created_ts: r.created_ts,
                            values: r.values,
                        })
                        .collect();
                    log.lock().submitted.push(b);
                    if client.push("v", &rows).is_err() {
                        return;
                    }
                    log.lock().acked.push(b);
                    b += 3;
                }
            })
        })
        .collect();
    std::thread::sleep(delay);
    server.kill().unwrap();
    let _ = server.wait();
    stop.store(true, Ordering::Relaxed);
    for p in pushers {
        p.join().unwrap();
    }
    log
}

/// Reopens the store; returns every violation found.
fn verify(dir: &Path, submitted: &[u64], acked: &[u64]) -> Vec<String> {
    let store = match Store::open(dir) {
        Ok(s) => s,
        Err(e) => return vec![format!("the store does not open: {e}")],
    };
    let acked: std::collections::HashSet<u64> = acked.iter().copied().collect();
    let mut bad = Vec::new();
    for &b in submitted {
        let mut present = 0;
        for k in keys(b) {
            let h = store
                .history("v", &[KeyValue::Int64(k)], b as i64, b as i64, None)
                .unwrap();
            present += h
                .iter()
                .filter(|v| v.values == [Value::Int64(b as i64)])
                .count();
        }
        if acked.contains(&b) && present != ROWS {
            bad.push(format!("acknowledged batch {b}: {present} of {ROWS} rows"));
        } else if present != 0 && present != ROWS {
            bad.push(format!("batch {b} half applied: {present} of {ROWS} rows"));
        }
    }
    bad
}

/// A child writer: writes until killed, printing `sub N` before and
/// `ack N` after each acknowledged batch.
fn child(mode: &str, dir: &Path, base: u64) {
    let store = Store::open(dir).expect("open the store");
    let write = |b: u64| {
        println!("sub {b}");
        store.write("v", &rows(b)).expect("write");
        println!("ack {b}");
    };
    match mode {
        "wal" => std::thread::scope(|s| {
            for t in 0..2u64 {
                s.spawn(move || {
                    let mut b = base + t;
                    loop {
                        write(b);
                        b += 2;
                    }
                });
            }
        }),
        "bulk" => {
            let cat = store.catalog();
            let view = cat.view("v").unwrap().clone();
            let schema = view.schema();
            for b in (base..).step_by(2) {
                let mut entries: Vec<(Vec<u8>, Vec<u8>)> = rows(b)
                    .iter()
                    .map(|r| {
                        let (mut ek, mut k, mut row) = (Vec::new(), Vec::new(), Vec::new());
                        store.encode_key(&cat, &view, &r.key, &mut ek).unwrap();
                        internal_key(view.id, &ek, r.event_ts, 1, &mut k);
                        strata::format::row::encode_row(&schema, &r.values, &mut row).unwrap();
                        (k, row)
                    })
                    .collect();
                entries.sort();
                println!("sub {b}");
                store
                    .engine()
                    .ingest_sorted(|add| {
                        for (k, row) in &entries {
                            add(k, EntryKind::Version, row)?;
                        }
                        Ok(())
                    })
                    .expect("ingest");
                println!("ack {b}");
                write(b + 1);
            }
        }
        "compact" => {
            for b in (base..).step_by(4) {
                for i in 0..4 {
                    write(b + i);
                }
                store.flush().expect("flush");
                store.engine().compact_as_needed().expect("compact");
            }
        }
        other => panic!("unknown mode {other}"),
    }
}
