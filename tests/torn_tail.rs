//! Torn WAL tails of every shape (issue 16): zeros, garbage or a cut from
//! any offset within the last records to the end of the file recover
//! exactly the records before the damage; damage followed by an intact
//! record is corruption naming the file and offset.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

use std::path::Path;

use strata::engine::{CompactionOptions, Engine, Error, OpenMode, Options, WriteBatch};
use strata::format::key::encode_int_key;

const VIEW: u32 = 2;
const BATCHES: i64 = 4;

fn options() -> Options {
    Options {
        compaction: CompactionOptions {
            background: false,
            ..CompactionOptions::default()
        },
        ..Options::default()
    }
}

fn row(b: i64) -> Vec<u8> {
    format!("batch {b} {}", "r".repeat(b as usize * 7)).into_bytes()
}

/// A store whose WAL holds `BATCHES` records (two keys each); returns the
/// WAL file, its bytes, and each record's start offset (plus the end).
fn store(dir: &Path) -> (std::path::PathBuf, Vec<u8>, Vec<u64>) {
    let e = Engine::open(dir, options()).unwrap();
    let wal = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut starts = vec![std::fs::metadata(&wal).unwrap().len()];
    for b in 0..BATCHES {
        let mut batch = WriteBatch::default();
        for k in [b, b + 100] {
            batch.put(VIEW, &encode_int_key(k), 10, 1, &row(b)).unwrap();
        }
        e.write(&batch).unwrap();
        starts.push(std::fs::metadata(&wal).unwrap().len());
    }
    std::mem::forget(e); // a crash: no clean close
    (wal.clone(), std::fs::read(&wal).unwrap(), starts)
}

fn present(e: &Engine) -> Vec<i64> {
    (0..BATCHES)
        .filter(|&b| {
            let got: Vec<_> = [b, b + 100]
                .iter()
                .map(|&k| e.latest(VIEW, &encode_int_key(k), None).unwrap())
                .collect();
            assert_eq!(got[0].is_some(), got[1].is_some(), "batch {b} half present");
            got[0].as_ref().is_some_and(|v| v.row == row(b))
        })
        .collect()
}

fn copy(from: &Path, to: &Path) {
    for sub in ["", "wal", "segments"] {
        std::fs::create_dir_all(to.join(sub)).unwrap();
        for e in std::fs::read_dir(from.join(sub)).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() && e.file_name() != "LOCK" {
                std::fs::copy(e.path(), to.join(sub).join(e.file_name())).unwrap();
            }
        }
    }
}

#[test]
fn zeros_garbage_or_a_cut_to_the_end_recover_the_records_before() {
    let live = tempfile::tempdir().unwrap();
    let (wal, bytes, starts) = store(live.path());
    let name = wal.strip_prefix(live.path()).unwrap().to_path_buf();
    let from = starts[BATCHES as usize - 2] as usize;
    let mut shapes = 0;
    for at in from..bytes.len() {
        let damaged = [
            ("zeros", {
                let mut b = bytes.clone();
                b[at..].fill(0);
                b
            }),
            ("zeros and an extension", {
                let mut b = bytes[..at].to_vec();
                b.resize(bytes.len() + 4096, 0);
                b
            }),
            ("garbage", {
                let mut b = bytes.clone();
                b[at..].iter_mut().for_each(|x| *x = !*x);
                b
            }),
            ("a cut", bytes[..at].to_vec()),
        ];
        for (shape, content) in damaged {
            let t = tempfile::tempdir().unwrap();
            copy(live.path(), t.path());
            std::fs::write(t.path().join(&name), &content).unwrap();
            // Read-only: the same replay, without the writes of recovery.
            let ro = Options {
                mode: OpenMode::ReadOnly,
                ..options()
            };
            let e = Engine::open(t.path(), ro)
                .unwrap_or_else(|err| panic!("{shape} from byte {at}: {err}"));
            // The records wholly before the first changed byte survive.
            let changed = (at..content.len().min(bytes.len()))
                .find(|&i| content[i] != bytes[i])
                .unwrap_or(at.min(content.len()));
            let whole = starts[1..]
                .iter()
                .filter(|&&s| s as usize <= changed)
                .count();
            let want: Vec<i64> = (0..whole as i64).collect();
            assert_eq!(present(&e), want, "{shape} from byte {at}");
            let clean_cut = shape == "a cut" && starts.contains(&(at as u64));
            let torn = usize::from(!clean_cut);
            assert_eq!(
                e.recovery().torn_tails.len(),
                torn,
                "{shape} from byte {at}"
            );
            shapes += 1;
        }
    }
    assert!(shapes > 100, "{shapes}");
    // And a read-write open of a torn store recovers and writes on.
    let t = tempfile::tempdir().unwrap();
    copy(live.path(), t.path());
    let mut content = bytes.clone();
    content[from + 3..].fill(0);
    std::fs::write(t.path().join(&name), &content).unwrap();
    let e = Engine::open(t.path(), options()).unwrap();
    assert_eq!(present(&e), (0..BATCHES - 2).collect::<Vec<_>>());
    let mut b = WriteBatch::default();
    b.put(VIEW, &encode_int_key(BATCHES - 1), 10, 1, &row(BATCHES - 1))
        .unwrap();
    e.write(&b).unwrap();
}

#[test]
fn damage_followed_by_an_intact_record_is_refused_naming_file_and_offset() {
    let live = tempfile::tempdir().unwrap();
    let (wal, bytes, starts) = store(live.path());
    let name = wal.strip_prefix(live.path()).unwrap().to_path_buf();
    for r in 0..BATCHES as usize - 1 {
        let (a, b) = (starts[r] as usize, starts[r + 1] as usize);
        for (shape, range) in [("zeroed", a..b), ("zeroed tail of", a + 9..b)] {
            let t = tempfile::tempdir().unwrap();
            copy(live.path(), t.path());
            let mut content = bytes.clone();
            content[range].fill(0);
            std::fs::write(t.path().join(&name), &content).unwrap();
            match Engine::open(t.path(), options()) {
                Err(Error::Corruption { path, offset, .. }) => {
                    assert_eq!(path, t.path().join(&name));
                    assert_eq!(offset, starts[r], "{shape} record {r}");
                }
                Err(e) => panic!("{shape} record {r}: {e}"),
                Ok(_) => panic!("{shape} record {r}: opened; an intact record followed"),
            }
            // Refused, the damaged file is left as it was.
            assert_eq!(std::fs::read(t.path().join(&name)).unwrap(), content);
        }
    }
}
