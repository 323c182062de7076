//! Entity-key decoding and internal-key splitting.
//!
//! Input: `shape selector: u8 | cut: u8 | bytes`. The bytes are decoded as
//! one entity key of the selected join-key types, and also as two keys (cut
//! in two), and split as an internal key. Checks: no panic; a decoded key
//! re-encodes to exactly the same bytes (the encoding is canonical); two
//! decoded keys compare as bytes exactly as their values compare; a split
//! internal key reassembles to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_format::key::{
    MAX_ENTITY_KEY_LEN, TS_SUFFIX_LEN, VIEW_ID_LEN, decode_entity_key, encode_entity_key,
    internal_key, split,
};
use strata_format::schema::KeyType::{self, Int64, String};

const SHAPES: &[&[KeyType]] = &[
    &[Int64],
    &[String],
    &[Int64, String],
    &[String, Int64],
    &[String, String],
    &[Int64, Int64, String],
    &[],
];

fuzz_target!(|data: &[u8]| {
    if let Ok(parts) = split(data) {
        assert_eq!(parts.prefix.len() + TS_SUFFIX_LEN, data.len());
        assert_eq!(parts.entity_key().len() + VIEW_ID_LEN, parts.prefix.len());
        let mut again = Vec::new();
        internal_key(
            parts.view(),
            parts.entity_key(),
            parts.event_ts,
            parts.created_ts,
            &mut again,
        );
        assert_eq!(again, data, "split then reassemble");
        let _ = parts.is_tombstone();
    } else {
        assert!(data.len() < VIEW_ID_LEN + TS_SUFFIX_LEN);
    }

    let [sel, cut, bytes @ ..] = data else { return };
    let types = SHAPES[*sel as usize % SHAPES.len()];
    let whole = decode_entity_key(types, bytes);
    if let Ok(values) = &whole {
        assert_eq!(values.len(), types.len());
        let mut out = Vec::new();
        match encode_entity_key(types, values, &mut out) {
            Ok(()) => assert_eq!(out, bytes, "the entity-key encoding is canonical"),
            Err(_) => assert!(
                bytes.len() > MAX_ENTITY_KEY_LEN,
                "a decoded key fails to re-encode"
            ),
        }
    }
    let (a, b) = bytes.split_at((*cut as usize).min(bytes.len()));
    if let (Ok(va), Ok(vb)) = (decode_entity_key(types, a), decode_entity_key(types, b)) {
        assert_eq!(
            a.cmp(b),
            va.cmp(&vb),
            "byte order of encodings is value order"
        );
        // Prefix-freeness: one key's encoding is never a proper prefix of
        // another's (of the same shape).
        if a.len() != b.len() {
            assert!(
                !b.starts_with(a) && !a.starts_with(b),
                "an encoding is a prefix of another"
            );
        }
    }
});
