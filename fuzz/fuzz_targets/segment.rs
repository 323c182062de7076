//! Segment decoding: footer, props, bloom filter, block index, hash index,
//! data blocks.
//!
//! Input: `mode: u8 | bytes`.
//! - Mode 0 (mod 3): the bytes are parsed as a segment file; if that succeeds,
//!   every structure it names is walked (bounded): bloom probes, hash-index
//!   candidates and block offsets, every data block through the block index
//!   (checksum, decompression, `Block`, entries, values, keys), and
//!   `find_block` seeks. Checks: no panic.
//! - Mode 1 and 2 (mod 3): a segment is built from entries cut from the
//!   input, with block size, restart interval, bloom bits, compression and
//!   format version (1 or 2) from the input. Every entry must be found through the block index and
//!   through the hash index, the bloom filter must admit every prefix, and
//!   the props must match. Then one byte of the file is changed (position and
//!   mask from the input).
//!   - Mode 1: parsing may fail, but any read that succeeds must return
//!     exactly what was written (every byte is under a checksum or a magic
//!     number).
//!   - Mode 2: the checksum covering the changed byte is recomputed, so the
//!     damage reaches the decoders behind it (index entries, props, filter
//!     and hash-index geometry, block entries): everything is walked again
//!     and nothing may panic.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use strata_format::DecodeError;
use strata_format::block::Block;
use strata_format::hash_index::Position;
use strata_format::key::{TOMBSTONE_TS, encode_int_key, internal_key, split};
use strata_format::segment::{
    BlockHandle, EntryKind, FOOTER_LEN, SegmentBuilder, SegmentLayout, SegmentOptions,
    decode_value, read_data_block,
};
use strata_format::{bloom, checksum};

const MAX_BLOCKS: usize = 64;

/// An entry as read: `(internal key, value)`.
type Found = Option<(Vec<u8>, Vec<u8>)>;
const MAX_ENTRIES: usize = 512;

/// The bytes of data block `h`, decompressed into `scratch` if need be.
fn block_bytes<'a>(
    file: &'a [u8],
    h: BlockHandle,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], DecodeError> {
    if read_data_block(file, h, true, scratch)? {
        Ok(&scratch[..])
    } else {
        Ok(&file[h.offset..h.offset + h.len])
    }
}

/// Walks everything `layout` names, discarding results: must not panic.
fn walk(file: &[u8], layout: &SegmentLayout) {
    let bloom = layout.bloom(file);
    for p in [
        &layout.props.first_key[..],
        &layout.props.last_key[..],
        b"",
        b"\x00\x00\x00\x01",
    ] {
        let h = bloom::hash(p);
        let _ = bloom.may_contain(h);
        let hidx = layout.hash_index(file);
        for pos in hidx.candidates(h).take(8) {
            let _ = position_entry(file, layout, pos, p);
        }
        for i in 0..hidx.blocks().min(MAX_BLOCKS) {
            let _ = hidx.block(i);
        }
        let _ = layout.find_block(file, p);
    }
    let Ok(index) = layout.index(file) else {
        return;
    };
    for i in 0..layout.data_blocks().min(MAX_BLOCKS) {
        let Ok(h) = layout.block_handle(&index, i) else {
            continue;
        };
        let mut scratch = Vec::new();
        let Ok(bytes) = block_bytes(file, h, &mut scratch) else {
            continue;
        };
        let Ok(block) = Block::new(bytes) else {
            continue;
        };
        let mut it = block.iter();
        for _ in 0..MAX_ENTRIES {
            match it.advance(&block) {
                Ok(true) => {
                    let _ = split(it.key());
                    let _ = decode_value(it.value(&block));
                }
                _ => break,
            }
        }
    }
}

/// The entry at or after `target` through the block index.
fn lookup(file: &[u8], layout: &SegmentLayout, target: &[u8]) -> Result<Found, DecodeError> {
    let Some((_, h)) = layout.find_block(file, target)? else {
        return Ok(None);
    };
    let mut scratch = Vec::new();
    let block = Block::new(block_bytes(file, h, &mut scratch)?)?;
    let it = block.seek(target, Vec::new())?;
    Ok(it
        .valid()
        .then(|| (it.key().to_vec(), it.value(&block).to_vec())))
}

