//! Tests of [`super`].

use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn build(map: &BTreeMap<Vec<u8>, Vec<u8>>, interval: usize) -> Vec<u8> {
    let mut b = BlockBuilder::new(interval);
    for (k, v) in map {
        b.add(k, v);
    }
    b.finish()
}

proptest! {
    #[test]
    fn seek_matches_model(
        map in prop::collection::btree_map(prop::collection::vec(0u8..4, 0..6), prop::collection::vec(any::<u8>(), 0..5), 1..60),
        target in prop::collection::vec(0u8..4, 0..7),
        interval in 1usize..20,
    ) {
        let bytes = build(&map, interval);
        let block = Block::new(&bytes).unwrap();
        let it = block.seek(&target, Vec::new()).unwrap();
        let first = block.search_restarts(&target).unwrap();
        prop_assert!(first.is_none_or(|i| block.restart_entry(i).unwrap().0 >= target.as_slice()));
        let want = map.range(target.clone()..).next();
        match want {
            Some((k, v)) => {
                prop_assert!(it.valid());
                prop_assert_eq!(it.key(), k.as_slice());
                prop_assert_eq!(it.value(&block), v.as_slice());
            }
            None => prop_assert!(!it.valid()),
        }
        let mut all = block.iter();
        let mut seen = Vec::new();
        while all.advance(&block).unwrap() {
            seen.push((all.key().to_vec(), all.value(&block).to_vec()));
        }
        prop_assert_eq!(seen, map.into_iter().collect::<Vec<_>>());
    }

    /// Entries added as restart points decode on their own at the
    /// offset `add_restart` returned, and a cursor started there walks
    /// the rest of the block; seeks are unaffected.
    #[test]
    fn forced_restarts_decode_on_their_own(
        map in prop::collection::btree_map(prop::collection::vec(0u8..4, 0..6), prop::collection::vec(any::<u8>(), 0..5), 1..60),
        forced in prop::collection::vec(any::<bool>(), 60),
        target in prop::collection::vec(0u8..4, 0..7),
        interval in 1usize..20,
    ) {
        let mut b = BlockBuilder::new(interval);
        let mut at = Vec::new();
        for (i, (k, v)) in map.iter().enumerate() {
            if forced[i] {
                at.push((i, b.add_restart(k, v)));
            } else {
                b.add(k, v);
            }
        }
        let bytes = b.finish();
        let block = Block::new(&bytes).unwrap();
        let entries: Vec<_> = map.iter().collect();
        for (i, off) in at {
            let e = entry_at(&bytes, off).unwrap();
            prop_assert_eq!(e.key, entries[i].0.as_slice());
            prop_assert_eq!(e.value, entries[i].1.as_slice());
            prop_assert_eq!(&bytes[e.value_at..e.value_at + e.value.len()], e.value);
            let mut it = block.iter_at(off, Vec::new()).unwrap();
            for (k, v) in &entries[i..] {
                prop_assert!(it.advance(&block).unwrap());
                prop_assert_eq!(it.key(), k.as_slice());
                prop_assert_eq!(it.value(&block), v.as_slice());
            }
            prop_assert!(!it.advance(&block).unwrap());
        }
        let it = block.seek(&target, Vec::new()).unwrap();
        match map.range(target.clone()..).next() {
            Some((k, _)) => prop_assert_eq!(it.key(), k.as_slice()),
            None => prop_assert!(!it.valid()),
        }
    }

    #[test]
    fn damaged_blocks_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), target in prop::collection::vec(any::<u8>(), 0..8)) {
        if let Ok(block) = Block::new(&bytes)
            && let Ok(mut it) = block.seek(&target, Vec::new())
        {
            for _ in 0..50 {
                if !matches!(it.advance(&block), Ok(true)) { break; }
            }
        }
    }
}

#[test]
fn peek_restart_finds_each_restart_entry_of_a_plain_block() {
    let map: BTreeMap<Vec<u8>, Vec<u8>> = (0..100u32)
        .map(|i| (format!("key{i:05}").into_bytes(), vec![i as u8; 7]))
        .collect();
    let block = build(&map, 16);
    let mut stored = vec![0xAA; 3]; // the block starts at offset 3
    let len = write_stored(&mut stored, &block, None);
    let b = Block::new(&block).unwrap();
    for r in 0..b.n_restarts() {
        let at = peek_restart(&stored, 3, len, r).unwrap();
        assert_eq!(at, 3 + b.restart(r) as usize, "restart {r}");
        // A restart entry stores its whole key: shared = 0.
        assert_eq!(stored[at], 0, "restart {r}");
    }
    assert_eq!(peek_restart(&stored, 3, len, b.n_restarts()), None);
    assert_eq!(peek_restart(&stored, 3, len + 100, 0), None);
    // A compressed block has no restart array to peek at.
    let big = build(&map, 16).repeat(4);
    let mut z = Vec::new();
    let zlen = write_stored(&mut z, &big, Some(3));
    assert_eq!(peek_restart(&z, 0, zlen, 0), None);
}

#[test]
fn stored_block_checksum_and_compression() {
    let mut map = BTreeMap::new();
    for i in 0u32..500 {
        map.insert(i.to_be_bytes().to_vec(), vec![7u8; 20]);
    }
    let raw = build(&map, 16);
    for level in [None, Some(3)] {
        let mut file = vec![0xAA; 3];
        let len = write_stored(&mut file, &raw, level);
        let (data, c) = read_stored(&file, 3, len, true).unwrap();
        let plain = if c == Compression::Zstd {
            assert!(level.is_some() && len < raw.len());
            let mut out = Vec::new();
            decompress_into(data, &mut out, 3).unwrap();
            out
        } else {
            data.to_vec()
        };
        assert_eq!(plain, raw);
        let mut bad = file.clone();
        bad[3 + len / 2] ^= 1;
        assert!(matches!(
            read_stored(&bad, 3, len, true),
            Err(DecodeError::ChecksumMismatch { offset: 3, .. })
        ));
    }
}
