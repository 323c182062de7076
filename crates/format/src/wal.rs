//! Write-ahead log files.
//!
//! ```text
//! wal file = header | record*
//! header   = magic "STRATWAL": 8 bytes | format version: u32 LE | file number: u64 LE
//!          | crc32c of the 20 bytes before: u32 LE                       (24 bytes)
//! record   = len: u32 LE | crc32c(len): u32 LE | payload: len bytes | crc32c(payload): u32 LE
//! payload  = first seqno: u64 LE | count: varint | op*          (one write batch)
//! op       = kind: u8 | key len: varint | key | row len: varint | row
//! ```
//! `kind` is an [`super::segment::EntryKind`] tag: 0 puts the version `key`
//! (an internal key) with `row`; 1 is the tombstone of `view_id | entity key`
//! (its internal key, row empty). Op `i` of a batch has seqno `first + i`.
//!
//! A record is written whole with one `write`; the tail of the last file may
//! be torn by a crash. The length has its own checksum, so a damaged length
//! is never trusted, and the payload's checksum comes *after* the payload.
//! [`scan`] tells a torn tail from damage by what follows the first record
//! that fails a check (or runs past the end of the file):
//!
//! - no intact record anywhere after it: a **torn tail**, whatever the bad
//!   bytes are (zeros where the file was extended but not written, garbage,
//!   a cut), wherever they start (a record's header, its payload, its
//!   checksum). Such a record was never acknowledged (acknowledgement waits
//!   for the sync), and every record before it is kept.
//! - an intact record somewhere after it: **corruption** at the bad record
//!   (a crash only damages the end of what was appended; damage followed by
//!   good data is bit rot or a bug, and is refused, not skipped).
//!
//! An *intact* record is one at any byte offset after the bad one whose
//! header checksum, length limit and payload checksum hold and whose payload
//! decodes as a batch numbered after the last good record's.
//!
//! One exception keeps bit rot in the last record from passing for a torn
//! append (which would drop an acknowledged write, or bring back what an
//! acknowledged delete removed): a complete record that is exactly **one
//! flipped bit** away from an intact one (CRC-32C locates any single-bit
//! error) is corruption, unless every byte from that bit's byte to the end
//! of the file is zero (a zero-filled tail explains it as well).

use super::error::{DecodeError, Reader};
use super::segment::EntryKind;
use super::varint;

pub const MAGIC: [u8; 8] = *b"STRATWAL";
pub const FORMAT_VERSION: u32 = 1;
pub const HEADER_LEN: usize = 24;
pub const RECORD_HEADER_LEN: usize = 8;
/// The payload checksum after each record's payload.
pub const RECORD_TRAILER_LEN: usize = 4;
/// Largest record payload accepted.
pub const MAX_RECORD_LEN: usize = 256 << 20;

pub fn encode_header(file_number: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&file_number.to_le_bytes());
    let crc = super::checksum(&[&h[..20]]);
    h[20..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a file header and returns the file number it carries.
pub fn decode_header(buf: &[u8]) -> Result<u64, DecodeError> {
    let mut r = Reader::new(buf, "wal header");
    r.magic(MAGIC)?;
    let version = r.u32()?;
    let number = r.u64()?;
    let crc = r.u32()?;
    DecodeError::verify_checksum("wal header", 0, crc, super::checksum(&[&buf[..20]]))?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            what: "wal",
            version,
            supported: FORMAT_VERSION,
        });
    }
    Ok(number)
}

/// Encodes a batch payload incrementally.
#[derive(Debug, Default, Clone)]
pub struct BatchEncoder {
    buf: Vec<u8>,
    count: u64,
}