/// The first entry of `prefix` through the hash index: `Ok(None)` if no
/// candidate position holds it.
fn hash_lookup(
    file: &[u8],
    layout: &SegmentLayout,
    prefix: &[u8],
    first: &[u8],
) -> Result<Found, DecodeError> {
    let hidx = layout.hash_index(file);
    for pos in hidx.candidates(bloom::hash(prefix)) {
        if let Some((k, v)) = position_entry(file, layout, pos, first)?
            && k == first
        {
            return Ok(Some((k, v)));
        }
    }
    Ok(None)
}

/// The entry a hash index position leads to when looking for `target`:
/// decoded on its own (format 2, a file offset; checksum of its block
/// verified first, as the engine does at open), or the first entry
/// `>= target` of the block named.
fn position_entry(
    file: &[u8],
    layout: &SegmentLayout,
    pos: Position,
    target: &[u8],
) -> Result<Found, DecodeError> {
    let hidx = layout.hash_index(file);
    let (b, restart) = match pos {
        Position::Entry(at) => {
            let Some(b) = hidx.block_containing(at) else {
                return Ok(None);
            };
            let Some((offset, len)) = hidx.block(b) else {
                return Ok(None);
            };
            let mut scratch = Vec::new();
            block_bytes(file, BlockHandle { offset, len }, &mut scratch)?;
            let e = layout.entry_at(file, at)?;
            return Ok(Some((e.key.to_vec(), e.value.to_vec())));
        }
        Position::Restart { block, restart } => (block, Some(restart)),
        Position::Block(block) => (block, None),
    };
    let Some((offset, len)) = hidx.block(b) else {
        return Ok(None);
    };
    if offset.checked_add(len).is_none_or(|e| e > file.len()) {
        return Ok(None);
    }
    let mut scratch = Vec::new();
    let block = Block::new(block_bytes(
        file,
        BlockHandle { offset, len },
        &mut scratch,
    )?)?;
    let it = match restart {
        Some(r) => block.seek_from_restart(r, target, Vec::new())?,
        None => block.seek(target, Vec::new())?,
    };
    Ok(it
        .valid()
        .then(|| (it.key().to_vec(), it.value(&block).to_vec())))
}

/// Every checksummed region of a well-formed segment: `(start, covered
/// len, where its crc32c is stored)`. Stored blocks cover their bytes and
/// compression byte; the footer covers everything before its checksum.
fn checksummed_regions(file: &[u8], layout: &SegmentLayout) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    let index = layout.index(file).expect("a built segment's index");
    for i in 0..layout.data_blocks() {
        let h = layout
            .block_handle(&index, i)
            .expect("a built segment's block handle");
        out.push((h.offset, h.len + 1, h.offset + h.len + 1));
    }
    let footer_at = file.len() - FOOTER_LEN;
    for i in 0..(FOOTER_LEN - 16) / 12 {
        let f = &file[footer_at + 12 * i..];
        let offset = u64::from_le_bytes(f[..8].try_into().unwrap()) as usize;
        let len = u32::from_le_bytes(f[8..12].try_into().unwrap()) as usize;
        out.push((offset, len + 1, offset + len + 1));
    }
    out.push((footer_at, FOOTER_LEN - 12, footer_at + FOOTER_LEN - 12));
    out
}

