//! Manifest decoding.
//!
//! Input: `mode: u8 | bytes`.
//! - Mode 0 (mod 3): the bytes are decoded as a MANIFEST; what decodes must
//!   encode and decode back to the same value.
//! - Mode 1: a manifest (segments and freshness marks) is built from the bytes, encoded, and one byte of the
//!   encoding changed (position and xor mask from the input); the damaged
//!   file must fail to decode (every byte is covered by the magic, the
//!   checksum or the length check).
//! - Mode 2: the bytes are wrapped as the payload of a MANIFEST with a valid
//!   magic, version, length and checksum, so they reach the payload decoder;
//!   what decodes must round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_format::checksum;
use strata_format::manifest::{FORMAT_VERSION, MAGIC, Manifest, SegmentEntry, ViewMark};

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    for (k, x) in a.iter_mut().enumerate() {
        *x = b.get(i * 8 + k).copied().unwrap_or(0);
    }
    u64::from_le_bytes(a)
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, bytes)) = data.split_first() else {
        return;
    };
    if mode % 3 != 1 {
        let wrapped;
        let file = if mode % 3 == 0 {
            bytes
        } else {
            let mut w = MAGIC.to_vec();
            w.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            w.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            w.extend_from_slice(bytes);
            let crc = checksum(&[&w]);
            w.extend_from_slice(&crc.to_le_bytes());
            wrapped = w;
            &wrapped
        };
        if let Ok(m) = Manifest::decode(file) {
            let enc = m.encode();
            assert_eq!(Manifest::decode(&enc).as_ref(), Ok(&m), "round trip");
        }
        return;
    }
    let [at_lo, at_hi, mask, rest @ ..] = bytes else {
        return;
    };
    let mut m = Manifest {
        next_file_number: u64_at(rest, 0),
        last_seqno: u64_at(rest, 1),
        first_live_wal: u64_at(rest, 2),
        segments: Vec::new(),
        freshness_seqno: u64_at(rest, 3),
        views: Vec::new(),
    };
    for (i, c) in rest.chunks(3).skip(8).take(200).enumerate() {
        let number = u64::from(c[0]) * 7 + i as u64;
        m.segments.push(SegmentEntry {
            number,
            level: c.get(1).copied().unwrap_or(0),
            size: u64::from(*c.last().unwrap()) << 20,
        });
    }
    // Freshness marks from the bytes after the segments' (each id adds 1 +
    // a byte to the previous one, so they strictly increase).
    let mut view = 0u32;
    for (i, c) in rest.chunks(2).skip(312).take(100).enumerate() {
        view += u32::from(c[0]) + 1;
        m.views.push(ViewMark {
            view,
            newest_event_ts: u64_at(rest, i) as i64,
            last_write_micros: -(i64::from(*c.last().unwrap())),
        });
    }
    let mut enc = m.encode();
    assert_eq!(Manifest::decode(&enc).as_ref(), Ok(&m), "round trip");
    let at = usize::from(u16::from_le_bytes([*at_lo, *at_hi])) % enc.len();
    let mask = if *mask == 0 { 1 } else { *mask };
    enc[at] ^= mask;
    assert!(
        Manifest::decode(&enc).is_err(),
        "a changed byte at {at} went unnoticed"
    );
});
