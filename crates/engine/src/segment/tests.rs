//! The resident copy of a large hash index's slots.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]

use strata_format::bloom;
use strata_format::key::{self, encode_int_key};

use crate::read_batch::KeyBatch;
use crate::{Engine, Options, WriteBatch};

/// A segment whose slots take more than `RESIDENT_SLOTS_MIN` reads them
/// from its copy, which names the same positions as the file's slots, and
/// its reads (single and batched) find every key.
#[test]
fn a_large_index_is_read_from_its_resident_copy() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), Options::unsynced()).unwrap();
    const KEYS: i64 = 110_000; // 8 × 4/3 × KEYS > 1 MiB of slots
    let mut b = WriteBatch::default();
    for k in 0..KEYS {
        b.put(1, &encode_int_key(k), k, 0, &k.to_le_bytes())
            .unwrap();
    }
    engine.write(&b).unwrap();
    engine.flush().unwrap();
    let rs = engine.inner.current.load();
    let [seg] = rs.segments.as_slice() else {
        panic!("{} segments", rs.segments.len());
    };
    let (copy, at) = seg.slots.as_ref().expect("a resident copy");
    let file = seg.layout.hash_index(&seg.map);
    assert!(file.slot_bytes().len() >= super::RESIDENT_SLOTS_MIN);
    assert_eq!(&copy[*at..*at + file.slot_bytes().len()], file.slot_bytes());
    assert_eq!(
        (copy.as_ptr().addr() + at) % (2 << 20),
        0,
        "the copy starts on a huge page boundary"
    );
    let mut prefix = Vec::new();
    for k in (0..KEYS + 100).step_by(97) {
        key::prefix(1, &encode_int_key(k), &mut prefix);
        let h = bloom::hash(&prefix);
        let resident: Vec<_> = seg.hash_index().candidates(h).collect();
        let mapped: Vec<_> = file.candidates(h).collect();
        assert_eq!(resident, mapped, "key {k}");
        assert_eq!(resident.is_empty(), k >= KEYS, "key {k}");
    }
    let mut batch = KeyBatch::new();
    for k in (0..KEYS + 100).step_by(13) {
        batch.push(&encode_int_key(k));
    }
    let mut found = 0;
    engine
        .as_of_many(1, &batch, i64::MAX - 1, None, |i, v| {
            let k = i as i64 * 13;
            let want = engine
                .as_of(1, &encode_int_key(k), i64::MAX - 1, None)
                .unwrap();
            assert_eq!(
                v.map(|(e, c, r)| (e, c, r.to_vec())),
                want.map(|w| (w.event_ts, w.created_ts, w.row))
            );
            if let Some((e, _, row)) = v {
                assert_eq!((e, row), (k, &k.to_le_bytes()[..]));
                found += 1;
            }
        })
        .unwrap();
    assert_eq!(found, (KEYS as usize).div_ceil(13));
}
