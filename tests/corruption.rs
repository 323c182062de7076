//! Damaged stores: files of a real store are truncated, bit-flipped or
//! rewritten, and the store must either recover what is recoverable (a torn
//! WAL tail) or report `Error::Corruption` naming the damaged file (and the
//! offset where it is meaningful). No test accepts a wrong value.
//!
//! Stores under test are copies: a WAL that still holds records is captured
//! by copying the directory while the engine that wrote it is open (a clean
//! reopen would flush the WAL into a segment and remove it).

use std::fs;
use std::path::{Path, PathBuf};

use strata::engine::{CompactionOptions, Engine, Error, Options, SyncPolicy, Version, WriteBatch};
use strata::format::checksum;
use strata::format::key::{encode_int_key, internal_key, split};
use strata::format::segment::{
    BlockHandle, EntryKind, FOOTER_LEN, SegmentLayout, SegmentOptions, read_data_block,
};
use strata::format::varint;
use strata::format::wal::{BatchEncoder, HEADER_LEN, MAX_RECORD_LEN};

const VIEW: u32 = 7;

fn options(sync: SyncPolicy) -> Options {
    Options {
        sync,
        memtable_bytes: 64 << 20,
        // Small blocks, so that a few hundred versions fill several of them.
        segment: SegmentOptions {
            block_size: 512,
            ..SegmentOptions::default()
        },
        // No background merges: each test controls which segments exist.
        compaction: CompactionOptions {
            background: false,
            ..CompactionOptions::default()
        },
        ..Options::default()
    }
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

#[test]
fn wal_cut_anywhere_in_its_last_record_is_a_torn_tail() {
    let batches: [&[i64]; 4] = [&[0, 1], &[2], &[3, 4], &[5]];
    let store = wal_store(&batches);
    let last_start = store.record_starts[batches.len() - 1];
    let end = *store.record_starts.last().unwrap();
    let acknowledged_before_last = [0, 1, 2, 3, 4];
    for cut in last_start..=end {
        let (_tmp, dir) = scratch_copy(&store.dir);
        let wal = dir.join("wal").join(store.wal.file_name().unwrap());
        fs::OpenOptions::new()
            .write(true)
            .open(&wal)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let engine = Engine::open(&dir, options(SyncPolicy::Never))
            .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let report = engine.recovery().clone();
        assert_eq!(report.wal_files, 1, "cut at {cut}");
        if cut == last_start || cut == end {
            assert_eq!(
                report.torn_tails,
                vec![],
                "cut at {cut} is at a record boundary"
            );
        } else {
            assert_eq!(
                report.torn_tails,
                vec![(wal.clone(), cut - last_start)],
                "cut at {cut}"
            );
        }
        if cut == end {
            assert_eq!(report.batches, 4);
            assert_holds_exactly(&engine, &[0, 1, 2, 3, 4, 5]);
        } else {
            assert_eq!(report.batches, 3, "cut at {cut}");
            assert_holds_exactly(&engine, &acknowledged_before_last);
        }
        // What recovery kept is durable: a second open finds it in a
        // segment, with no WAL left to replay.
        drop(engine);
        let engine = Engine::open(&dir, options(SyncPolicy::Never)).unwrap();
        assert_eq!(
            engine.recovery().torn_tails,
            vec![],
            "cut at {cut}: reported twice"
        );
        assert_eq!(engine.recovery().batches, 0, "cut at {cut}: replayed twice");
        let want: &[i64] = if cut == end {
            &[0, 1, 2, 3, 4, 5]
        } else {
            &acknowledged_before_last
        };
        assert_holds_exactly(&engine, want);
    }
}

#[test]
fn wal_cut_inside_its_header_loses_nothing_acknowledged() {
    // A WAL file whose header never fully reached the disk held no
    // acknowledged write: it is dropped as a torn tail.
    let store = wal_store(&[]);
    for cut in 0..HEADER_LEN as u64 {
        let (_tmp, dir) = scratch_copy(&store.dir);
        let wal = dir.join("wal").join(store.wal.file_name().unwrap());
        fs::OpenOptions::new()
            .write(true)
            .open(&wal)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let engine = Engine::open(&dir, options(SyncPolicy::Never))
            .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(engine.recovery().torn_tails, vec![(wal.clone(), cut)]);
        assert_holds_exactly(&engine, &[]);
    }
}

#[test]
fn wal_bit_flip_before_the_last_record_is_corruption_at_that_record() {
    let store = wal_store(&[&[0, 1], &[2], &[3, 4], &[5]]);
    let starts = &store.record_starts;
    // Every byte of every record but the last (which has records after it).
    for r in 0..starts.len() - 2 {
        for at in starts[r]..starts[r + 1] {
            let (_tmp, dir) = scratch_copy(&store.dir);
            let wal = dir.join("wal").join(store.wal.file_name().unwrap());
            let before = fs::read(&wal).unwrap();
            flip(&wal, at as usize, 0x08);
            let offset = open_corrupt(&dir, &wal);
            assert_eq!(offset, starts[r], "flip at {at} in record {r}");
            // A failed open changes nothing: the damaged file is kept for
            // inspection and no other WAL file appears.
            let mut damaged = before.clone();
            damaged[at as usize] ^= 0x08;
            assert_eq!(fs::read(&wal).unwrap(), damaged);
            assert_eq!(files(&dir, "wal", "log"), vec![wal.clone()]);
        }
    }
}

#[test]
fn wal_bit_flip_in_the_last_record_is_corruption_too() {
    // A whole last record that fails its checksum is damage, not a torn
    // append (its bytes are not zero).
    let store = wal_store(&[&[0, 1], &[2]]);
    let starts = &store.record_starts;
    for at in starts[1]..starts[2] {
        let (_tmp, dir) = scratch_copy(&store.dir);
        let wal = dir.join("wal").join(store.wal.file_name().unwrap());
        flip(&wal, at as usize, 0x40);
        assert_eq!(open_corrupt(&dir, &wal), starts[1], "flip at {at}");
    }
}

#[test]
fn wal_bit_flip_in_the_file_header_is_corruption_at_byte_zero() {
    let store = wal_store(&[&[0], &[1]]);
    for at in 0..HEADER_LEN {
        let (_tmp, dir) = scratch_copy(&store.dir);
        let wal = dir.join("wal").join(store.wal.file_name().unwrap());
        flip(&wal, at, 0x01);
        assert_eq!(open_corrupt(&dir, &wal), 0, "flip at {at}");
    }
}

#[test]
fn wal_file_renamed_to_another_number_is_corruption() {
    let store = wal_store(&[&[0]]);
    let (_tmp, dir) = scratch_copy(&store.dir);
    let wal = dir.join("wal").join(store.wal.file_name().unwrap());
    let renamed = dir.join("wal").join("999999.log");
    fs::rename(&wal, &renamed).unwrap();
    assert_eq!(
        open_corrupt(&dir, &renamed),
        12,
        "the file number is at byte 12 of the header"
    );
}

/// Appends the record `enc` makes (checksums and all) to `wal`; returns
/// where it starts and ends.
fn append_record(wal: &Path, enc: &BatchEncoder, first_seqno: u64) -> (u64, u64) {
    let mut bytes = fs::read(wal).unwrap();
    let start = bytes.len() as u64;
    enc.write_record(first_seqno, &mut bytes);
    fs::write(wal, &bytes).unwrap();
    (start, bytes.len() as u64)
}

#[test]
fn wal_record_that_fails_to_decode_is_reported_at_its_file_offset() {
    // Checksums are fine but the batch is malformed (an op key shorter than
    // an internal key): what a writer bug would leave. The error must point
    // into that record.
    let store = wal_store(&[&[0], &[1]]);
    let (_tmp, dir) = scratch_copy(&store.dir);
    let wal = dir.join("wal").join(store.wal.file_name().unwrap());
    let mut enc = BatchEncoder::default();
    enc.put(EntryKind::Version, b"short", b"row");
    let (start, end) = append_record(&wal, &enc, 3);
    let offset = open_corrupt(&dir, &wal);
    assert!(
        (start..end).contains(&offset),
        "offset {offset} is outside the malformed record, which spans {start}..{end}"
    );
}

#[test]
fn wal_batch_with_no_ops_does_not_panic_recovery() {
    // A record with valid checksums whose batch holds no ops and first
    // seqno 0 (the writer never produces one). Recovery must not panic:
    // either it refuses the file as corrupt or it ignores the empty batch.
    let store = wal_store(&[&[0], &[1]]);
    let (_tmp, dir) = scratch_copy(&store.dir);
    let wal = dir.join("wal").join(store.wal.file_name().unwrap());
    append_record(&wal, &BatchEncoder::default(), 0);
    let opened = std::panic::catch_unwind(|| Engine::open(&dir, options(SyncPolicy::Never)));
    match opened {
        Err(_) => {
            panic!("Engine::open panicked on a checksummed WAL record holding an empty batch")
        }
        Ok(Ok(engine)) => assert_holds_exactly(&engine, &[0, 1]),
        Ok(Err(e)) => {
            corruption_in(Err::<(), _>(e), &wal);
        }
    }
}

#[test]
fn wal_batch_whose_seqnos_overflow_is_corruption() {
    // Two ops numbered from u64::MAX: the second has no sequence number.
    let store = wal_store(&[&[0]]);
    let (_tmp, dir) = scratch_copy(&store.dir);
    let wal = dir.join("wal").join(store.wal.file_name().unwrap());
    let mut enc = BatchEncoder::default();
    let mut key = Vec::new();
    for k in [1, 2] {
        let v = version_of(k);
        internal_key(VIEW, &encode_int_key(k), v.event_ts, v.created_ts, &mut key);
        enc.put(EntryKind::Version, &key, &v.row);
    }
    let (start, end) = append_record(&wal, &enc, u64::MAX);
    let opened =
        std::panic::catch_unwind(|| Engine::open(&dir, options(SyncPolicy::Never)).map(|_| ()));
    match opened {
        Err(_) => {
            panic!("Engine::open panicked on a WAL batch whose sequence numbers overflow u64")
        }
        Ok(result) => {
            let offset = corruption_in(result, &wal);
            assert!(
                (start..end).contains(&offset),
                "offset {offset} is outside the record at {start}..{end}"
            );
        }
    }
}

#[test]
fn wal_bit_flip_in_a_trailing_delete_is_not_mistaken_for_a_torn_tail() {
    // The last record is an acknowledged (fsynced) delete. A delete's key
    // ends in 16 zero bytes (its two timestamps) and its row length is 0, so
    // its payload ends in 17 zero bytes: it looks like a record whose end
    // never reached the disk. A flipped bit anywhere in it is still damage;
    // taking it for a torn append would bring the deleted versions back.
    let live = tempfile::tempdir().unwrap();
    let engine = Engine::open(live.path(), options(SyncPolicy::Always)).unwrap();
    put(&engine, [0, 1]);
    let wal = only_file(live.path(), "wal", "log");
    let delete_at = fs::metadata(&wal).unwrap().len();
    let mut b = WriteBatch::default();
    b.delete(VIEW, &encode_int_key(1)).unwrap();
    engine.write(&b).unwrap();
    let end = fs::metadata(&wal).unwrap().len();
    let (_tmp, clean) = scratch_copy(live.path());
    drop(engine);
    for at in delete_at..end {
        let (_tmp, dir) = scratch_copy(&clean);
        let wal = dir.join("wal").join(wal.file_name().unwrap());
        flip(&wal, at as usize, 0x02);
        match Engine::open(&dir, options(SyncPolicy::Never)) {
            Err(Error::Corruption { path, offset, .. }) => {
                assert_eq!(path, wal);
                assert_eq!(offset, delete_at, "flip at {at}");
            }
            Err(e) => panic!(
                "flip at {at}: expected corruption in {}, got {e}",
                wal.display()
            ),
            Ok(engine) => {
                let resurrected = engine.latest(VIEW, &encode_int_key(1), None).unwrap();
                panic!(
                    "flip at {at}: a damaged, acknowledged delete was dropped as a torn tail ({:?}); \
                     key 1 reads {:?}",
                    engine.recovery().torn_tails,
                    resurrected
                );
            }
        }
    }
}

#[test]
fn batch_larger_than_a_wal_record_never_makes_the_wal_unreadable() {
    // A WAL record holds at most MAX_RECORD_LEN payload bytes, and recovery
    // refuses a longer one as corruption. A batch that would need a longer
    // record must be refused before anything is written; if it is accepted,
    // it must be readable, and the store must still open.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let engine = Engine::open(&dir, options(SyncPolicy::Never)).unwrap();
    put(&engine, [0]);
    let big = vec![0x5a; MAX_RECORD_LEN + 1];
    let mut b = WriteBatch::default();
    let v = version_of(1);
    let accepted = b
        .put(VIEW, &encode_int_key(1), v.event_ts, v.created_ts, &big)
        .and_then(|()| engine.write(&b));
    drop(b);
    match &accepted {
        Ok(()) => {
            let got = engine.latest(VIEW, &encode_int_key(1), None).unwrap();
            assert!(
                got.as_ref().is_some_and(|g| g.row.len() == big.len()),
                "an acknowledged batch of {} bytes is not readable",
                big.len()
            );
        }
        Err(Error::InvalidWrite(_)) => {}
        Err(e) => panic!("an oversized batch failed with {e}"),
    }
    put(&engine, [2]);
    drop(engine);
    let engine = Engine::open(&dir, options(SyncPolicy::Never))
        .unwrap_or_else(|e| panic!("the store no longer opens after an oversized batch: {e}"));
    assert_eq!(
        engine.latest(VIEW, &encode_int_key(0), None).unwrap(),
        Some(version_of(0))
    );
    assert_eq!(
        engine.latest(VIEW, &encode_int_key(2), None).unwrap(),
        Some(version_of(2))
    );
    let one = engine.latest(VIEW, &encode_int_key(1), None).unwrap();
    assert_eq!(
        one.is_some(),
        accepted.is_ok(),
        "key 1 after reopen: {:?}",
        one.map(|v| v.row.len())
    );
}

/// A closed store with `n` keys flushed into one segment of several data
/// blocks; the segment's path and bytes.
struct SegStore {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    seg: PathBuf,
    bytes: Vec<u8>,
}

fn seg_store(keys: std::ops::Range<i64>, zstd_level: Option<i32>) -> SegStore {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let mut opts = options(SyncPolicy::Never);
    opts.segment.zstd_level = zstd_level;
    let engine = Engine::open(&dir, opts).unwrap();
    for chunk in keys.collect::<Vec<_>>().chunks(50) {
        put(&engine, chunk.iter().copied());
    }
    engine.flush().unwrap();
    drop(engine);
    let seg = only_file(&dir, "segments", "seg");
    let bytes = fs::read(&seg).unwrap();
    SegStore {
        _tmp: tmp,
        dir,
        seg,
        bytes,
    }
}

/// Handles of the data blocks of a segment and the keys each holds.
fn data_blocks(file: &[u8]) -> Vec<(BlockHandle, Vec<i64>)> {
    let layout = SegmentLayout::parse(file).unwrap();
    let index = layout.index(file).unwrap();
    let mut out = Vec::new();
    for i in 0..layout.data_blocks() {
        let h = layout.block_handle(&index, i).unwrap();
        let mut scratch = Vec::new();
        let compressed = read_data_block(file, h, true, &mut scratch).unwrap();
        let data = if compressed {
            &scratch[..]
        } else {
            &file[h.offset..h.offset + h.len]
        };
        let block = strata::format::block::Block::new(data).unwrap();
        let mut it = block.iter();
        let mut keys = Vec::new();
        while it.advance(&block).unwrap() {
            let ek: [u8; 8] = split(it.key()).unwrap().entity_key().try_into().unwrap();
            keys.push((u64::from_be_bytes(ek) ^ (1 << 63)) as i64);
        }
        out.push((h, keys));
    }
    out
}

fn check_data_block_damage(zstd_level: Option<i32>) {
    let store = seg_store(0..300, zstd_level);
    let blocks = data_blocks(&store.bytes);
    assert!(
        blocks.len() >= 4,
        "the test needs several data blocks, got {}",
        blocks.len()
    );
    if zstd_level.is_some() {
        let compressed = blocks
            .iter()
            .filter(|(h, _)| store.bytes[h.offset + h.len] == 1)
            .count();
        assert!(compressed > 0, "no data block was compressed");
    }
    let bad = blocks.len() / 2;
    let (h, bad_keys) = &blocks[bad];
    let trailer = h.offset + h.len;
    for at in [
        h.offset,
        h.offset + h.len / 2,
        trailer - 1,
        trailer,
        trailer + 1,
        trailer + 4,
    ] {
        let (_tmp, dir) = scratch_copy(&store.dir);
        let seg = dir.join("segments").join(store.seg.file_name().unwrap());
        flip(&seg, at, 0x10);
        // Data blocks are checked on first read, not at open.
        let engine = Engine::open(&dir, options(SyncPolicy::Never))
            .unwrap_or_else(|e| panic!("flip at {at}: {e}"));
        for (i, (_, keys)) in blocks.iter().enumerate() {
            for &k in keys {
                let ek = encode_int_key(k);
                if i == bad {
                    for _ in 0..2 {
                        let off = corruption_in(engine.latest(VIEW, &ek, None), &seg);
                        assert_eq!(off, h.offset as u64, "flip at {at}, key {k}");
                    }
                    corruption_in(
                        engine.history(VIEW, &ek, i64::MIN, i64::MAX - 1, None),
                        &seg,
                    );
                } else {
                    assert_eq!(
                        engine.latest(VIEW, &ek, None).unwrap(),
                        Some(version_of(k)),
                        "flip at {at}, key {k}"
                    );
                }
            }
        }
        assert!(!bad_keys.is_empty());
        corruption_in(engine.keys_of_view(VIEW), &seg);
    }
}

#[test]
fn segment_data_block_bit_flip_fails_reads_of_that_block_only() {
    check_data_block_damage(None);
}

#[test]
fn segment_compressed_data_block_bit_flip_fails_reads_of_that_block_only() {
    check_data_block_damage(Some(3));
}

/// The metadata blocks named by the footer, as `(offset, stored len)`,
/// sorted by offset. The footer is `FOOTER_LEN` bytes: `(offset: u64, len:
/// u32)` handles, then version, checksum and the 8-byte magic.
fn footer_handles(file: &[u8]) -> Vec<(usize, usize)> {
    let f = &file[file.len() - FOOTER_LEN..];
    let n = (FOOTER_LEN - 16) / 12;
    let mut out: Vec<(usize, usize)> = (0..n)
        .map(|i| {
            let off = u64::from_le_bytes(f[12 * i..12 * i + 8].try_into().unwrap());
            let len = u32::from_le_bytes(f[12 * i + 8..12 * i + 12].try_into().unwrap());
            (off as usize, len as usize)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn segment_metadata_bit_flip_fails_open_naming_the_file() {
    let store = seg_store(0..120, None);
    let len = store.bytes.len();
    let footer_at = len - FOOTER_LEN;
    let magic_at = len - 8;
    let handles = footer_handles(&store.bytes);
    // The metadata blocks follow the data blocks back to back (each with its
    // 5-byte trailer), up to the footer.
    let data_end = data_blocks(&store.bytes)
        .last()
        .map(|(h, _)| h.offset + h.len + 5)
        .unwrap();
    assert_eq!(handles[0].0, data_end);
    for w in handles.windows(2) {
        assert_eq!(w[0].0 + w[0].1 + 5, w[1].0, "metadata blocks {handles:?}");
    }
    let last = handles.last().unwrap();
    assert_eq!(last.0 + last.1 + 5, footer_at);
    // A damaged block is reported at its start; the footer at its start,
    // or its magic number's.
    let region_start = |at: usize| -> u64 {
        if at >= magic_at {
            magic_at as u64
        } else if at >= footer_at {
            footer_at as u64
        } else {
            handles.iter().rev().find(|h| h.0 <= at).unwrap().0 as u64
        }
    };
    for at in data_end..len {
        let (_tmp, dir) = scratch_copy(&store.dir);
        let seg = dir.join("segments").join(store.seg.file_name().unwrap());
        flip(&seg, at, 0x20);
        assert_eq!(
            open_corrupt(&dir, &seg),
            region_start(at),
            "flip at {at} (metadata blocks {handles:?}, footer at {footer_at})"
        );
    }
}

#[test]
fn truncated_segment_fails_open_naming_the_file() {
    let store = seg_store(0..120, None);
    let len = store.bytes.len() as u64;
    for cut in [
        0,
        1,
        FOOTER_LEN as u64 - 1,
        FOOTER_LEN as u64,
        len / 2,
        len - FOOTER_LEN as u64,
        len - 1,
    ] {
        let (_tmp, dir) = scratch_copy(&store.dir);
        let seg = dir.join("segments").join(store.seg.file_name().unwrap());
        fs::OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(cut)
            .unwrap();
        open_corrupt(&dir, &seg);
    }
}

#[test]
fn segment_entry_damage_behind_a_valid_checksum_is_reported_at_its_file_offset() {
    // The kind byte of the first entry of a data block is rewritten to an
    // unknown kind and the block's checksum recomputed: what a writer bug
    // would leave. The read must fail, and say where in the file.
    let store = seg_store(0..120, None);
    let blocks = data_blocks(&store.bytes);
    let (h, keys) = &blocks[1];
    let mut bytes = store.bytes.clone();
    let block = &bytes[h.offset..h.offset + h.len];
    // First entry: shared | unshared | value_len varints, key, value.
    let (shared, a) = varint::decode(block).unwrap();
    let (unshared, b) = varint::decode(&block[a..]).unwrap();
    let (_, c) = varint::decode(&block[a + b..]).unwrap();
    assert_eq!(shared, 0, "a block starts with a restart point");
    let kind_at = h.offset + a + b + c + unshared as usize;
    assert_eq!(bytes[kind_at], 0, "a version's value starts with kind 0");
    bytes[kind_at] = 9;
    let tag = bytes[h.offset + h.len];
    let crc = checksum(&[&bytes[h.offset..h.offset + h.len], &[tag]]);
    bytes[h.offset + h.len + 1..h.offset + h.len + 5].copy_from_slice(&crc.to_le_bytes());
    let (_tmp, dir) = scratch_copy(&store.dir);
    let seg = dir.join("segments").join(store.seg.file_name().unwrap());
    fs::write(&seg, &bytes).unwrap();
    let engine = Engine::open(&dir, options(SyncPolicy::Never)).unwrap();
    let k = keys[0];
    let offset = corruption_in(engine.latest(VIEW, &encode_int_key(k), None), &seg);
    assert!(
        (h.offset as u64..(h.offset + h.len) as u64).contains(&offset),
        "offset {offset} is outside the damaged block {}..{} (the bad kind byte is at {kind_at})",
        h.offset,
        h.offset + h.len
    );
    // Keys of other blocks are unaffected.
    let other = blocks[0].1[0];
    assert_eq!(
        engine.latest(VIEW, &encode_int_key(other), None).unwrap(),
        Some(version_of(other))
    );
}

/// A closed store with data in a segment and a MANIFEST listing it.
fn manifest_store() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let engine = Engine::open(&dir, options(SyncPolicy::Never)).unwrap();
    put(&engine, 0..10);
    engine.flush().unwrap();
    drop(engine);
    (tmp, dir)
}

#[test]
fn damaged_manifest_fails_open_naming_it() {
    let (_tmp, dir) = manifest_store();
    let manifest = dir.join("MANIFEST");
    let good = fs::read(&manifest).unwrap();
    for at in 0..good.len() {
        let mut bad = good.clone();
        bad[at] ^= 0x04;
        fs::write(&manifest, &bad).unwrap();
        let offset = open_corrupt(&dir, &manifest);
        assert!(
            offset <= good.len() as u64,
            "flip at {at}: offset {offset} past the end"
        );
    }
    for cut in 0..good.len() {
        fs::write(&manifest, &good[..cut]).unwrap();
        open_corrupt(&dir, &manifest);
    }
    let mut longer = good.clone();
    longer.push(0);
    fs::write(&manifest, &longer).unwrap();
    open_corrupt(&dir, &manifest);
    // The failed opens changed nothing: with the manifest restored, the
    // store opens (no stale lock) and holds its data.
    fs::write(&manifest, &good).unwrap();
    let engine = Engine::open(&dir, options(SyncPolicy::Never)).unwrap();
    assert_holds_exactly(&engine, &(0..10).collect::<Vec<_>>());
}

#[test]
fn missing_manifest_with_data_files_is_not_taken_for_a_new_store() {
    let (_tmp, dir) = manifest_store();
    fs::remove_file(dir.join("MANIFEST")).unwrap();
    match Engine::open(&dir, options(SyncPolicy::Never)) {
        Err(Error::NotAStore { path, .. }) => assert_eq!(path, dir),
        other => panic!("expected NotAStore, got {:?}", other.map(|_| ())),
    }
    assert_eq!(
        files(&dir, "segments", "seg").len(),
        1,
        "the data files were left alone"
    );
}

#[test]
fn segment_listed_in_the_manifest_but_missing_fails_open_naming_it() {
    let (_tmp, dir) = manifest_store();
    let seg = only_file(&dir, "segments", "seg");
    fs::remove_file(&seg).unwrap();
    match Engine::open(&dir, options(SyncPolicy::Never)) {
        Err(Error::Io { path, .. }) => assert_eq!(path, seg),
        other => panic!(
            "expected an I/O error naming {}, got {:?}",
            seg.display(),
            other.map(|_| ())
        ),
    }
}

#[test]
fn second_open_of_an_open_store_is_locked() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Engine::open(tmp.path(), options(SyncPolicy::Never)).unwrap();
    put(&first, [1]);
    match Engine::open(tmp.path(), options(SyncPolicy::Never)) {
        Err(Error::Locked { path }) => assert_eq!(path, tmp.path()),
        other => panic!("expected Locked, got {:?}", other.map(|_| ())),
    }
    // The refused open disturbed nothing.
    assert_holds_exactly(&first, &[1]);
    drop(first);
    let second = Engine::open(tmp.path(), options(SyncPolicy::Never)).unwrap();
    assert_holds_exactly(&second, &[1]);
}

#[test]
fn orphan_segment_from_an_interrupted_flush_is_removed() {
    // A flush that wrote a segment but crashed before the manifest named it
    // leaves an orphan: recovery removes it and nothing of it is read.
    let (_tmp, dir) = manifest_store();
    let real = only_file(&dir, "segments", "seg");
    let orphan = dir.join("segments").join("900000.seg");
    // A valid segment holding versions never acknowledged.
    let other = seg_store(100..105, None);
    fs::copy(&other.seg, &orphan).unwrap();
    let engine = Engine::open(&dir, options(SyncPolicy::Never)).unwrap();
    assert_eq!(engine.recovery().removed_orphans, vec![orphan.clone()]);
    assert!(!orphan.exists());
    assert!(real.exists());
    assert_holds_exactly(&engine, &(0..10).collect::<Vec<_>>());
}
