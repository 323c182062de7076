//! Reads without writes (issue 16): a read-only open creates, writes and
//! removes nothing and takes no lock; reads work on a full disk and on a
//! read-only file system or directory; a read-write open that cannot write
//! still serves reads and refuses writes saying why.
//!
//! The full-disk and read-only file system tests mount a small tmpfs, which
//! needs root; they print why and skip otherwise.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use strata::engine::{CompactionOptions, Engine, Error, OpenMode, Options, WriteBatch};
use strata::format::key::encode_int_key;

const VIEW: u32 = 4;
const KEYS: i64 = 60;

fn options(mode: OpenMode) -> Options {
    Options {
        mode,
        compaction: CompactionOptions {
            background: false,
            ..CompactionOptions::default()
        },
        ..Options::default()
    }
}

fn row(k: i64) -> Vec<u8> {
    format!("row {k} {}", "x".repeat(100)).into_bytes()
}

/// A store whose first half of keys is in a segment and second half only
/// in the WAL (so an open has something to replay).
fn populate(dir: &Path) {
    let e = Engine::open(dir, options(OpenMode::ReadWrite)).unwrap();
    for k in 0..KEYS {
        let mut b = WriteBatch::default();
        b.put(VIEW, &encode_int_key(k), 100 + k, 1, &row(k))
            .unwrap();
        e.write(&b).unwrap();
        if k == KEYS / 2 {
            e.flush().unwrap();
        }
    }
}

fn assert_reads(e: &Engine) {
    for k in 0..KEYS {
        let v = e.latest(VIEW, &encode_int_key(k), None).unwrap();
        assert_eq!(v.map(|v| v.row), Some(row(k)), "key {k}");
        let h = e
            .history(VIEW, &encode_int_key(k), 0, i64::MAX - 1, None)
            .unwrap();
        assert_eq!(h.len(), 1, "key {k}");
    }
    let mut n = 0;
    e.scan_view(VIEW, &[], None, None, |s| {
        s.for_each(|_| {
            n += 1;
            true
        })
    })
    .unwrap()
    .unwrap();
    assert_eq!(n, KEYS as usize);
}

fn assert_refuses_writes(e: &Engine, why: &str) {
    let mut b = WriteBatch::default();
    b.put(VIEW, &encode_int_key(1), 1, 1, b"r").unwrap();
    match e.write(&b) {
        Err(Error::ReadOnly { reason, .. }) => assert!(reason.contains(why), "{reason}"),
        other => panic!("a write returned {other:?}"),
    }
    assert!(matches!(e.flush(), Err(Error::ReadOnly { .. })));
    assert!(matches!(e.compact(), Err(Error::ReadOnly { .. })));
    assert!(e.read_only_reason().is_some_and(|r| r.contains(why)));
}

/// Every file under `dir`: its size and modification time.
fn listing(dir: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let md = e.metadata().unwrap();
        if md.is_dir() {
            out.extend(listing(&e.path()));
        } else {
            out.insert(e.path(), (md.len(), md.modified().unwrap()));
        }
    }
    out
}

#[test]
fn read_only_open_writes_nothing_and_works_beside_a_writer() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("store");
    populate(&dir);
    // Another "process" holds the store open and takes writes.
    let writer = Engine::open(&dir, options(OpenMode::ReadWrite)).unwrap();
    let before = listing(&dir);
    {
        let r = Engine::open(&dir, options(OpenMode::ReadOnly)).unwrap();
        assert_reads(&r);
        assert_refuses_writes(&r, "read-only");
    }
    assert_eq!(
        listing(&dir),
        before,
        "a read-only open changed the directory"
    );
    // A write acknowledged before a read-only open is seen by it.
    let mut b = WriteBatch::default();
    b.put(VIEW, &encode_int_key(KEYS), 5, 1, b"late").unwrap();
    writer.write(&b).unwrap();
    let r = Engine::open(&dir, options(OpenMode::ReadOnly)).unwrap();
    let v = r.latest(VIEW, &encode_int_key(KEYS), None).unwrap();
    assert_eq!(v.map(|v| v.row), Some(b"late".to_vec()));
    // A read-only open creates nothing, not even the directory.
    let err = Engine::open(&d.path().join("missing"), options(OpenMode::ReadOnly)).err();
    assert!(matches!(err, Some(Error::NotAStore { .. })), "{err:?}");
    assert!(!d.path().join("missing").exists());
}

/// Whether this process runs as root: a file it creates is owned by its
/// effective user.
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    let f = tempfile::NamedTempFile::new().unwrap();
    f.as_file().metadata().unwrap().uid() == 0
}