fn built(bytes: &[u8], fix_checksum: bool) {
    let [o0, o1, o2, at_lo, at_hi, mask, rest @ ..] = bytes else {
        return;
    };
    let opts = SegmentOptions {
        block_size: 64 + usize::from(*o0) * 8,
        restart_interval: 1 + usize::from(*o1 % 16),
        bloom_bits_per_key: 1 + u32::from(*o2 % 16),
        zstd_level: (*o1 & 0x80 != 0).then_some(1),
        // Both versions the reader reads.
        format_version: if *o1 & 0x40 != 0 { 1 } else { 2 },
    };
    // internal key -> stored value (kind | row)
    let mut entries: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut key = Vec::new();
    for c in rest.chunks_exact(4).take(2000) {
        let (view, k) = (u32::from(c[0] / 64), i64::from(c[0] % 64));
        let ts = i64::from(c[1]) - 128;
        if c[2] % 7 == 0 {
            internal_key(
                view,
                &encode_int_key(k),
                TOMBSTONE_TS,
                TOMBSTONE_TS,
                &mut key,
            );
            entries.insert(key.clone(), vec![EntryKind::Tombstone as u8]);
        } else {
            internal_key(view, &encode_int_key(k), ts, ts * 3, &mut key);
            let mut v = vec![EntryKind::Version as u8];
            v.extend(std::iter::repeat_n(c[3], usize::from(c[2] % 40)));
            entries.insert(key.clone(), v);
        }
    }
    if entries.is_empty() {
        return;
    }
    let mut b = SegmentBuilder::new(opts);
    let mut file = Vec::new();
    for (k, v) in &entries {
        let kind = if v[0] == 0 {
            EntryKind::Version
        } else {
            EntryKind::Tombstone
        };
        b.add(k, kind, &v[1..]).expect("keys are added in order");
        file.extend(b.take_output());
    }
    let (tail, props) = b.finish();
    file.extend(tail);

    let layout = SegmentLayout::parse(&file).expect("a built segment parses");
    assert_eq!(layout.props, props);
    assert_eq!(props.entries, entries.len() as u64);
    assert_eq!(&props.first_key, entries.keys().next().unwrap());
    assert_eq!(&props.last_key, entries.keys().next_back().unwrap());
    let bloom = layout.bloom(&file);
    let hidx = layout.hash_index(&file);
    let mut last_prefix: &[u8] = &[];
    for (k, v) in &entries {
        let want = Some((k.clone(), v.clone()));
        assert_eq!(
            lookup(&file, &layout, k).expect("lookup in a built segment"),
            want
        );
        let prefix = split(k).unwrap().prefix;
        if prefix != last_prefix {
            // The prefix's first (newest) entry.
            assert!(
                bloom.may_contain(bloom::hash(prefix)),
                "bloom false negative"
            );
            if hidx.is_present() {
                assert_eq!(
                    hash_lookup(&file, &layout, prefix, k).expect("hash lookup in a built segment"),
                    want
                );
            }
            last_prefix = prefix;
        }
    }
    walk(&file, &layout);

    let at = usize::from(u16::from_le_bytes([*at_lo, *at_hi])) % file.len();
    let regions = checksummed_regions(&file, &layout);
    file[at] ^= if *mask == 0 { 1 } else { *mask };
    if fix_checksum {
        if let Some(&(start, len, crc_at)) = regions.iter().find(|r| (r.0..r.0 + r.1).contains(&at))
        {
            let crc = checksum(&[&file[start..start + len]]);
            file[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
        }
        if let Ok(layout) = SegmentLayout::parse(&file) {
            walk(&file, &layout);
            let mut last_prefix: &[u8] = &[];
            for k in entries.keys() {
                let _ = lookup(&file, &layout, k);
                let prefix = split(k).unwrap().prefix;
                if prefix != last_prefix {
                    let _ = hash_lookup(&file, &layout, prefix, k);
                    last_prefix = prefix;
                }
            }
        }
        return;
    }
    let Ok(layout) = SegmentLayout::parse(&file) else {
        return;
    };
    let mut last_prefix: &[u8] = &[];
    for (k, v) in &entries {
        if let Ok(found) = lookup(&file, &layout, k) {
            assert_eq!(
                found,
                Some((k.clone(), v.clone())),
                "wrong entry read after a change at {at}"
            );
        }
        let prefix = split(k).unwrap().prefix;
        if prefix != last_prefix {
            assert!(
                layout.bloom(&file).may_contain(bloom::hash(prefix)),
                "bloom false negative after a change at {at}"
            );
            if layout.hash_index(&file).is_present()
                && let Ok(found) = hash_lookup(&file, &layout, prefix, k)
            {
                assert_eq!(
                    found,
                    Some((k.clone(), v.clone())),
                    "wrong entry through the hash index after a change at {at}"
                );
            }
            last_prefix = prefix;
        }
    }
    walk(&file, &layout);
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, bytes)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            if let Ok(layout) = SegmentLayout::parse(bytes) {
                walk(bytes, &layout);
            }
        }
        1 => built(bytes, false),
        _ => built(bytes, true),
    }
});
