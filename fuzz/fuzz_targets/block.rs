//! Block decoding: restart array, seeks, iteration; stored-block trailers.
//!
//! Input: `mode: u8 | target len: u8 | bytes`.
//! - Mode even: the first `target len` bytes are a seek target, the rest a
//!   block. `Block::new`, `restart_entry`, `search_restarts`, `seek`,
//!   `seek_from_restart` and a full iteration run over it; the bytes are
//!   also read as a stored block (`read_stored`) and, if they say zstd,
//!   decompressed. Checks: no panic; a seek that lands is on a key
//!   `>= target`.
//! - Mode odd: a block is built from keys and values cut from the input, with
//!   a restart interval from the input; every key and the target must be
//!   found exactly as a sorted map says, and iteration must give back every
//!   entry in order.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use strata_format::block::{Block, BlockBuilder, Compression, decompress_into, read_stored};

const MAX_STEPS: usize = 4096;

fn raw(target: &[u8], bytes: &[u8]) {
    if let Ok(block) = Block::new(bytes) {
        let n = block.n_restarts();
        for i in 0..n.min(64) {
            let _ = block.restart_entry(i);
        }
        if let Ok(Some(i)) = block.search_restarts(target) {
            assert!(i < n);
        }
        if let Ok(it) = block.seek(target, Vec::new())
            && it.valid()
        {
            assert!(it.key() >= target, "seek landed before its target");
            let _ = it.value(&block);
        }
        for r in 0..n.min(4) {
            if let Ok(it) = block.seek_from_restart(r, target, Vec::new())
                && it.valid()
            {
                assert!(
                    it.key() >= target,
                    "seek_from_restart landed before its target"
                );
            }
        }
        let _ = block.seek_from_restart(n, target, Vec::new());
        let mut it = block.iter();
        for _ in 0..MAX_STEPS {
            match it.advance(&block) {
                Ok(true) => {
                    let _ = (it.key(), it.value(&block));
                }
                _ => break,
            }
        }
    }
    for verify in [true, false] {
        let len = bytes.len().saturating_sub(5);
        if let Ok((data, Compression::Zstd)) = read_stored(bytes, 0, len, verify) {
            let mut out = Vec::new();
            let _ = decompress_into(data, &mut out, 0);
        }
    }
}

fn built(interval: u8, bytes: &[u8]) {
    let mut map = BTreeMap::new();
    let mut target = Vec::new();
    for (i, chunk) in bytes.chunks(5).enumerate() {
        // Short keys over a small alphabet share prefixes often.
        let key: Vec<u8> = chunk[..chunk.len().min(3)].iter().map(|b| b % 4).collect();
        if i == 0 {
            target = key;
            continue;
        }
        map.insert(key, chunk[chunk.len().min(3)..].to_vec());
    }
    if map.is_empty() {
        return;
    }
    let mut b = BlockBuilder::new(usize::from(interval % 17));
    for (k, v) in &map {
        b.add(k, v);
    }
    let bytes = b.finish();
    let block = Block::new(&bytes).expect("a built block parses");
    let mut probes: Vec<Vec<u8>> = map.keys().cloned().collect();
    probes.push(target);
    for p in &probes {
        let it = block.seek(p, Vec::new()).expect("seek in a built block");
        match map.range(p.clone()..).next() {
            Some((k, v)) => {
                assert!(it.valid(), "no entry found at or after {p:?}");
                assert_eq!((it.key(), it.value(&block)), (k.as_slice(), v.as_slice()));
            }
            None => assert!(!it.valid()),
        }
    }
    let mut it = block.iter();
    let mut seen = Vec::new();
    while it.advance(&block).expect("iterate a built block") {
        seen.push((it.key().to_vec(), it.value(&block).to_vec()));
    }
    assert_eq!(seen, map.into_iter().collect::<Vec<_>>());
}

fuzz_target!(|data: &[u8]| {
    let [mode, tlen, bytes @ ..] = data else {
        return;
    };
    if mode % 2 == 0 {
        let (target, block) = bytes.split_at(usize::from(*tlen).min(bytes.len()));
        raw(target, block);
    } else {
        built(*tlen, bytes);
    }
});