/// A tmpfs mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str, test: &str) -> Option<Tmpfs> {
        if !is_root() {
            println!("{test}: skipped: mounting a tmpfs needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            println!("{test}: skipped: mount -t tmpfs failed");
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, opt: &str) {
        let s = Command::new("mount")
            .args(["-o", &format!("remount,{opt}")])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(s.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the file system holding `dir` to the last byte.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![7u8; 64 << 10];
    let mut size = chunk.len();
    while size > 0 {
        match f.write(&chunk[..size]) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => size /= 2,
            Err(e) => panic!("{e}"),
        }
    }
    let _ = f.sync_all();
    assert!(
        std::fs::write(dir.join("one-more"), b"x").is_err()
            || std::fs::metadata(dir.join("one-more")).unwrap().len() == 0,
        "the file system is not full"
    );
    path
}

#[test]
fn reads_work_on_a_full_disk() {
    let Some(fs) = Tmpfs::mount("4m", "reads_work_on_a_full_disk") else {
        return;
    };
    let dir = fs.path().join("store");
    populate(&dir);
    let filler = fill(fs.path());
    let before = listing(&dir);
    {
        let r = Engine::open(&dir, options(OpenMode::ReadOnly)).unwrap();
        assert_reads(&r);
        assert_refuses_writes(&r, "read-only");
    }
    assert_eq!(listing(&dir), before);
    {
        // A read-write open replays into memory and refuses writes.
        let e = Engine::open(&dir, options(OpenMode::ReadWrite)).unwrap();
        assert_reads(&e);
        assert_refuses_writes(&e, "No space left");
    }
    // With room again, the store recovers and takes writes.
    std::fs::remove_file(filler).unwrap();
    let e = Engine::open(&dir, options(OpenMode::ReadWrite)).unwrap();
    assert_eq!(e.read_only_reason(), None);
    assert_reads(&e);
    let mut b = WriteBatch::default();
    b.put(VIEW, &encode_int_key(0), 1, 1, b"r").unwrap();
    e.write(&b).unwrap();
}

#[test]
fn reads_work_on_a_read_only_file_system_or_directory() {
    if let Some(fs) = Tmpfs::mount("8m", "reads_work_on_a_read_only_file_system") {
        let dir = fs.path().join("store");
        populate(&dir);
        fs.remount("ro");
        {
            let r = Engine::open(&dir, options(OpenMode::ReadOnly)).unwrap();
            assert_reads(&r);
        }
        let e = Engine::open(&dir, options(OpenMode::ReadWrite)).unwrap();
        assert_reads(&e);
        assert_refuses_writes(&e, "Read-only file system");
        drop(e);
        fs.remount("rw");
    }
    if is_root() {
        println!("chmod -w: skipped: root bypasses permissions (the tmpfs remount covers it)");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("store");
    populate(&dir);
    let chmod = |mode: &str| {
        for sub in ["", "wal", "segments"] {
            let s = Command::new("chmod").arg(mode).arg(dir.join(sub)).status();
            assert!(s.unwrap().success());
        }
    };
    chmod("a-w");
    let r = Engine::open(&dir, options(OpenMode::ReadOnly)).map(|r| assert_reads(&r));
    let w = Engine::open(&dir, options(OpenMode::ReadWrite)).map(|e| {
        assert_reads(&e);
        assert_refuses_writes(&e, "Permission denied");
    });
    chmod("u+w");
    r.unwrap();
    w.unwrap();
}

/// Runs the CLI in `cwd`; returns (exit code, stdout + stderr).
fn cli(cwd: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env_remove("STRATA_DATA")
        .env_remove("STRATA_SERVER")
        .env_remove("STRATA_TOKEN")
        .current_dir(cwd)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn cli_read_commands_work_on_a_full_disk() {
    let Some(fs) = Tmpfs::mount("8m", "cli_read_commands_work_on_a_full_disk") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let data = fs.path().join("data");
    let data = data.to_str().unwrap();
    let w = work.path();
    std::fs::write(
        w.join("defs.toml"),
        "[[entities]]\nname = \"user\"\njoin_keys = [{ name = \"user_id\", type = \"int64\" }]\n\
         [[feature_views]]\nname = \"s\"\nentities = [\"user\"]\nfeatures = [{ name = \"n\", type = \"int64\" }]\n",
    )
    .unwrap();
    std::fs::write(
        w.join("a.csv"),
        "user_id,event_timestamp,n\n1,2024-05-01T00:00:00Z,7\n2,2024-05-02T00:00:00Z,9\n",
    )
    .unwrap();
    std::fs::write(
        w.join("entities.csv"),
        "user_id,event_timestamp\n1,2024-05-03T00:00:00Z\n2,2024-05-03T00:00:00Z\n",
    )
    .unwrap();
    let run_ok = |args: &[&str]| {
        let (code, text) = cli(w, args);
        assert_eq!(code, 0, "strata {args:?}: {text}");
        text
    };
    run_ok(&["apply", "--data", data, "defs.toml"]);
    // Through the WAL: reading needs a replay, which must not write.
    run_ok(&[
        "ingest",
        "--data",
        data,
        "--view",
        "s",
        "--via-wal",
        "a.csv",
    ]);
    fill(fs.path());
    let got = run_ok(&["get", "--data", data, "--view", "s", "--key", "1", "--json"]);
    assert!(
        got.contains("\"value\":7") || got.contains("\"value\": 7"),
        "{got}"
    );
    run_ok(&["history", "--data", data, "--view", "s", "--key", "2"]);
    run_ok(&[
        "export",
        "--data",
        data,
        "--entities",
        "entities.csv",
        "--features",
        "s:*",
        "--out",
        "train.csv",
    ]);
    let train = std::fs::read_to_string(w.join("train.csv")).unwrap();
    assert!(train.contains(",7") && train.contains(",9"), "{train}");
    run_ok(&["registry", "--data", data, "list"]);
    // A command that writes says why it cannot.
    let (code, text) = cli(w, &["flush", "--data", data]);
    assert_ne!(code, 0);
    assert!(text.contains("No space left"), "{text}");
}
