//! What the hostile-load scenarios share (with `common`, which each test
//! that uses this module also includes): a handler over a store with the
//! scenario's own definitions and tokens, and the peak-memory harness.
//!
//! Peak memory (`VmHWM` of `/proc/self/status`) belongs to the whole
//! process, so each memory scenario runs alone in a child process: the
//! test re-runs its own binary filtered to itself ([`in_own_process`]),
//! the child resets the high-water mark once its setup is done
//! (`/proc/self/clear_refs`), runs the attack, and asserts its bound.

#![allow(dead_code)] // each test file uses a part

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;

use strata_format::protocol::{ErrorCode, FrameHeader, Kind, RowWrite};
use strata_format::schema::{KeyValue, Value};
use strata_server::{Handler, Limits};

const SCENARIO_ENV: &str = "STRATA_SCENARIO";

/// A handler over a store with `defs` applied, and one token per
/// `(name, grants)`, by name.
pub struct Scenario {
    pub tmp: tempfile::TempDir,
    pub handler: Handler,
    pub tokens: HashMap<String, String>,
}

impl Scenario {
    pub fn new(defs_text: &str, tokens: &[(&str, &[&str])], limits: &Limits) -> Scenario {
        let (tmp, handler, tokens) = crate::common::handler_over(defs_text, tokens, limits);
        Scenario {
            tmp,
            handler,
            tokens,
        }
    }

    /// Writes one version of int64 key `key` (event time 1) into `view`.
    pub fn write_one(&self, view: &str, key: i64, values: Vec<Value>) {
        let row = RowWrite {
            key: vec![KeyValue::Int64(key)],
            event_ts: 1,
            created_ts: None,
            values,
        };
        self.handler.store().write(view, &[row]).unwrap();
    }

    pub fn session(&self, name: &str) -> strata_server::Session {
        self.handler.session(&self.tokens[name]).unwrap()
    }
}

/// Runs `scenario` in a child process of this test binary (the test named
/// `name`, which must call this function); fails if the child fails
/// (an assertion, or an abort on a failed allocation).
pub fn in_own_process(name: &str, scenario: impl FnOnce()) {
    if std::env::var(SCENARIO_ENV).as_deref() == Ok(name) {
        scenario();
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(SCENARIO_ENV, name)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "scenario {name} failed: {text}");
    // The filter must have run the scenario, not nothing.
    assert!(
        text.contains("1 passed"),
        "scenario {name} did not run: {text}"
    );
    for line in text.lines().filter_map(|l| l.split_once("peak:")) {
        println!("{name}: peak:{}", line.1);
    }
}

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// The peak resident memory of the process since the last
/// [`reset_peak`], in bytes.
pub fn peak_bytes() -> u64 {
    status_kib("VmHWM:") << 10
}

/// Resets the peak to the current resident memory and returns it.
pub fn reset_peak() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let rss = status_kib("VmRSS:") << 10;
    assert!(
        peak_bytes() <= rss + (4 << 20),
        "the peak did not reset: clear_refs unsupported?"
    );
    rss
}

/// Asserts that the peak since `base` (from [`reset_peak`]) grew by at
/// most `bound` bytes; prints the growth for the report.
pub fn assert_peak_within(what: &str, base: u64, bound: u64) {
    let grew = peak_bytes().saturating_sub(base);
    println!(
        "peak: {what}: grew {} MiB over {} MiB (bound {} MiB)",
        grew >> 20,
        base >> 20,
        bound >> 20
    );
    assert!(
        grew <= bound,
        "{what}: peak memory grew {grew} bytes, above the bound of {bound}"
    );
}

/// Row 8's attack on a scenario of `defs_text` with one token, `token`
/// with `grant`: 8 threads at once each send `body`, a request of `kind`,
/// four times on a session of the token, and check that it is refused
/// with `refusal`; the peak then grows by at most the test's own copies of
/// the body (one per request in flight) and 16 MiB.
pub fn refused_eight_at_once(
    defs_text: &str,
    (token, grant): (&'static str, &str),
    (kind, body): (Kind, Vec<u8>),
    refusal: ErrorCode,
    what: &str,
) {
    let s = Arc::new(Scenario::new(
        defs_text,
        &[(token, &[grant])],
        &Limits::default(),
    ));
    let body = Arc::new(body);
    let base = reset_peak();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (s, body) = (s.clone(), body.clone());
            std::thread::spawn(move || {
                let c = s.session(token);
                for _ in 0..4 {
                    let h = FrameHeader::new(kind, 42, body.len() as u32);
                    let answer = crate::common::exchange(&c, h, &body);
                    assert_eq!(crate::common::error_code(&answer), refusal);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_peak_within(what, base, 8 * body.len() as u64 + (16 << 20));
}
