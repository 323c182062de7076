//! Damaged stores: files of a real store are truncated, bit-flipped or
//! rewritten, and the store must either recover what is recoverable (a torn
//! WAL tail) or report `Error::Corruption` naming the damaged file (and the
//! offset where it is meaningful). No test accepts a wrong value.
//!
//! Stores under test are copies: a WAL that still holds records is captured
//! by copying the directory while the engine that wrote it is open (a clean
//! reopen would flush the WAL into a segment and remove it).

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
#[path = "../common/mod.rs"]
mod common;

use std::fs;
use std::path::{Path, PathBuf};

use strata::engine::{Engine, Error, Options, SyncPolicy, Version, WriteBatch};
use strata::format::checksum;
use strata::format::key::{encode_int_key, internal_key, split};
use strata::format::segment::{BlockHandle, EntryKind, FOOTER_LEN, SegmentLayout, read_data_block};
use strata::format::varint;
use strata::format::wal::{BatchEncoder, HEADER_LEN, MAX_RECORD_LEN};

const VIEW: u32 = 7;

fn options(sync: SyncPolicy) -> Options {
    // Small blocks, so that a few hundred versions fill several of them; no
    // background merges: each test controls which segments exist.
    let mut o = common::stores::small(sync, 64 << 20, 512);
    o.compaction = common::stores::no_background();
    o
}

fn row_of(k: i64) -> Vec<u8> {
    format!("features of entity {k}").into_bytes()
}

/// The version written for key `k` by every test: one per key.
fn version_of(k: i64) -> Version {
    Version {
        event_ts: 1_000 + k,
        created_ts: 2_000 + k,
        row: row_of(k),
    }
}

fn put(engine: &Engine, keys: impl IntoIterator<Item = i64>) {
    let mut b = WriteBatch::default();
    for k in keys {
        let v = version_of(k);
        b.put(VIEW, &encode_int_key(k), v.event_ts, v.created_ts, &v.row)
            .unwrap();
    }
    engine.write(&b).unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// The files of `dir/sub` with the given extension, sorted.
fn files(dir: &Path, sub: &str, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir.join(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    out
}

fn only_file(dir: &Path, sub: &str, ext: &str) -> PathBuf {
    let f = files(dir, sub, ext);
    assert_eq!(f.len(), 1, "expected one .{ext} file in {sub}/: {f:?}");
    f.into_iter().next().unwrap()
}

fn flip(path: &Path, at: usize, mask: u8) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= mask;
    fs::write(path, bytes).unwrap();
}

/// Unwraps an `Error::Corruption`, checking that it names `path`.
#[track_caller]
fn corruption_in(result: Result<impl std::fmt::Debug, Error>, path: &Path) -> u64 {
    match result {
        Err(Error::Corruption {
            path: p,
            offset,
            detail,
        }) => {
            assert_eq!(p, path, "the error names the wrong file ({detail})");
            offset
        }
        other => panic!("expected corruption in {}, got {other:?}", path.display()),
    }
}

#[track_caller]
fn open_corrupt(dir: &Path, path: &Path) -> u64 {
    corruption_in(
        Engine::open(dir, options(SyncPolicy::Never)).map(|_| ()),
        path,
    )
}

/// Every key of `VIEW`, and each key's whole history, is exactly `want`.
#[track_caller]
fn assert_holds_exactly(engine: &Engine, want: &[i64]) {
    let mut keys: Vec<Vec<u8>> = want.iter().map(|&k| encode_int_key(k).to_vec()).collect();
    keys.sort();
    assert_eq!(engine.keys_of_view(VIEW).unwrap(), keys, "keys of the view");
    for &k in want {
        let ek = encode_int_key(k);
        assert_eq!(
            engine.latest(VIEW, &ek, None).unwrap(),
            Some(version_of(k)),
            "latest of key {k}"
        );
        assert_eq!(
            engine
                .history(VIEW, &ek, i64::MIN, i64::MAX - 1, None)
                .unwrap(),
            vec![version_of(k)],
            "history of key {k}"
        );
    }
}

/// A store whose single WAL file holds one record per batch, captured while
/// the engine was open: the copy's directory, its WAL file, and where each
/// record starts (the last entry is the file's length).
struct WalStore {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    wal: PathBuf,
    record_starts: Vec<u64>,
}

/// Writes one batch per element of `batches` (keys of that batch) with fsync
/// `always`, and copies the store while the engine is still open.
fn wal_store(batches: &[&[i64]]) -> WalStore {
    let live = tempfile::tempdir().unwrap();
    let engine = Engine::open(live.path(), options(SyncPolicy::Always)).unwrap();
    let wal = only_file(live.path(), "wal", "log");
    let mut record_starts = vec![fs::metadata(&wal).unwrap().len()];
    assert_eq!(record_starts[0], HEADER_LEN as u64);
    for keys in batches {
        put(&engine, keys.iter().copied());
        record_starts.push(fs::metadata(&wal).unwrap().len());
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    copy_tree(live.path(), &dir);
    drop(engine);
    let wal = dir.join("wal").join(wal.file_name().unwrap());
    assert_eq!(
        fs::metadata(&wal).unwrap().len(),
        *record_starts.last().unwrap()
    );
    WalStore {
        _tmp: tmp,
        dir,
        wal,
        record_starts,
    }
}

/// A fresh copy of `dir` to damage.
fn scratch_copy(dir: &Path) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("store");
    copy_tree(dir, &copy);
    (tmp, copy)
}

/// A scratch copy of the store `dir` in which the file `sub/name` is cut to
/// `len` bytes: the copy's tempdir, its directory and the cut file.
fn truncated_copy(
    dir: &Path,
    sub: &str,
    name: &std::ffi::OsStr,
    len: u64,
) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (tmp, copy) = scratch_copy(dir);
    let file = copy.join(sub).join(name);
    fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len)
        .unwrap();
    (tmp, copy, file)
}

mod manifest;
mod segment;
mod wal;
