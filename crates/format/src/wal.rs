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
//! is never trusted, and the payload's checksum comes *after* the payload,
//! so a record whose end never reached the disk ends in a zero checksum.
//! [`scan`] tells a torn tail from damage:
//!
//! - fewer bytes left than a record header, or a valid header whose record
//!   runs past the end of the file, or a header of zero bytes followed only
//!   by zero bytes: torn (a crash during an append; such a record was never
//!   acknowledged);
//! - the file's last record, whole, whose stored payload checksum is 0 and
//!   does not match: torn (the file system extended the file but had not
//!   written its end, which reads as zeros);
//! - anything else that fails a check: corruption, reported with its offset.

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
    let magic = r.array::<8>()?;
    if magic != MAGIC {
        return Err(DecodeError::BadMagic {
            what: "wal header",
            offset: 0,
            got: u64::from_le_bytes(magic),
        });
    }
    let version = r.u32()?;
    let number = r.u64()?;
    let crc = r.u32()?;
    let got = super::checksum(&[&buf[..20]]);
    if got != crc {
        return Err(DecodeError::ChecksumMismatch {
            what: "wal header",
            offset: 0,
            expected: crc,
            got,
        });
    }
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
    /// The file ends inside a record, or in a last record that is all zero
    /// bytes: what a crash during an append leaves. Bytes from `offset` on
    /// are to be dropped.
    Torn { offset: usize },
    /// A complete record fails its checksum or is malformed, with bytes
    /// after it (or non-zero bytes in it): damage, not a torn append.
    Corrupt(DecodeError),
}

/// Walks the records of `buf` (a WAL file without its header; offsets are
/// relative to `buf`), calling `f(offset, payload)` for each valid one.
pub fn scan(buf: &[u8], mut f: impl FnMut(usize, &[u8])) -> Tail {
    let mut pos = 0;
    while pos < buf.len() {
        let rest = &buf[pos..];
        let Some(header) = rest.get(..RECORD_HEADER_LEN) else {
            return Tail::Torn { offset: pos };
        };
        let word = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let (len, header_crc) = (word(header, 0) as usize, word(header, 4));
        let got = super::checksum(&[&header[..4]]);
        if got != header_crc {
            if rest.iter().all(|&b| b == 0) {
                return Tail::Torn { offset: pos };
            }
            let what = "wal record header";
            return Tail::Corrupt(DecodeError::ChecksumMismatch {
                what,
                offset: pos,
                expected: header_crc,
                got,
            });
        }
        if len > MAX_RECORD_LEN {
            return Tail::Corrupt(DecodeError::invalid(
                "wal record",
                pos,
                "record length over the limit",
            ));
        }
        let end = RECORD_HEADER_LEN + len + RECORD_TRAILER_LEN;
        let Some(record) = rest.get(..end) else {
            return Tail::Torn { offset: pos };
        };
        let payload = &record[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len];
        let stored = word(record, RECORD_HEADER_LEN + len);
        let got = super::checksum(&[payload]);
        if got != stored {
            if stored == 0 && rest.len() == end {
                return Tail::Torn { offset: pos };
            }
            let what = "wal record";
            return Tail::Corrupt(DecodeError::ChecksumMismatch {
                what,
                offset: pos,
                expected: stored,
                got,
            });
        }
        f(pos, payload);
        pos += end;
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

    #[test]
    fn a_flipped_bit_is_corruption_not_a_tail() {
        let buf = records(3);
        let one = buf.len() / 3;
        for at in 0..buf.len() {
            let mut bad = buf.clone();
            bad[at] ^= 0x04;
            let mut payloads = Vec::new();
            let tail = scan(&bad, |_, p| payloads.push(p.to_vec()));
            match tail {
                Tail::Corrupt(e) => assert_eq!(e.offset(), at / one * one, "flip at {at}"),
                other => panic!("flip at {at} taken for {other:?}"),
            }
            for p in payloads {
                decode_batch(&p).unwrap();
            }
        }
    }
}
