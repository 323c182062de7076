//! One write / read / flush / compact / reopen scenario on every I/O
//! backend: plain syscalls, io_uring on its thread, and `Auto`; and the
//! fallback where io_uring is refused by a seccomp filter (as in Docker's
//! default profile): the store must open anyway, on syscalls, and say why.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use std::path::Path;

use strata::engine::{Engine, IoMode, Options, SyncPolicy, WriteBatch};
use strata::format::key::encode_int_key;

const VIEW: u32 = 3;
const WRITERS: i64 = 4;
const BATCHES: i64 = 150;

fn options(io: IoMode) -> Options {
    // Small memtables: seals (new WAL files) and flushes along the way.
    let mut o = common::stores::small(SyncPolicy::Always, 24 << 10, 512);
    o.compaction = common::stores::no_background();
    o.io = io;
    o
}

fn key(writer: i64, i: i64) -> [u8; 8] {
    encode_int_key(writer * 1_000_000 + i)
}

fn row(writer: i64, i: i64, version: i64) -> Vec<u8> {
    format!("writer {writer} batch {i} version {version}").into_bytes()
}

/// Writes from several threads (so batches share group commits): batch `i`
/// of writer `w` puts versions 1 and 2 of key `(w, i)`; then every 10th key
/// is deleted.
fn write_all(e: &Engine) {
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            s.spawn(move || {
                for i in 0..BATCHES {
                    let mut b = WriteBatch::default();
                    for v in 1..=2 {
                        b.put(VIEW, &key(w, i), v * 100, v, &row(w, i, v)).unwrap();
                    }
                    e.write(&b).unwrap();
                }
            });
        }
    });
}

fn delete_some(e: &Engine) {
    let mut b = WriteBatch::default();
    for w in 0..WRITERS {
        for i in (0..BATCHES).step_by(10) {
            b.delete(VIEW, &key(w, i)).unwrap();
        }
    }
    e.write(&b).unwrap();
}

fn check(e: &Engine, deleted: bool) {
    for w in 0..WRITERS {
        for i in 0..BATCHES {
            let got = e.latest(VIEW, &key(w, i), None).unwrap();
            if deleted && i % 10 == 0 {
                assert_eq!(got, None, "key ({w}, {i}) was deleted");
                continue;
            }
            let v = got.unwrap_or_else(|| panic!("key ({w}, {i}) lost"));
            assert_eq!((v.event_ts, v.created_ts), (200, 2));
            assert_eq!(v.row, row(w, i, 2));
            let older = e.as_of(VIEW, &key(w, i), 150, None).unwrap().unwrap();
            assert_eq!(older.row, row(w, i, 1));
        }
    }
}

/// The scenario; returns the name of the backend `mode` chose.
fn scenario(dir: &Path, mode: IoMode) -> &'static str {
    let backend;
    {
        let e = Engine::open(dir, options(mode.clone())).unwrap();
        backend = e.io_backend();
        write_all(&e);
        check(&e, false);
        e.flush().unwrap();
        assert!(e.stats().segments >= 2, "{:?}", e.stats());
        check(&e, false);
        delete_some(&e);
        e.compact().unwrap();
        assert_eq!(e.stats().segments, 1);
        check(&e, true);
    }
    // Reopen: what was written through this backend reads back, through it
    // and through plain syscalls.
    for m in [mode, IoMode::Syscalls] {
        let e = Engine::open(dir, options(m)).unwrap();
        check(&e, true);
        // And takes more writes.
        write_all(&e);
        delete_some(&e);
        check(&e, true);
    }
    backend
}

#[test]
fn syscalls() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(scenario(dir.path(), IoMode::Syscalls), "syscalls");
}

#[test]
fn io_uring() {
    let dir = tempfile::tempdir().unwrap();
    let probe = Engine::open(&dir.path().join("probe"), options(IoMode::IoUring)).unwrap();
    if let Some(why) = probe.io_fallback_reason() {
        eprintln!("NOTE: skipping the io_uring scenario: this machine refuses io_uring: {why}");
        return;
    }
    assert_eq!(probe.io_backend(), "io_uring");
    drop(probe);
    assert_eq!(scenario(dir.path(), IoMode::IoUring), "io_uring");
}

#[test]
fn auto() {
    let dir = tempfile::tempdir().unwrap();
    // Syscalls for the WAL, io_uring for segments (where the kernel allows).
    let name = scenario(dir.path(), IoMode::Auto);
    assert_eq!(name, "syscalls (WAL) + io_uring (segments)");
    let e = Engine::open(dir.path(), options(IoMode::Auto)).unwrap();
    assert_eq!(e.io_fallback_reason(), None);
}

#[cfg(target_os = "linux")]
mod refused {
    use super::*;

    /// Installs a seccomp filter on the calling thread (inherited by the
    /// threads it starts) that fails `io_uring_setup` with `EPERM`, as
    /// Docker's default profile does.
    fn refuse_io_uring() {
        let ld_nr = libc::sock_filter {
            code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k: 0, // offsetof(struct seccomp_data, nr)
        };
        let is_setup = libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: libc::SYS_io_uring_setup as u32,
        };
        let ret = |k: u32| libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k,
        };
        let filter = [
            ld_nr,
            is_setup,
            ret(libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
            ret(libc::SECCOMP_RET_ALLOW),
        ];
        let prog = libc::sock_fprog {
            len: filter.len() as u16,
            filter: filter.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: prctl with these options reads only `prog`, which points
        // at `filter`; both outlive the call (the kernel copies the program).
        #[expect(unsafe_code, reason = "UNSAFE.md §8: seccomp filter via prctl")]
        unsafe {
            assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
            let r = libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            );
            assert_eq!(r, 0, "seccomp: {}", std::io::Error::last_os_error());
        }
    }

    #[test]
    fn io_uring_refused_falls_back_to_syscalls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        // In a thread of its own: the filter cannot be removed.
        std::thread::spawn(move || {
            refuse_io_uring();
            // Asked for io_uring, the store opens on syscalls and says why.
            assert_eq!(scenario(&path.join("uring"), IoMode::IoUring), "syscalls");
            let e = Engine::open(&path.join("uring"), options(IoMode::IoUring)).unwrap();
            assert_eq!(e.io_backend(), "syscalls");
            let why = e.io_fallback_reason().expect("a reason for the fallback");
            assert!(
                why.contains("io_uring") && why.contains("not permitted"),
                "{why}"
            );
            drop(e);
            // So does `Auto`, which would use io_uring for segments.
            assert_eq!(scenario(&path.join("auto"), IoMode::Auto), "syscalls");
            let e = Engine::open(&path.join("auto"), options(IoMode::Auto)).unwrap();
            assert!(e.io_fallback_reason().is_some());
        })
        .join()
        .unwrap();
    }
}
