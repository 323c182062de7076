//! Damaged segment files: reads of a damaged block fail naming the file,
//! damaged metadata fails open.

use super::*;

/// A closed store with `n` keys flushed into one segment of several data
/// blocks; the segment's path and bytes.
pub(super) struct SegStore {
    pub _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub seg: PathBuf,
    pub bytes: Vec<u8>,
}

pub(super) fn seg_store(keys: std::ops::Range<i64>, zstd_level: Option<i32>) -> SegStore {
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
        let (_tmp, dir, seg) =
            truncated_copy(&store.dir, "segments", store.seg.file_name().unwrap(), cut);
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