impl BatchEncoder {
    pub fn put(&mut self, kind: EntryKind, key: &[u8], row: &[u8]) {
        self.buf.push(kind as u8);
        varint::put(&mut self.buf, key.len() as u64);
        self.buf.extend_from_slice(key);
        varint::put(&mut self.buf, row.len() as u64);
        self.buf.extend_from_slice(row);
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn ops_len(&self) -> usize {
        self.buf.len()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.count = 0;
    }

    /// Appends the whole record (header and payload) for this batch, its ops
    /// numbered from `first_seqno`, to `out`.
    pub fn write_record(&self, first_seqno: u64, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; RECORD_HEADER_LEN]);
        out.extend_from_slice(&first_seqno.to_le_bytes());
        varint::put(out, self.count);
        out.extend_from_slice(&self.buf);
        let len = (out.len() - start - RECORD_HEADER_LEN) as u32;
        let payload_crc = super::checksum(&[&out[start + RECORD_HEADER_LEN..]]);
        out.extend_from_slice(&payload_crc.to_le_bytes());
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        let header_crc = super::checksum(&[&out[start..start + 4]]);
        out[start + 4..start + 8].copy_from_slice(&header_crc.to_le_bytes());
    }
}

/// One operation of a decoded batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op<'a> {
    pub kind: EntryKind,
    pub key: &'a [u8],
    pub row: &'a [u8],
}

/// A decoded batch payload.
#[derive(Debug, Clone)]
pub struct Batch<'a> {
    pub first_seqno: u64,
    pub ops: Vec<Op<'a>>,
}

pub fn decode_batch(payload: &[u8]) -> Result<Batch<'_>, DecodeError> {
    let mut r = Reader::new(payload, "wal batch");
    let first_seqno = r.u64()?;
    let count = r.len(payload.len())?;
    let mut ops = Vec::with_capacity(count);
    for _ in 0..count {
        let kind = match r.u8()? {
            0 => EntryKind::Version,
            1 => EntryKind::Tombstone,
            k => return Err(r.invalid(format!("unknown op kind {k}"))),
        };
        let n = r.len(payload.len())?;
        let key = r.bytes(n)?;
        super::key::split(key).map_err(|_| r.invalid("op key shorter than an internal key"))?;
        let n = r.len(payload.len())?;
        let row = r.bytes(n)?;
        ops.push(Op { kind, key, row });
    }
    if !r.is_empty() {
        return Err(r.invalid("trailing bytes after the last op"));
    }
    Ok(Batch { first_seqno, ops })
}

/// How the records of a WAL file (after its header) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// Every byte belongs to a whole, valid record.
    Clean,
    /// From `offset` on, the bytes hold no intact record: what a crash
    /// during an append leaves. They are to be dropped.
    Torn { offset: usize },
    /// A record fails a check and an intact record follows it: damage, not
    /// a torn append.
    Corrupt(DecodeError),
}

