//! WAL decoding: file header, record scan, batch payloads.
//!
//! Input: `mode: u8 | bytes`.
//! - Mode even: `decode_header` on the bytes; `scan` over them (a WAL body)
//!   with `decode_batch` on every payload it yields; `decode_batch` on the
//!   bytes themselves. Checks: no panic; yielded payloads lie inside the
//!   input, back to back from offset 0; a torn or corrupt tail is reported
//!   at the offset where the yielded records stop; a decoded batch
//!   re-encodes into a record that scans cleanly and decodes to the same ops.
//! - Mode odd: records are built from the bytes, one byte of them is changed
//!   (position and mask from the input), and the scan must yield only
//!   undamaged records, in order, and stop before the damaged one (every
//!   record byte is under a checksum).
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_format::key::{encode_int_key, internal_key, split};
use strata_format::segment::EntryKind;
use strata_format::wal::{
    BatchEncoder, RECORD_HEADER_LEN, RECORD_TRAILER_LEN, Tail, decode_batch, decode_header,
    encode_header, scan,
};

fn reencode_check(payload: &[u8]) {
    let Ok(batch) = decode_batch(payload) else {
        return;
    };
    let mut enc = BatchEncoder::default();
    for op in &batch.ops {
        assert!(
            split(op.key).is_ok(),
            "decode_batch let a short key through"
        );
        enc.put(op.kind, op.key, op.row);
    }
    let mut rec = Vec::new();
    enc.write_record(batch.first_seqno, &mut rec);
    let mut n = 0;
    let tail = scan(&rec, |off, p| {
        assert_eq!(off, 0);
        let again = decode_batch(p).expect("a re-encoded batch decodes");
        assert_eq!(again.first_seqno, batch.first_seqno);
        assert_eq!(again.ops, batch.ops);
        n += 1;
    });
    assert_eq!((tail, n), (Tail::Clean, 1));
}

fn raw(bytes: &[u8]) {
    if let Ok(n) = decode_header(bytes) {
        assert_eq!(&encode_header(n)[..], &bytes[..24]);
    }
    let mut next = 0;
    let tail = scan(bytes, |off, payload| {
        assert_eq!(off, next, "records are yielded back to back");
        next = off + RECORD_HEADER_LEN + payload.len() + RECORD_TRAILER_LEN;
        assert!(next <= bytes.len());
        reencode_check(payload);
    });
    match tail {
        Tail::Clean => assert_eq!(next, bytes.len()),
        Tail::Torn { offset } => assert_eq!(offset, next),
        Tail::Corrupt(e) => assert_eq!(e.offset(), next),
    }
    reencode_check(bytes);
}

fn damaged(bytes: &[u8]) {
    let [at_lo, at_hi, mask, rest @ ..] = bytes else {
        return;
    };
    // Records of 1..4 ops each, built from the input.
    let mut records = Vec::new();
    let mut starts = Vec::new();
    let mut key = Vec::new();
    let mut seqno = 1;
    for chunk in rest.chunks(6).take(64) {
        let mut enc = BatchEncoder::default();
        for (i, &b) in chunk.iter().enumerate().take(1 + chunk[0] as usize % 4) {
            let k = i64::from(b);
            if b % 5 == 0 {
                internal_key(1, &encode_int_key(k), i64::MAX, i64::MAX, &mut key);
                enc.put(EntryKind::Tombstone, &key, &[]);
            } else {
                internal_key(1, &encode_int_key(k), k, k + 1, &mut key);
                enc.put(EntryKind::Version, &key, &chunk[..i]);
            }
        }
        starts.push(records.len());
        enc.write_record(seqno, &mut records);
        seqno += enc.count();
    }
    if records.is_empty() {
        return;
    }
    let at = usize::from(u16::from_le_bytes([*at_lo, *at_hi])) % records.len();
    let bad_record = starts.iter().rposition(|&s| s <= at).unwrap();
    let original = records.clone();
    records[at] ^= if *mask == 0 { 1 } else { *mask };
    let mut yielded = 0;
    let tail = scan(&records, |off, payload| {
        assert_eq!(off, starts[yielded]);
        let end = starts.get(yielded + 1).copied().unwrap_or(original.len()) - RECORD_TRAILER_LEN;
        assert_eq!(
            payload,
            &original[off + RECORD_HEADER_LEN..end],
            "a changed payload was yielded"
        );
        yielded += 1;
    });
    assert_eq!(
        yielded, bad_record,
        "the scan went past the changed byte at {at}"
    );
    match tail {
        Tail::Clean => panic!("a changed byte at {at} went unnoticed"),
        Tail::Torn { offset } => assert_eq!(offset, starts[bad_record]),
        Tail::Corrupt(e) => assert_eq!(e.offset(), starts[bad_record]),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, bytes)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        raw(bytes)
    } else {
        damaged(bytes)
    }
});