fn word(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Why the record at the start of `rest` is not intact, or its length.
fn check_record(rest: &[u8], pos: usize) -> Result<usize, (bool, DecodeError)> {
    // `(past_end, error)`: `past_end` if the record does not fit in `rest`.
    let Some(header) = rest.get(..RECORD_HEADER_LEN) else {
        return Err((
            true,
            DecodeError::invalid("wal record", pos, "a cut record header"),
        ));
    };
    let (len, header_crc) = (word(header, 0) as usize, word(header, 4));
    let got = super::checksum(&[&header[..4]]);
    DecodeError::verify_checksum("wal record header", pos, header_crc, got)
        .map_err(|e| (false, e))?;
    if len > MAX_RECORD_LEN {
        let e = DecodeError::invalid("wal record", pos, "record length over the limit");
        return Err((false, e));
    }
    let end = RECORD_HEADER_LEN + len + RECORD_TRAILER_LEN;
    let Some(record) = rest.get(..end) else {
        let e = DecodeError::invalid("wal record", pos, "the record runs past the end");
        return Err((true, e));
    };
    let stored = word(record, RECORD_HEADER_LEN + len);
    let got = super::checksum(&[&record[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len]]);
    DecodeError::verify_checksum("wal record", pos, stored, got).map_err(|e| (false, e))?;
    Ok(end)
}

/// Whether an intact record (see the module docs) starts anywhere in
/// `buf[from..]`, numbered after `after`.
fn intact_record_after(buf: &[u8], from: usize, after: Option<u64>) -> bool {
    let min = RECORD_HEADER_LEN + RECORD_TRAILER_LEN;
    (from..buf.len().saturating_sub(min - 1)).any(|q| {
        let Ok(end) = check_record(&buf[q..], q) else {
            return false;
        };
        let payload = &buf[q + RECORD_HEADER_LEN..q + end - RECORD_TRAILER_LEN];
        decode_batch(payload).is_ok_and(|b| after.is_none_or(|a| b.first_seqno > a))
    })
}

/// The raw CRC-32C register stepped over one zero byte.
fn zero_byte_step(mut reg: u32) -> u32 {
    for _ in 0..8 {
        reg = (reg >> 1) ^ if reg & 1 != 0 { 0x82f6_3b78 } else { 0 };
    }
    reg
}

/// The inverse of [`zero_byte_step`] (each bit step is invertible: the
/// polynomial's top bit tells whether the low bit was shifted out set).
fn zero_byte_unstep(mut reg: u32) -> u32 {
    for _ in 0..8 {
        reg = if reg & 0x8000_0000 != 0 {
            ((reg ^ 0x82f6_3b78) << 1) | 1
        } else {
            reg << 1
        };
    }
    reg
}

/// The byte offset in `msg` of a single flipped bit that would make
/// `crc32c(msg) == stored`, if there is one (`msg.len()` if the flipped bit
/// is in `stored`). CRC-32C is affine: flipping bit `b` of byte `j` changes
/// the checksum by `Z^(len-1-j)(s_b)`, `Z` being a step over a zero byte
/// and `s_b` the step of a byte holding only bit `b`. So the difference is
/// walked back one byte at a time and compared with the eight `s_b`
/// (8 bit steps per byte of `msg`).
fn one_bit_off(msg: &[u8], stored: u32) -> Option<usize> {
    let diff = super::checksum(&[msg]) ^ stored;
    if diff.count_ones() == 1 {
        return Some(msg.len());
    }
    let s: [u32; 8] = std::array::from_fn(|b| zero_byte_step(1 << b));
    let mut d = diff;
    for m in 0..msg.len() {
        if s.contains(&d) {
            return Some(msg.len() - 1 - m);
        }
        d = zero_byte_unstep(d);
    }
    None
}

/// Whether the damaged record at `buf[pos..]` is one flipped bit away from
/// an intact record, the bit not being explained by a zero-filled tail.
fn is_bit_rot(buf: &[u8], pos: usize) -> bool {
    let rest = &buf[pos..];
    let Some(header) = rest.get(..RECORD_HEADER_LEN) else {
        return false;
    };
    let zeros_to_end = |at: usize| buf[at..].iter().all(|&b| b == 0);
    let payload_ok = |len: usize| {
        let end = RECORD_HEADER_LEN + len + RECORD_TRAILER_LEN;
        rest.get(..end).is_some_and(|r| {
            let stored = word(r, RECORD_HEADER_LEN + len);
            super::checksum(&[&r[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len]]) == stored
        })
    };
    let (len, header_crc) = (word(header, 0) as usize, word(header, 4));
    if super::checksum(&[&header[..4]]) != header_crc {
        // A flipped bit in the header, and the rest of the record intact?
        if (super::checksum(&[&header[..4]]) ^ header_crc).count_ones() == 1 {
            return payload_ok(len) && !zeros_to_end(pos + 4);
        }
        return (0..32).any(|bit| {
            let l = (len as u32 ^ (1 << bit)).to_le_bytes();
            super::checksum(&[&l[..]]) == header_crc
                && u32::from_le_bytes(l) as usize <= MAX_RECORD_LEN
                && payload_ok(u32::from_le_bytes(l) as usize)
                && !zeros_to_end(pos + bit / 8)
        });
    }
    let end = RECORD_HEADER_LEN + len + RECORD_TRAILER_LEN;
    let Some(record) = rest.get(..end) else {
        return false;
    };
    let payload = &record[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len];
    let stored = word(record, RECORD_HEADER_LEN + len);
    match one_bit_off(payload, stored) {
        Some(j) => !zeros_to_end(pos + RECORD_HEADER_LEN + j),
        None => false,
    }
}

/// Whether any intact record starts anywhere in `buf` (a WAL file without
/// its header). A file whose header is damaged but that holds no intact
/// record was created and never (fully) written: a torn tail, not damage.
pub fn has_intact_record(buf: &[u8]) -> bool {
    intact_record_after(buf, 0, None)
}

/// Walks the records of `buf` (a WAL file without its header; offsets are
/// relative to `buf`), calling `f(offset, payload)` for each valid one.
pub fn scan(buf: &[u8], mut f: impl FnMut(usize, &[u8])) -> Tail {
    let mut pos = 0;
    let mut last_seqno = None;
    while pos < buf.len() {
        match check_record(&buf[pos..], pos) {
            Ok(end) => {
                let payload = &buf[pos + RECORD_HEADER_LEN..pos + end - RECORD_TRAILER_LEN];
                if let Some(first) = payload.get(..8) {
                    last_seqno = Some(u64::from_le_bytes(first.try_into().unwrap_or_default()));
                }
                f(pos, payload);
                pos += end;
            }
            Err((true, _)) => return Tail::Torn { offset: pos },
            Err((false, e)) => {
                let damage = intact_record_after(buf, pos + 1, last_seqno) || is_bit_rot(buf, pos);
                return match damage {
                    true => Tail::Corrupt(e),
                    false => Tail::Torn { offset: pos },
                };
            }
        }
    }
    Tail::Clean
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{encode_int_key, internal_key};

    fn records(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut key = Vec::new();
        for i in 0..n {
            let mut b = BatchEncoder::default();
            internal_key(1, &encode_int_key(i as i64), 5, 6, &mut key);
            b.put(EntryKind::Version, &key, b"row");
            b.put(EntryKind::Tombstone, &key, b"");
            b.write_record(i * 2, &mut out);
        }
        out
    }

    #[test]
    fn round_trip_and_clean_tail() {
        let buf = records(5);
        let mut seen = Vec::new();
        assert_eq!(
            scan(&buf, |_, p| seen.push(decode_batch(p).unwrap().first_seqno)),
            Tail::Clean
        );
        assert_eq!(seen, vec![0, 2, 4, 6, 8]);
        assert_eq!(decode_header(&encode_header(42)), Ok(42));
    }

    #[test]
    fn every_truncation_is_a_torn_tail_at_a_record_start() {
        let buf = records(3);
        let one = buf.len() / 3;
        for cut in 0..buf.len() {
            let mut n = 0;
            match scan(&buf[..cut], |_, _| n += 1) {
                Tail::Clean => assert_eq!(cut % one, 0),
                Tail::Torn { offset } => {
                    assert_eq!(offset, (cut / one) * one);
                    assert_eq!(n, cut / one);
                }
                Tail::Corrupt(e) => panic!("cut {cut}: {e}"),
            }
        }
    }

    #[test]
    fn zero_filled_last_record_is_torn() {
        let mut buf = records(2);
        let one = buf.len() / 2;
        let len = buf.len();
        buf[len - 40..].fill(0);
        let mut n = 0;
        assert_eq!(scan(&buf, |_, _| n += 1), Tail::Torn { offset: one });
        assert_eq!(n, 1);
        buf[one..].fill(0);
        assert_eq!(scan(&buf, |_, _| ()), Tail::Torn { offset: one });
    }

    /// Zeros or garbage from any offset within the last records to the end
    /// of the file: a torn tail at the record they start in, every record
    /// before it kept. (Issue 16: zeros starting inside an earlier record
    /// and running to the end were refused as corruption.)
    #[test]
    fn damage_running_to_the_end_is_a_torn_tail_wherever_it_starts() {
        let buf = records(4);
        let one = buf.len() / 4;
        for from in one..buf.len() {
            for fill in [0u8, 0xa5] {
                let mut bad = buf.clone();
                bad[from..]
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, b)| *b = if fill == 0 { 0 } else { fill ^ (i as u8) });
                let mut n = 0;
                let tail = scan(&bad, |_, p| {
                    decode_batch(p).unwrap();
                    n += 1
                });
                let at = from / one * one;
                // Bytes equal to the original ones may leave the record whole.
                if bad[at..at + one] == buf[at..at + one] {
                    continue;
                }
                assert_eq!(
                    tail,
                    Tail::Torn { offset: at },
                    "damage from {from}, fill {fill}"
                );
                assert_eq!(n, at / one);
            }
            // A zero-filled extension after a cut: same.
            let mut cut = buf[..from].to_vec();
            cut.resize(buf.len() + 100, 0);
            let tail = scan(&cut, |_, _| ());
            assert!(
                matches!(tail, Tail::Torn { offset } if offset == from / one * one || offset == from),
                "cut at {from}: {tail:?}"
            );
        }
    }

    #[test]
    fn one_bit_off_finds_every_single_flipped_bit() {
        let msg: Vec<u8> = (0..300u32).map(|i| (i * 37 + 11) as u8).collect();
        let crc = crate::checksum(&[&msg]);
        assert_eq!(one_bit_off(&msg, crc), None, "no flip: nothing to find");
        for j in 0..msg.len() {
            for b in 0..8 {
                let mut bad = msg.clone();
                bad[j] ^= 1 << b;
                assert_eq!(one_bit_off(&bad, crc), Some(j), "byte {j} bit {b}");
            }
        }
        for b in 0..32 {
            assert_eq!(one_bit_off(&msg, crc ^ (1 << b)), Some(300));
        }
        let mut two = msg.clone();
        two[3] ^= 1;
        two[200] ^= 4;
        assert_eq!(one_bit_off(&two, crc), None);
    }

    #[test]
    fn damage_followed_by_an_intact_record_is_corruption() {
        let buf = records(4);
        let one = buf.len() / 4;
        // Every flip before the last record; zeros over a whole middle record.
        for at in 0..3 * one {
            let mut bad = buf.clone();
            bad[at] ^= 0x04;
            let mut payloads = Vec::new();
            match scan(&bad, |_, p| payloads.push(p.to_vec())) {
                Tail::Corrupt(e) => assert_eq!(e.offset(), at / one * one, "flip at {at}"),
                other => panic!("flip at {at} taken for {other:?}"),
            }
            for p in payloads {
                decode_batch(&p).unwrap();
            }
        }
        let mut bad = buf.clone();
        bad[one..2 * one].fill(0);
        match scan(&bad, |_, _| ()) {
            Tail::Corrupt(e) => assert_eq!(e.offset(), one),
            other => panic!("{other:?}"),
        }
        // A single flipped bit in the last record is bit rot, not a torn
        // append, wherever it is; two are taken for a torn tail.
        for at in 3 * one..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[at] ^= 1 << bit;
                match scan(&bad, |_, _| ()) {
                    Tail::Corrupt(e) => assert_eq!(e.offset(), 3 * one, "flip at {at}.{bit}"),
                    other => assert!(
                        bad[at..].iter().all(|&b| b == 0),
                        "flip at {at}.{bit}: {other:?}"
                    ),
                }
            }
        }
        let mut bad = buf.clone();
        bad[3 * one + 10] ^= 1;
        bad[3 * one + 12] ^= 1;
        assert_eq!(scan(&bad, |_, _| ()), Tail::Torn { offset: 3 * one });
    }
}
